#!/bin/bash
# Issue 27: a paired row's wall ratio taken apart. Two servers, A (the anchor) and B, with
# paired.sh's method (bench/pairs-lib.sh: wrk -t1 -c10, R rounds of D seconds alternating A and B,
# PIN=1: servers on CPU 1, wrk on CPU 0), and for every round of each side what the server's CPU
# did meanwhile, a request:
#   cpu    the server process's run time, every thread (schedstat, ns)   main / other: the main thread's, the rest's
#   wait   the main thread's time runnable but not running (another task held its CPU)
#   user / sys   the process's utime and stime (10 ms ticks: coarse in short rounds)
#   c1idle / c1sirq / c1steal   the server's CPU (PIN=1: CPU 1) idle, in softirq, and stolen by the hypervisor (/proc/stat)
# Then per side the medians, and the medians of the per-round ratios: wall = B req/s / A req/s (the
# paired row), cpu = A cpu / B cpu. With PIN=1 on a quiet machine a round's wall time on CPU 1 is the
# server's run time + CPU 1's idle + what else ran there, so: wall ratio ~ cpu ratio says the gap is
# the server's CPU cost a request (instructions, or cycles an instruction: caches); a wall ratio below
# the cpu ratio with more c1idle on B's side says B's server waited (latency, not cost).
#   bench/paired-cpu.sh [ROUNDS] [SECONDS] [A=CMD B=CMD]
# Default A and B: paired.sh's Node listener pair (../shared/bench/node-http.js, and tspuma single on
# paired.sh's apps/listener-app.ts, in a {"type":"module"} folder as paired.sh makes). CMD runs in that
# folder with PORT set and @PORT@ replaced by the port. Env: PORT0 (default 10600: two ports), WARM
# (warm-up seconds a side, default 1 as paired.sh), PIN, SHARED (default ../shared/bench beside the
# checkout). On a shared machine run it under `flock /work/coord/bench.lock` (PIN=1 wants it quiet).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd); R=${1:-6} D=${2:-2}; shift $(( $# < 2 ? $# : 2 ))
SHARED=${SHARED:-$ROOT/../shared/bench}; [ -d "$SHARED" ] || SHARED=/work/shared/bench
. "$ROOT/bench/pairs-lib.sh"
A_CMD="node $SHARED/node-http.js"
B_CMD="node $ROOT/dist/server/cli.js -q -e production -b tcp://127.0.0.1:@PORT@ listener-app.ts"
for spec in "$@"; do case $spec in A=*) A_CMD=${spec#A=} ;; B=*) B_CMD=${spec#B=} ;; esac; done
APPS="$T/apps"; mkdir -p "$APPS"; cp "$SHARED"/apps/* "$APPS/"; ln -s "$ROOT/node_modules" "$APPS/node_modules"
echo '{"type":"module"}' >"$APPS/package.json"
cpu=1; [ "${PIN:-0}" = 1 ] || cpu=
# snap PID: all threads' run ns, main run ns, main wait ns, utime, stime (ticks), then the CPU's idle, softirq, steal (ticks; 0 unpinned)
snap() {
  local pid=$1 all=0 t r w s
  for t in /proc/"$pid"/task/*; do read -r r w s <"$t/schedstat"; all=$((all + r)); done
  read -r r w s <"/proc/$pid/task/$pid/schedstat"
  # shellcheck disable=SC2046 # the fields after the command name
  set -- $(sed 's/.*) //' "/proc/$pid/stat")
  local ut=${12} st=${13}
  if [ -n "$cpu" ]; then set -- $(grep "^cpu$cpu " /proc/stat); echo "$all $r $w $ut $st $(($5 + $6)) $8 $9"; else echo "$all $r $w $ut $st 0 0 0"; fi
}
round() { # label pid port: one wrk run, one row
  local a b n t0 t1
  read -r -a a <<<"$(snap "$2")"; t0=$(date +%s%N)
  n=$("${wrkpin[@]}" wrk -t1 -c10 -d"${D}"s "http://127.0.0.1:$3/" | awk '/requests in/ {print $1}')
  t1=$(date +%s%N); read -r -a b <<<"$(snap "$2")"
  awk -v l="$1" -v n="$n" -v w=$((t1 - t0)) -v tck="$(getconf CLK_TCK)" -v all=$((b[0] - a[0])) -v mr=$((b[1] - a[1])) -v mw=$((b[2] - a[2])) \
    -v ut=$((b[3] - a[3])) -v st=$((b[4] - a[4])) -v ci=$((b[5] - a[5])) -v cs=$((b[6] - a[6])) -v cst=$((b[7] - a[7])) -v la="$(cut -d' ' -f1 /proc/loadavg)" \
    'BEGIN { u = 1e6 / tck / n; printf "%s rps %.0f cpu %.3f main %.3f other %.3f wait %.3f user %.2f sys %.2f c1idle %.2f c1sirq %.2f c1steal %.2f load %s\n", l, n / (w / 1e9), all / 1e3 / n, mr / 1e3 / n, (all - mr) / 1e3 / n, mw / 1e3 / n, ut * u, st * u, ci * u, cs * u, cst * u, la }'
}
pa=${PORT0:-10600}; pb=$((pa + 1))
start "$pa" "$APPS" ${A_CMD//@PORT@/$pa}; ida=$!; start "$pb" "$APPS" ${B_CMD//@PORT@/$pb}; idb=$!
echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $R rounds of ${D}s, PIN=${PIN:-0}, WARM=${WARM:-1}, $(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: $A_CMD"; echo "B: $B_CMD"
wait_up "$pa" && wait_up "$pb" || exit 1
# pairs-lib's start runs env via exec: its pid is the server's once env has exec'd node
wrk -t1 -c10 -d"${WARM:-1}"s "http://127.0.0.1:$pa/" >/dev/null; wrk -t1 -c10 -d"${WARM:-1}"s "http://127.0.0.1:$pb/" >/dev/null
for r in $(seq 1 "$R"); do
  if (( r % 2 )); then round "r$r A" "$ida" "$pa"; round "r$r B" "$idb" "$pb"; else round "r$r B" "$idb" "$pb"; round "r$r A" "$ida" "$pa"; fi
done | tee "$T/rows"
awk '
  { r = $1; s = $2; for (i = 3; i < NF; i += 2) v[r, s, $i] = $(i + 1); R[r] = 1 }
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END {
    split("rps cpu main other wait user sys c1idle c1sirq c1steal", k, " ")
    for (s = 0; s < 2; s++) { side = s ? "B" : "A"; line = "median " side
      for (i = 1; i <= 10; i++) { n = 0; split("", x); for (r in R) x[++n] = v[r, side, k[i]]; line = line sprintf(" %s %.3f", k[i], med(x, n)) }
      print line }
    n = 0; split("", x); split("", y); split("", z)
    for (r in R) { n++; x[n] = v[r, "B", "rps"] / v[r, "A", "rps"]; y[n] = v[r, "A", "cpu"] / v[r, "B", "cpu"]; z[n] = v[r, "A", "main"] / v[r, "B", "main"] }
    printf "ratios (medians of rounds): wall B/A %.3f  cpu A/B %.3f  main thread A/B %.3f\n", med(x, n), med(y, n), med(z, n) }' "$T/rows"
