#!/bin/bash
# Issue 27's Hono and fetch rows for two built checkouts, alternated: paired.sh's Hono row (its apps
# from ../shared/bench/apps: Hono on @hono/node-server against the same app on tspuma) and
# /work/coord/paired-fetch.sh's fetch pair (bench/fetch-app.ts on tspuma against dist/bench/anchors.js
# fetch), each with paired.sh's method (wrk -t1 -c10, R alternating rounds of D seconds, median of
# B/A), run for the builds in the order A B B A, so a drift of the machine falls on both alike.
#   bench/fetch-rows.sh A_CHECKOUT B_CHECKOUT [rounds] [seconds]
# Env: PORT0 (first of 4 ports, default 10400), SHARED (default ../shared/bench from the checkout's
# parent), wrk on PATH, PIN=1 (2+ cores: the servers on CPU 1, wrk on CPU 0, as paired.sh's PIN: a
# ratio of CPU cost per request). Run it under `flock /work/coord/bench.lock` on a shared machine.
set -u
A_ROOT=$(cd "$1" && pwd) B_ROOT=$(cd "$2" && pwd); R=${3:-6} D=${4:-2}
SHARED=${SHARED:-/work/shared/bench}; port0=${PORT0:-10400}
. "$(dirname "$0")/pairs-lib.sh"
rows() { # label root
  local label=$1 root=$2 apps="$T/apps-$1"
  mkdir -p "$apps"; cp "$SHARED"/apps/hono-* "$apps/"; ln -sfn "$root/node_modules" "$apps/node_modules"; echo '{"type":"module"}' > "$apps/package.json"
  start $port0 "$apps" node hono-node-server.mjs
  start $((port0 + 1)) "$apps" node "$root/dist/server/cli.js" -q -e production -b tcp://127.0.0.1:$((port0 + 1)) hono-app.ts
  pair "[$label] tspuma (Hono) / @hono/node-server" $port0 $((port0 + 1))
  start $((port0 + 2)) "$root" node dist/bench/anchors.js fetch $((port0 + 2))
  start $((port0 + 3)) "$root" node dist/server/cli.js -q -e production -b tcp://127.0.0.1:$((port0 + 3)) dist/bench/fetch-app.js
  pair "[$label] tspuma (fetch handler) / @hono/node-server" $((port0 + 2)) $((port0 + 3))
}
echo "A=$A_ROOT ($(git -C "$A_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), B=$B_ROOT ($(git -C "$B_ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')), $R rounds of ${D}s, PIN=${PIN:-0}, $(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
rows A "$A_ROOT"; rows B "$B_ROOT"; rows B "$B_ROOT"; rows A "$A_ROOT"
echo "done $(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
