# Footprint estimator: the tiny model's path (unpacked by gguf_cli.cmake, which sorts first) for
# test_estimate, and runs of `lowbit footprint`.
if(TARGET test_estimate)
  target_compile_definitions(test_estimate PRIVATE
    LOWBIT_GGUF_TINY_LLAMA="${CMAKE_CURRENT_BINARY_DIR}/gguf-data/tiny-llama-f32.gguf")
endif()

if(TARGET lowbit_cli AND TARGET example_footprint)
  add_test(NAME example_footprint COMMAND example_footprint)
  # The published Llama-3.1-8B Q4_K_M file holds 4,912,898,304 bytes of tensor data.
  add_test(NAME cli_footprint_named COMMAND lowbit_cli footprint llama3_1_8b --preset Q4_K_M --memory 8GiB)
  set_tests_properties(cli_footprint_named PROPERTIES PASS_REGULAR_EXPRESSION "Q4_K_M +4912898304 .* yes")
  add_test(NAME cli_footprint_file COMMAND lowbit_cli footprint ${CMAKE_CURRENT_BINARY_DIR}/gguf-data/tiny-llama-f32.gguf --memory 1GiB)
  set_tests_properties(cli_footprint_file PROPERTIES PASS_REGULAR_EXPRESSION "recommended \\(balanced")
  add_test(NAME cli_footprint_bad_memory COMMAND lowbit_cli footprint llama2_7b --memory 12XB)
  set_tests_properties(cli_footprint_bad_memory PROPERTIES WILL_FAIL TRUE)
endif()

# `lowbit quantize` with a preset writes what `lowbit footprint` predicts, through the CLI.
if(TARGET lowbit_cli)
  foreach(p Q4_K_M Q3_K_M Q5_K_S preset:Q2_K preset:Q6_K preset:Q4_0 preset:F16)
    string(REPLACE ":" "_" tag ${p})
    add_test(NAME cli_quantize_preset_${tag} COMMAND ${CMAKE_COMMAND} -DLOWBIT=$<TARGET_FILE:lowbit_cli>
      -DIN=${CMAKE_CURRENT_BINARY_DIR}/gguf-data/tiny-llama-f32.gguf
      -DOUT=${CMAKE_CURRENT_BINARY_DIR}/gguf-cli/tiny-preset-${tag}.gguf -DPRESET=${p}
      -P ${CMAKE_CURRENT_SOURCE_DIR}/estimate/quantize_matches_footprint.cmake)
  endforeach()
endif()
