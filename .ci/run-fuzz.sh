#!/usr/bin/env bash
# Fuzzing smoke run (called by .ci/run): the GGUF reader under libFuzzer with ASan + UBSan for a
# bounded time (LOWBIT_FUZZ_SECONDS, default 30), starting from tests/fuzz/corpus.
set -euo pipefail
cd "$(dirname "$0")/.."
cxx=clang++-16
command -v "$cxx" >/dev/null || cxx=clang++
cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" \
  -DLOWBIT_BUILD_FUZZERS=ON -DLOWBIT_BUILD_EXAMPLES=OFF -DLOWBIT_FUZZ_SECONDS="${LOWBIT_FUZZ_SECONDS:-30}" >/dev/null
cmake --build build/fuzz --target fuzz_gguf_reader
ctest --test-dir build/fuzz -R '^fuzz_' --output-on-failure
