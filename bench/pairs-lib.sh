# Paired req/s with ../shared/bench/paired.sh's method, for the bench scripts that source it
# (fetch-rows.sh, keepalive-pairs.sh): wrk -t1 -c10, R rounds of D seconds alternating A and B,
# the median of B/A. PIN=1 (2+ cores): servers on CPU 1, wrk on CPU 0 (a ratio of CPU cost per
# request). The sourcing script sets R and D; servers started with `start` are stopped at each
# pair's end and at exit. WARM (seconds, default 1, paired.sh's) is each side's wrk warm-up before
# the rounds: tspuma's JIT is still compiling some seconds after the first requests (bench/README.md,
# session 23, fetch5), so WARM=8 reads the settled servers. EACH=1 also prints every round's B/A in
# the order run, so a trend over the rounds (a side still warming up) shows.
T=$(mktemp -d); pids=(); srvpin=() wrkpin=()
[ "${PIN:-0}" = 1 ] && srvpin=(taskset -c 1) wrkpin=(taskset -c 0)
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$T"; }
trap cleanup EXIT
# A tspuma boot of a .ts app takes seconds on a loaded machine: up to 60 s.
wait_up() { for i in $(seq 1 300); do curl -fs -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.2; done; echo "port $1 did not come up: $(tail -3 "$T/$1.log" 2>/dev/null)" >&2; return 1; }
rps() { "${wrkpin[@]}" wrk -t1 -c10 -d${D}s "http://127.0.0.1:$1/" | awk '/Requests\/sec/ {print $2}'; }
pair() { # label portA portB
  local label=$1 a=$2 b=$3 rs=()
  wait_up "$a" && wait_up "$b" || { printf "%-52s DOWN\n" "$label"; return; }
  wrk -t1 -c10 -d${WARM:-1}s "http://127.0.0.1:$a/" >/dev/null; wrk -t1 -c10 -d${WARM:-1}s "http://127.0.0.1:$b/" >/dev/null
  for r in $(seq 1 "$R"); do
    if (( r % 2 )); then x=$(rps "$a"); y=$(rps "$b"); else y=$(rps "$b"); x=$(rps "$a"); fi
    rs+=("$(node -e "console.log(($y)/($x))")")
  done
  [ "${EACH:-0}" = 1 ] && printf '%-52s rounds: %s\n' "$label" "$(printf '%.3f ' "${rs[@]}")"
  printf '%s\n' "${rs[@]}" | sort -g | awk -v l="$label" '{v[NR]=$1} END {printf "%-52s median %.3f  min %.3f  max %.3f  (%d rounds)\n", l, (v[int((NR+1)/2)]+v[int(NR/2)+1])/2, v[1], v[NR], NR}'
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; pids=(); sleep 0.5
}
start() { # port dir cmd...: the server, its pid kept for cleanup
  local p=$1 dir=$2; shift 2
  ( cd "$dir" && exec "${srvpin[@]}" env PORT=$p "$@" >"$T/$p.log" 2>&1 ) & pids+=($!)
}
