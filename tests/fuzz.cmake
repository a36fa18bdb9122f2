# libFuzzer targets (clang only, -DLOWBIT_BUILD_FUZZERS=ON) and a bounded CTest run of each.
#   ctest -R fuzz_                 runs each target for LOWBIT_FUZZ_SECONDS (default 60)
# New inputs go to <build>/tests/fuzz-corpus; crashes to <build>/tests/fuzz-artifacts.
if(LOWBIT_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(WARNING "LOWBIT_BUILD_FUZZERS needs clang (libFuzzer); ${CMAKE_CXX_COMPILER_ID} builds no fuzz targets")
  else()
    set(LOWBIT_FUZZ_SECONDS 60 CACHE STRING "Seconds each fuzz target runs under CTest")
    set(_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g)
    foreach(name IN ITEMS gguf_reader)
      add_executable(fuzz_${name} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/${name}_fuzz.cpp)
      target_link_libraries(fuzz_${name} PRIVATE lowbit::lowbit)
      target_compile_options(fuzz_${name} PRIVATE ${_fuzz_flags})
      target_link_options(fuzz_${name} PRIVATE ${_fuzz_flags})
      lowbit_project_options(fuzz_${name})
      set(_corpus ${CMAKE_CURRENT_BINARY_DIR}/fuzz-corpus/${name})
      file(MAKE_DIRECTORY ${_corpus} ${CMAKE_CURRENT_BINARY_DIR}/fuzz-artifacts)
      add_test(NAME fuzz_${name}
        COMMAND fuzz_${name} -max_total_time=${LOWBIT_FUZZ_SECONDS} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                -dict=${CMAKE_CURRENT_SOURCE_DIR}/fuzz/gguf.dict
                -artifact_prefix=${CMAKE_CURRENT_BINARY_DIR}/fuzz-artifacts/
                ${_corpus} ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/gguf)
      set_tests_properties(fuzz_${name} PROPERTIES TIMEOUT 600)
    endforeach()
  endif()
endif()
