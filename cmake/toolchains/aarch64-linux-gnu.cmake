# Cross build for aarch64 Linux with the Debian cross compiler (g++-aarch64-linux-gnu); run the
# results under qemu-user:  qemu-aarch64 -L /usr/aarch64-linux-gnu <program>
# CMAKE_CROSSCOMPILING_EMULATOR makes ctest do that by itself.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(LOWBIT_CROSS_PREFIX aarch64-linux-gnu- CACHE STRING "prefix of the cross tools")
set(CMAKE_C_COMPILER ${LOWBIT_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${LOWBIT_CROSS_PREFIX}g++)

set(LOWBIT_CROSS_SYSROOT /usr/aarch64-linux-gnu CACHE PATH "the target's library root, for qemu -L")
set(CMAKE_FIND_ROOT_PATH ${LOWBIT_CROSS_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
# Header-only dependencies of the tests (doctest) may come from the build machine.
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

find_program(LOWBIT_QEMU_AARCH64 qemu-aarch64)
if(LOWBIT_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${LOWBIT_QEMU_AARCH64} -L ${LOWBIT_CROSS_SYSROOT})
endif()
