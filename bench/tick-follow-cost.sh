#!/bin/bash
# Instructions a round of bench/tick-follow-cost.mjs (seven process.nextTick calls inside and after
# a call) under callgrind: the whole process at LOW and HIGH rounds, the difference divided by
# HIGH-LOW. `d` is the call context following the ticks, `plain` node alone.
#   bench/tick-follow-cost.sh [MODE...] (default: plain d)   CHECKOUT=<built checkout> for its dist/ (a before)
# callgrind counts instructions, not time: it can run on a busy machine, outside the bench lock.
set -u
here=$(cd "$(dirname "$0")" && pwd)
low=${LOW:-20000} high=${HIGH:-60000}
modes=("$@"); [ ${#modes[@]} -gt 0 ] || modes=(plain d)
total() {
  local d; d=$(mktemp -d)
  valgrind --tool=callgrind --callgrind-out-file="$d/cg.%p" node "$here/tick-follow-cost.mjs" "$1" "$2" ${CHECKOUT:-} 2>&1 >/dev/null | awk '/Collected/ {print $NF}'
  rm -rf "$d"
}
for mode in "${modes[@]}"; do
  a=$(total "$mode" "$low"); b=$(total "$mode" "$high")
  echo "$mode: $(( (b - a) / (high - low) )) instructions a round ($a at $low rounds, $b at $high)"
done
