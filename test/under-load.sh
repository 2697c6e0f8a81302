#!/bin/bash
# Runs a command (a whole `npx vitest run`, a file five times) beside stress-ng CPU hogs that hold
# the 1-minute load average near a target, and logs the load: issue 31's "the suite passes at a
# load average of 10 on 2 cores". Every 30 s it starts one more `stress-ng --cpu 1` while the load
# is under TARGET-1, stops its newest while it is over TARGET+1 (on a machine others share, their
# work may keep it over the target with none), and writes the time, /proc/loadavg and its count to
# OUTDIR/load.log; the command's output goes to OUTDIR/out.log. It kills only the stress-ng
# processes it started. A whole run belongs under the suite lock:
#   flock /work/coord/suite.lock test/under-load.sh /tmp/run1 10 2 -- timeout 840 npx vitest run
# Usage: test/under-load.sh OUTDIR TARGET FIRST_HOGS -- COMMAND...
set -u
if [ $# -lt 4 ] || [ "$4" != "--" ]; then
  echo "usage: $0 OUTDIR TARGET FIRST_HOGS -- COMMAND..." >&2
  exit 2
fi
out=$1 target=$2 first=$3
shift 4
mkdir -p "$out"
hogs=()
start_hog() { stress-ng --cpu 1 --timeout 1800 -q & hogs+=($!); }
for ((i = 0; i < first; i++)); do start_hog; done
t0=$(date +%s)
echo "$(date -u +%T) start target=$target hogs=$first $(cat /proc/loadavg)" >>"$out/load.log"
"$@" >"$out/out.log" 2>&1 &
cmd=$!
while kill -0 "$cmd" 2>/dev/null; do
  for ((s = 0; s < 30; s++)); do kill -0 "$cmd" 2>/dev/null || break; sleep 1; done
  load=$(cut -d' ' -f1 /proc/loadavg)
  step=$(awk -v l="$load" -v t="$target" 'BEGIN { print (l < t - 1) ? "up" : (l > t + 1) ? "down" : "hold" }')
  if [ "$step" = up ] && [ ${#hogs[@]} -lt 10 ]; then
    start_hog
  elif [ "$step" = down ] && [ ${#hogs[@]} -gt 0 ]; then
    kill "${hogs[-1]}"
    unset 'hogs[-1]'
  fi
  echo "$(date -u +%T) +$(($(date +%s) - t0))s $(cat /proc/loadavg) hogs=${#hogs[@]} $step" >>"$out/load.log"
done
wait "$cmd"
rc=$?
for p in "${hogs[@]}"; do kill "$p" 2>/dev/null; done
wait 2>/dev/null
echo "$(date -u +%T) end rc=$rc wall=$(($(date +%s) - t0))s $(cat /proc/loadavg)" >>"$out/load.log"
exit "$rc"
