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
