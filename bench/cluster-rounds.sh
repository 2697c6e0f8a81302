#!/bin/bash
# Cluster servers side by side, round by round: for each LABEL=COMMAND (started once from the
# repository root, `@PORT@` replaced by its port), every round runs `wrk -t1 -c10` for SECONDS and
# prints its req/s, the CPU of the whole cluster a request (every thread of the primary and of each
# worker, /proc/PID/task/*/stat, 10 ms ticks), each process's ticks (primary first) and how wrk's
# connections sat on the workers: sampled every 50 ms (bench/connection-split.mjs), the split one
# second in, the busier worker's mean share of the connections over the samples with all of them
# up (`share`: 0.50 is even, 1.00 one worker holding all) and the part of those samples in which a
# worker held at most one (`min<=1`). So SECONDS of 2 or more.
# With the shared socket (node:cluster's SCHED_NONE, tspuma's model) the kernel hands a burst of
# new connections to whichever worker wakes first: a round where one worker holds all ten serves
# on one process. Single-process servers work too (no workers column).
#   bench/cluster-rounds.sh ROUNDS SECONDS LABEL=COMMAND...
# e.g. bench/cluster-rounds.sh 6 3 raw="env WORKERS=2 PORT=@PORT@ node ../shared/bench/node-http.js" \
#        tspuma="node dist/server/cli.js -q -e production -w 2 -b tcp://127.0.0.1:@PORT@ examples/hello.ts"
# Env: BASEPORT (first port, default 9760), WARM (warm-up seconds a server, default 2). Needs wrk,
# ss and pgrep. Run it under the bench lock on a shared machine.
set -u
[ $# -ge 3 ] || { sed -n '2,15p' "$0"; exit 2; }
R=$1 D=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d); labels=(); ports=(); spids=()
cleanup() {
  for p in "${spids[@]}"; do kill "$p" 2>/dev/null; done
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/start-servers.sh"
start_servers "${BASEPORT:-9760}" "$@"
for p in "${ports[@]}"; do wrk -t1 -c10 -d"${WARM:-2}"s "http://127.0.0.1:$p/" >/dev/null; done
# utime + stime of every thread of a process (clock ticks)
ticks() { local t=0 s; for s in /proc/"$1"/task/*/stat; do set -- $(sed 's/.*) //' "$s" 2>/dev/null); t=$((t + ${12:-0} + ${13:-0})); done; echo $t; }
workers() { pgrep -P "$1" | tr '\n' ' '; }
N=${#labels[@]} tck=$(getconf CLK_TCK)
for r in $(seq 1 "$R"); do
  for k in $(seq 0 $((N - 1))); do
    i=$(( (k + r) % N )) pid=${spids[$i]} p=${ports[$i]}
    kids=$(workers "$pid"); all="$pid $kids"
    declare -A t0=(); for q in $all; do t0[$q]=$(ticks "$q"); done
    wrk -t1 -c10 -d"${D}"s "http://127.0.0.1:$p/" >"$T/wrk" & w=$!
    split=""; [ -n "$kids" ] && split=$(node "$root/bench/connection-split.mjs" "$p" $((D * 1000 - 300)) 50 $kids)
    wait $w
    conns=$(echo "$split" | tr ' ' '\n' | sed -n 20p)
    shares=$(echo "$split" | tr ' ' '\n' | awk -F/ '{ t = 0; mx = 0; mn = 1e9; for (i = 1; i <= NF; i++) { t += $i; if ($i > mx) mx = $i; if ($i < mn) mn = $i } if (NF > 1 && t >= 9) { n++; s += mx / t; if (mn <= 1) low++ } } END { if (n) printf "share %.2f min<=1 %3.0f%%", s / n, 100 * low / n; else printf "share -" }')
    n=$(awk '/requests in/ {print $1}' "$T/wrk"); rps=$(awk '/Requests\/sec/ {print $2}' "$T/wrk")
    tot=0 each=""; for q in $all; do d=$(( $(ticks "$q") - ${t0[$q]} )); tot=$((tot + d)); each+="$d "; done
    awk -v r="$r" -v l="${labels[$i]}" -v n="$n" -v rps="$rps" -v tot="$tot" -v t="$tck" -v each="$each" -v c="${conns%/}" -v la="$(cut -d' ' -f1 /proc/loadavg)" \
      -v sh="$shares" 'BEGIN { printf "r%d %-10s req/s %9.0f  cpu %6.2f us/req  ticks %-14s conns %-6s %s  load %s\n", r, l, rps, tot * 1e6 / t / n, each, (c == "" ? "-" : c), sh, la }'
  done
done
