#!/bin/bash
# Instructions a round of bench/await-cost.mjs (two awaits, two async calls) under callgrind: the
# whole process at LOW and HIGH rounds, the difference divided by HIGH-LOW, for each set of what
# -d turns on in V8 (context promise hooks, an enabled debugger, both).
#   bench/await-cost.sh [MODES...] (default: plain hooks debug none hooks,debug)
# callgrind counts instructions, not time: it can run on a busy machine (under /work/coord/heavy here).
set -u
here=$(cd "$(dirname "$0")" && pwd)
low=${LOW:-10000} high=${HIGH:-40000}
modes=("$@"); [ ${#modes[@]} -gt 0 ] || modes=(plain hooks debug none hooks,debug)
total() {
  local d; d=$(mktemp -d)
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.%p" node "$here/await-cost.mjs" "$1" "$2" 2>&1 >/dev/null | awk '/Collected/ {print $NF}'
  rm -rf "$d"
}
for mode in "${modes[@]}"; do
  a=$(total "$mode" "$low"); b=$(total "$mode" "$high")
  echo "$mode: $(( (b - a) / (high - low) )) instructions a round ($a at $low rounds, $b at $high)"
done
