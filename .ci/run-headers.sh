#!/usr/bin/env bash
# Every public header compiles on its own (with g++ and clang++), so users can include any one.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
count=0
for cxx in g++ clang++; do
  for h in $(cd include && find lowbit -name '*.hpp' | sort); do
    printf '#include <%s>\n' "$h" > "$tmp/h.cpp"
    if ! "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Iinclude "$tmp/h.cpp" 2> "$tmp/err"; then
      echo "not self-contained with $cxx: $h"; head -5 "$tmp/err"; fail=1
    fi
    count=$((count + 1))
  done
done
echo "headers checked: $count"
exit $fail
