# Sourced by bench/cpu-processes.sh and bench/cluster-rounds.sh: start_servers FIRSTPORT LABEL=COMMAND...
# starts each command once from the repository root ($root), `@PORT@` replaced by its port (${SRVPIN:-}
# in front, output to $T/PORT.log), appends to the arrays labels, ports and spids, and waits until
# every port answers GET / (exits 1 naming the port and its log's last lines if one does not).
start_servers() {
  local port=$1 spec label cmd p up
  shift
  for spec in "$@"; do
    label=${spec%%=*} cmd=${spec#*=}
    # shellcheck disable=SC2086 # the command is split into words on purpose
    ( cd "$root" && exec ${SRVPIN:-} ${cmd//@PORT@/$port} >"$T/$port.log" 2>&1 ) &
    labels+=("$label") ports+=("$port") spids+=($!)
    port=$((port + 1))
  done
  for p in "${ports[@]}"; do
    up=0
    for _ in $(seq 1 150); do curl -fs -o /dev/null "http://127.0.0.1:$p/" && { up=1; break; }; sleep 0.2; done
    [ $up = 1 ] || { echo "port $p did not come up: $(tail -3 "$T/$p.log")" >&2; exit 1; }
  done
}
