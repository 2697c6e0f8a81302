#!/bin/bash
# Instructions of one throw at a hot site (bench/throw-cost.mjs) under callgrind, per mode, and with
# TOP=N the N largest functions by self instructions a throw (JIT code named through node's perf map).
#   bench/throw-cost.sh [N] [MODE...]     modes: plain d d-report (default: all three), d-off d-off-made cap cap-stacks; N throws (20000); TWO=1: a helper with two throws
# SCRIPT=bench/throw-cost-session.mjs runs that script's modes instead (a bare session, other mutes).
# KEEP=DIR keeps each mode's callgrind file and perf map as DIR/MODE.cg and DIR/MODE.map (for
# callgrind_annotate --inclusive=yes; node's JIT code is named through the map by callgrind-functions.js).
# Needs valgrind and a built checkout (npm run build). callgrind counts instructions, not time: it
# can run on a busy machine, outside the bench lock.
set -u
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/.." && pwd)
n=${1:-20000}; shift || true
modes=("$@"); [ ${#modes[@]} -gt 0 ] || modes=(plain d d-report)
for mode in "${modes[@]}"; do
  d=$(mktemp -d)
  coproc P { exec valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$d/cg.%p" node --perf-basic-prof "${SCRIPT:-$here/throw-cost.mjs}" "$mode" "$n" 2>/dev/null; }
  pid=$P_PID
  read -r _ <&"${P[0]}"
  callgrind_control -z "$pid" >/dev/null 2>&1
  echo go >&"${P[1]}"
  read -r line <&"${P[0]}"
  callgrind_control -d "$pid" >/dev/null 2>&1
  cp "/tmp/perf-$pid.map" "$d/perf.map"
  echo go >&"${P[1]}"
  wait "$pid" 2>/dev/null
  rm -f "/tmp/perf-$pid.map"
  echo "$line"
  node -e "
    const [file, map, n, top] = process.argv.slice(1);
    import('$root/dist/bench/callgrind-functions.js').then(({ readPerfMap, selfByFunction }) => {
      const own = selfByFunction(file, readPerfMap(map));
      let total = 0;
      for (const v of own.values()) total += v;
      console.log('  ' + Math.round(total / n) + ' instructions a throw');
      for (const [name, v] of [...own].sort((a, b) => b[1] - a[1]).slice(0, Number(top))) console.log(String(Math.round(v / n)).padStart(10) + '  ' + name.slice(0, 140));
    });" "$(ls "$d"/cg.*.1)" "$d/perf.map" "$n" "${TOP:-0}"
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$(ls "$d"/cg.*.1)" "$KEEP/$mode.cg"; cp "$d/perf.map" "$KEEP/$mode.map"; fi
  rm -rf "$d"
done
