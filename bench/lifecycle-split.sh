#!/bin/bash
# Splits tspuma's listener row in time (issue 27, bench/README.md session 15): main-thread CPU µs a
# request (bench/cpu-processes.sh) of N processes each of
#   inside  raw node:http's handler on a server of its own inside a tspuma process (bench/raw-inside-app.ts)
#   opts    the same server made with tspuma's node:http options (TspumaResponse, node's timers off)
#   bare    tspuma with its request lifecycle skipped (bench/lab-steps.ts's LAB_SKIP=bare, a lab copy)
#   ts      tspuma as built, bench/listener-app.ts
# opts - inside: tspuma's response class and options; bare - inside: its server and per-connection
# work; ts - bare: its request lifecycle. Run from a built checkout, under the bench lock:
#   flock /work/coord/bench.lock bench/lifecycle-split.sh [ROUNDS=6] [SECONDS=2] [N=3]
# Env: BASEPORT as for cpu-processes.sh; LAB_STEPS=step,... runs `bare` with other skipped steps.
set -u
R=${1:-6} D=${2:-2} N=${3:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
lab=$(mktemp -d)
trap 'rm -rf "$lab"' EXIT
node "$root/dist/bench/lab-steps.js" "$lab/lab" >/dev/null || exit 1
q="-q -e production"
args=()
for i in $(seq 1 "$N"); do
  args+=("inside$i=env RAW_PORT=@PORT@ node dist/server/cli.js $q -b tcp://127.0.0.1:0 bench/raw-inside-app.ts"
    "opts$i=env RAW_OPTIONS=tspuma RAW_PORT=@PORT@ node dist/server/cli.js $q -b tcp://127.0.0.1:0 bench/raw-inside-app.ts"
    "bare$i=env LAB_SKIP=${LAB_STEPS:-bare} node $lab/lab/dist/server/cli.js $q -b tcp://127.0.0.1:@PORT@ bench/listener-app.ts"
    "ts$i=node dist/server/cli.js $q -b tcp://127.0.0.1:@PORT@ bench/listener-app.ts")
done
echo "== lifecycle-split $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
bash "$root/bench/cpu-processes.sh" "$R" "$D" "${args[@]}"
echo "== end $(date +%H:%M:%S) load $(cut -d' ' -f1 /proc/loadavg)"
