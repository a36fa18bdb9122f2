#!/usr/bin/env bash
# Benchmark smoke run: the harness builds and runs (numbers from CI machines are not kept).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build/bench -G Ninja -DCMAKE_BUILD_TYPE=Release -DLOWBIT_BUILD_BENCH=ON -DLOWBIT_BUILD_TESTS=OFF \
  -DLOWBIT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/bench -j2 --target lowbit_bench
build/bench/bench/lowbit_bench --quick
