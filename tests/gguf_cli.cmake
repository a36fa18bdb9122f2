# GGUF tests: the reference tiny model (stored compressed: as raw F32 it is just over the size a
# repository file should have) unpacked into the build tree, and runs of the lowbit CLI.

set(LOWBIT_GGUF_DATA ${CMAKE_CURRENT_SOURCE_DIR}/data/gguf)
set(LOWBIT_GGUF_UNPACKED ${CMAKE_CURRENT_BINARY_DIR}/gguf-data)
set(LOWBIT_TINY_LLAMA ${LOWBIT_GGUF_UNPACKED}/tiny-llama-f32.gguf)
set(_lowbit_tiny_archive ${LOWBIT_GGUF_DATA}/tiny-llama-f32.gguf.tar.xz)
if(NOT EXISTS ${LOWBIT_TINY_LLAMA} OR ${_lowbit_tiny_archive} IS_NEWER_THAN ${LOWBIT_TINY_LLAMA})
  file(ARCHIVE_EXTRACT INPUT ${_lowbit_tiny_archive} DESTINATION ${LOWBIT_GGUF_UNPACKED})
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${_lowbit_tiny_archive})

foreach(t IN ITEMS test_gguf_reader test_gguf_writer test_gguf_malformed test_gguf_quantize)
  if(TARGET ${t})
    target_compile_definitions(${t} PRIVATE LOWBIT_GGUF_TINY_LLAMA="${LOWBIT_TINY_LLAMA}")
  endif()
endforeach()

# Runs of the CLI: exit 0 on success, 1 on a bad or unreadable file, 2 on a usage error; messages
# on stderr. Each test is one call of tests/gguf/cli_check.cmake.
if(TARGET lowbit_cli)
  set(_cli_dir ${CMAKE_CURRENT_BINARY_DIR}/gguf-cli)
  file(MAKE_DIRECTORY ${_cli_dir})
  file(TOUCH ${_cli_dir}/empty.gguf)
  set(_lowbit $<TARGET_FILE:lowbit_cli>)
  set(_all ${LOWBIT_GGUF_DATA}/all-types.gguf)

  function(lowbit_gguf_cli name)
    cmake_parse_arguments(A "" "CMD;PRE;RC;STDOUT;STDERR;SAME;ABSENT" "" ${ARGN})
    set(defs -DCMD=${A_CMD} -DEXPECT_RC=${A_RC})
    foreach(opt PRE STDOUT STDERR SAME ABSENT)
      if(DEFINED A_${opt})
        list(APPEND defs "-D${opt}=${A_${opt}}")
      endif()
    endforeach()
    add_test(NAME gguf_cli_${name} COMMAND ${CMAKE_COMMAND} ${defs} -P ${CMAKE_CURRENT_SOURCE_DIR}/gguf/cli_check.cmake)
  endfunction()

  # info
  lowbit_gguf_cli(info_all_types RC 0 CMD "${_lowbit}|info|${_all}"
    STDOUT "tokenizer.ggml.tokens +\\[string\\] += \\[\"<s>\", \"</s>\", \"\", \"été\"\\].*q.q4_K +q4_K +512 x 4 +1152 .*average: [0-9.]+ bits per weight")
  lowbit_gguf_cli(info_aligned RC 0 CMD "${_lowbit}|info|${LOWBIT_GGUF_DATA}/aligned-64.gguf"
    STDOUT "alignment 64.*q8_0 +1 +480 +510 +8.5000")
  lowbit_gguf_cli(info_tiny_llama RC 0 CMD "${_lowbit}|info|${LOWBIT_TINY_LLAMA}"
    STDOUT "general.architecture +string += \"llama\".*llama.block_count +u32 += 2.*f32 +21 +2098432 +8393728 +32.0000")
  lowbit_gguf_cli(info_missing RC 1 CMD "${_lowbit}|info|${_cli_dir}/no-such-file.gguf" STDERR "cannot open")
  lowbit_gguf_cli(info_not_gguf RC 1 CMD "${_lowbit}|info|${LOWBIT_GGUF_DATA}/README.md" STDERR "not a GGUF file.*at byte 0")
  lowbit_gguf_cli(info_empty RC 1 CMD "${_lowbit}|info|${_cli_dir}/empty.gguf" STDERR "truncated")
  lowbit_gguf_cli(info_usage RC 2 CMD "${_lowbit}|info" STDERR "usage: lowbit info")

  # dequantize: q8_0 decodes to the bytes of the reference's own dequantization
  lowbit_gguf_cli(dequantize_q8_0 RC 0
    PRE "${_lowbit}|dequantize|${_all}|deq.q8_0|${_cli_dir}/deq.q8_0.f32"
    CMD "${_lowbit}|dequantize|${_all}|q.q8_0|${_cli_dir}/q.q8_0.f32"
    SAME "${_cli_dir}/q.q8_0.f32|${_cli_dir}/deq.q8_0.f32")
  lowbit_gguf_cli(dequantize_no_tensor RC 1 CMD "${_lowbit}|dequantize|${_all}|nope|${_cli_dir}/nope.f32"
    STDERR "no tensor named 'nope'" ABSENT "${_cli_dir}/nope.f32")
  lowbit_gguf_cli(dequantize_usage RC 2 CMD "${_lowbit}|dequantize|${_all}|q.q8_0" STDERR "usage: lowbit dequantize")

  # quantize
  lowbit_gguf_cli(quantize_tiny_q8_0 RC 0
    PRE "${_lowbit}|quantize|${LOWBIT_TINY_LLAMA}|${_cli_dir}/tiny-q8_0.gguf|q8_0|--threads|2"
    CMD "${_lowbit}|info|${_cli_dir}/tiny-q8_0.gguf"
    STDOUT "general.file_type +u32 += 7.*blk.0.attn_norm.weight +f32 +256 .*blk.0.ffn_down.weight +q8_0 +768 x 256 +208896.*q8_0 +16 +2097152 +2228224 +8.5000")
  lowbit_gguf_cli(quantize_report RC 0 CMD "${_lowbit}|quantize|${LOWBIT_TINY_LLAMA}|${_cli_dir}/tiny-q4_0.gguf|Q4_0|--threads=1"
    STDOUT "21 tensors \\(5 f32, 16 q4_0\\)")
  lowbit_gguf_cli(quantize_bad_input RC 1 CMD "${_lowbit}|quantize|${LOWBIT_GGUF_DATA}/README.md|${_cli_dir}/never.gguf|q8_0"
    STDERR "not a GGUF file" ABSENT "${_cli_dir}/never.gguf")
  lowbit_gguf_cli(quantize_unknown_type RC 2 CMD "${_lowbit}|quantize|${_all}|${_cli_dir}/x.gguf|q9_9" STDERR "unknown type 'q9_9'")
  lowbit_gguf_cli(quantize_activation_type RC 2 CMD "${_lowbit}|quantize|${_all}|${_cli_dir}/x.gguf|q8_1" STDERR "cannot quantize weights to q8_1")
  lowbit_gguf_cli(quantize_bad_threads RC 2 CMD "${_lowbit}|quantize|${_all}|${_cli_dir}/x.gguf|q8_0|--threads|zero" STDERR "--threads")
  lowbit_gguf_cli(quantize_usage RC 2 CMD "${_lowbit}|quantize|${_all}" STDERR "usage: lowbit quantize")
endif()
