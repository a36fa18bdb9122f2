#!/usr/bin/env bash
# Every public header compiles on its own (with g++ and clang++), so users can include any one.
set -euo pipefail
cd "$(dirname "$0")/.."
check() { # compiler header
  if ! printf '#include <%s>\n' "$2" | "$1" -x c++ -std=c++20 -fsyntax-only -Wall -Wextra -Iinclude - 2> "/tmp/lowbit-hdr-$$-${2//\//_}.err"; then
    echo "not self-contained with $1: $2"; head -5 "/tmp/lowbit-hdr-$$-${2//\//_}.err"; return 1
  fi
  rm -f "/tmp/lowbit-hdr-$$-${2//\//_}.err"
}
export -f check
headers=$(cd include && find lowbit -name '*.hpp' | sort)
status=0
for cxx in g++ clang++; do
  printf '%s\n' $headers | xargs -P 2 -I{} bash -c "check $cxx {}" || status=1
done
echo "headers checked: $(printf '%s\n' $headers | wc -l) with g++ and clang++"
exit $status
