#!/usr/bin/env bash
# A binary built for baseline x86-64 (no -march) must still reach the AVX2 / AVX-512 kernels
# through runtime dispatch, and give the scalar path's results there.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(uname -m)" = x86_64 ] || { echo "not x86-64: baseline dispatch check not applicable"; exit 0; }
cmake -S . -B build/baseline -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-O2 -DLOWBIT_BUILD_EXAMPLES=OFF >/dev/null
cmake --build build/baseline -j2 --target test_backends test_golden
build/baseline/tests/test_backends
build/baseline/tests/test_golden
