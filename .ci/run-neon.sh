#!/usr/bin/env bash
# The NEON backend: cross-built for aarch64 and run under qemu-user (the toolchain file sets the
# emulator, so ctest runs the test programs through it).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/neon -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/neon -j2
# install_consumer builds and runs a host program: it has no meaning in a cross build.
ctest --test-dir build/neon --output-on-failure -E install_consumer
