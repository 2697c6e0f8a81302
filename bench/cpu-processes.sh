#!/bin/bash
# Main-thread CPU per request of several server processes, side by side: each LABEL=COMMAND is
# started once (from the repository root, `@PORT@` replaced by its port), and every round runs
# `wrk -t1 -c10` for SECONDS against each in turn, in rotated order. For each run it prints the
# main thread's user and system time per request (/proc/PID/task/PID/stat, 10 ms ticks), its run
# time (schedstat, ns) and the other threads' run time (schedstat, ns: V8's platform workers,
# libuv's pool, a worker thread, whose 10 ms ticks read 0-3 a run each); then per label the
# medians and the median of the per-round ratios "first label's cost / this one's" (above 1:
# cheaper than the first).
# Start two or three processes of each build: on a shared machine two processes of one build can
# differ by 10-15% in CPU per request for a whole run (bench/README.md, ninth round), so one
# process per side cannot resolve a smaller change. Labels that differ only in trailing digits
# (raw1, raw2) are one build: the last table gives each build's processes side by side.
#   bench/cpu-processes.sh ROUNDS SECONDS LABEL=COMMAND...
# Env: BASEPORT (first port, default 9720), WARM (warm-up seconds per server, default 3),
# SRVPIN / WRKPIN (command prefixes, e.g. "taskset -c 1" / "taskset -c 0"), KEEP=DIR (keep the
# servers' output and the rows there; with PERF=1 also a 4 s `perf record -g` of each server at the end).
# Run it under the bench lock on a shared machine.
set -u
[ $# -ge 3 ] || { sed -n '2,17p' "$0"; exit 2; }
R=$1 D=$2; shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
T=$(mktemp -d); labels=(); ports=(); spids=()
cleanup() {
  for p in "${spids[@]}"; do kill "$p" 2>/dev/null; done
  sleep 0.5
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP"; cp "$T"/*.log "$T/rows" "$KEEP/" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
. "$(dirname "$0")/start-servers.sh"
start_servers "${BASEPORT:-9720}" "$@"
for p in "${ports[@]}"; do ${WRKPIN:-} wrk -t1 -c10 -d"${WARM:-3}"s "http://127.0.0.1:$p/" >/dev/null; done
tck=$(getconf CLK_TCK)
# main-thread utime, stime (ticks), other threads' run time (ns), main-thread run time (ns)
cpu() {
  local pid=$1 mu=0 ms=0 o=0 s tid
  for s in /proc/"$pid"/task/*/stat; do
    tid=${s#/proc/"$pid"/task/} tid=${tid%/stat}
    # shellcheck disable=SC2046 # the fields after the command name
    set -- $(sed 's/.*) //' "$s")
    if [ "$tid" = "$pid" ]; then mu=${12} ms=${13}; else o=$((o + $(cut -d' ' -f1 /proc/"$pid"/task/"$tid"/schedstat))); fi
  done
  echo "$mu $ms $o $(cut -d' ' -f1 /proc/"$pid"/task/"$pid"/schedstat)"
}
N=${#labels[@]}
for r in $(seq 1 "$R"); do
  for k in $(seq 0 $((N - 1))); do
    if (( r % 2 )); then i=$(( (k + r) % N )); else i=$(( (N - 1 - k + r) % N )); fi
    pid=${spids[$i]}
    read -r -a c0 <<<"$(cpu "$pid")"
    n=$(${WRKPIN:-} wrk -t1 -c10 -d"${D}"s "http://127.0.0.1:${ports[$i]}/" | awk '/requests in/ {print $1}')
    read -r -a c1 <<<"$(cpu "$pid")"
    awk -v r="$r" -v l="${labels[$i]}" -v n="$n" -v t="$tck" -v mu=$((c1[0] - c0[0])) -v ms=$((c1[1] - c0[1])) -v o=$((c1[2] - c0[2])) -v ns=$((c1[3] - c0[3])) -v la="$(cut -d' ' -f1 /proc/loadavg)" \
      'BEGIN { printf "r%d %-10s n=%d user %6.2f sys %6.2f main(sched) %6.2f other %5.2f us/req load %s\n", r, l, n, mu*1e6/t/n, ms*1e6/t/n, ns/1e3/n, o/1e3/n, la }'
  done
done | tee "$T/rows"
if [ -n "${KEEP:-}" ] && [ -n "${PERF:-}" ]; then
  mkdir -p "$KEEP"
  for i in $(seq 0 $((N - 1))); do
    pid=${spids[$i]}
    perf record -q -e cpu-clock -F 5000 -g -t "$pid" -o "$KEEP/${labels[$i]}-1.data" -- sleep 5 2>/dev/null &
    pp=$!
    sleep 0.3
    n=$(${WRKPIN:-} wrk -t1 -c10 -d4s "http://127.0.0.1:${ports[$i]}/" | awk '/requests in/ {print $1}')
    wait $pp
    echo "${labels[$i]} 1 $n $(cut -d' ' -f1 /proc/loadavg)" >>"$KEEP/counts"
    cp "/tmp/perf-$pid.map" "$KEEP/" 2>/dev/null
  done
fi
echo "-- medians (main thread, µs a request) and the median of per-round ratios ${labels[0]}/this"
awk -v first="${labels[0]}" '
  { r = substr($1, 2); l = $2; m[l, r] = $9; u[l, r] = $5; s[l, r] = $7; L[l] = 1; R[r] = 1 }
  function med(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END { for (l in L) { n = 0; split("", x); split("", y); split("", z); split("", q)
          for (r in R) { n++; x[n] = m[l, r]; y[n] = u[l, r]; z[n] = s[l, r]; q[n] = m[first, r] / m[l, r] }
          printf "%-10s run %6.2f user %6.2f sys %6.2f  %s/this %.3f\n", l, med(x, n), med(y, n), med(z, n), first, med(q, n) } }' "$T/rows"
# Per build (a label without its trailing digits: raw1, raw2 -> raw): its processes' medians. Each
# process keeps a fast or a slow mode for its life, whatever its code (bench/README.md, tenth round),
# so the builds' best processes (min) are compared as well as their middle ones.
echo "-- per build: each process's median run time (µs a request), sorted; min and median over the processes against the first build's"
awk -v first="${labels[0]}" '
  { r = substr($1, 2); l = $2; m[l, r] = $9; L[l] = 1; R[r] = 1 }
  function sort(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t } }
  function med(a, n) { sort(a, n); return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
  END {
    for (l in L) { n = 0; split("", x); for (r in R) x[++n] = m[l, r]; pm[l] = med(x, n); b = l; sub(/[0-9]+$/, "", b); B[b] = B[b] " " l }
    fb = first; sub(/[0-9]+$/, "", fb)
    for (b in B) { k = split(B[b], ls, " "); split("", v); for (i = 1; i <= k; i++) v[i] = pm[ls[i]]; sort(v, k); lo[b] = v[1]; md[b] = med(v, k); line[b] = ""; for (i = 1; i <= k; i++) line[b] = line[b] sprintf(" %.2f", v[i]); cnt[b] = k }
    for (b in B) printf "%-10s %d processes:%s  min %.2f (%s/this %.3f)  median %.2f (%s/this %.3f)\n", b, cnt[b], line[b], lo[b], fb, lo[fb] / lo[b], md[b], fb, md[fb] / md[b] }' "$T/rows"
