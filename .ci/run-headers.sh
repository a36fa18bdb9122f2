#!/usr/bin/env bash
# Every public header compiles on its own (with g++ and clang++), so users can include any one.
set -euo pipefail
cd "$(dirname "$0")/.."
LOWBIT_HDR_TMP=$(mktemp -d)
export LOWBIT_HDR_TMP
trap 'rm -rf "$LOWBIT_HDR_TMP"' EXIT
check() { # compiler header
  local err="$LOWBIT_HDR_TMP/${1}-${2//\//_}.err"
  if ! printf '#include <%s>\n' "$2" | "$1" -x c++ -std=c++20 -fsyntax-only -Wall -Wextra -Iinclude - 2> "$err"; then
    echo "not self-contained with $1: $2"; head -5 "$err"; return 1
  fi
}
export -f check
headers=$(cd include && find lowbit -name '*.hpp' | sort)
status=0
for cxx in g++ clang++; do
  printf '%s\n' $headers | xargs -P 2 -I{} bash -c "check $cxx {}" || status=1
done
echo "headers checked: $(printf '%s\n' $headers | wc -l) with g++ and clang++"
# Every kernel instantiated (the runtime table), unoptimised and optimised, as in a user's build:
# at -O0 an intrinsic's immediate must be a constant expression as written, and GCC's
# uninitialised-value warnings about AVX-512 intrinsics appear only once the code is inlined.
for cxx in g++ clang++; do
  for opt in -O0 -O2; do
    if ! "$cxx" -std=c++20 "$opt" -Wall -Wextra -Werror -Iinclude -DLOWBIT_SEPARATE_RUNTIME -c tests/runtime_instance.cpp -o /dev/null 2> "$LOWBIT_HDR_TMP/instance.err"; then
      echo "the kernels do not compile cleanly with $cxx $opt:"; grep -m5 -E 'warning|error' "$LOWBIT_HDR_TMP/instance.err"; status=1
    fi
  done
done
echo "kernels instantiated without warnings at -O0 and -O2 with g++ and clang++"
exit $status
