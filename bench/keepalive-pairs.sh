#!/bin/bash
# Issue 27: what maxKeepAlive's reconnection waves cost in time. tspuma closes each keep-alive
# connection after 999 requests (its default), and node 20 then builds every new socket's options
# with a new map (findings fetch11.1); the paired rows' anchors close none. Four pairs with
# paired.sh's method (bench/pairs-lib.sh), the Node listener row's two sides (bench/raw-node.ts and
# bench/listener-app.ts, the same handler byte for byte), B/A:
#   raw node:http closing after 999 (maxRequestsPerSocket) / raw node:http    what waves cost node itself
#   tspuma (maxKeepAlive 999, the default) / tspuma with maxKeepAlive 0        what they cost tspuma
#   tspuma with maxKeepAlive 0 / raw node:http                                 the row with no waves
#   tspuma / raw node:http closing after 999                                   the row with waves on both
#     bench/keepalive-pairs.sh [rounds] [seconds]     (from a built checkout)
# Env: PORT0 (first of 8 ports, default 10500), PIN=1. On a shared machine run it under
# `flock /work/coord/bench.lock`.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd); R=${1:-6} D=${2:-2}; port=${PORT0:-10500}
. "$ROOT/bench/pairs-lib.sh"
raw() { start $port "$ROOT" env "$@" node dist/bench/raw-node.js $port; P=$port; port=$((port + 1)); }
ts() { start $port "$ROOT" node dist/server/cli.js "$@" -q -e production -b tcp://127.0.0.1:$port bench/listener-app.ts; P=$port; port=$((port + 1)); }
unlimited=(-C bench/unlimited-keepalive.config.mjs)
echo "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $R rounds of ${D}s, PIN=${PIN:-0}, $(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
raw; a=$P; raw RAW_MAX_REQUESTS=999; pair "raw closing after 999 / raw" $a $P
ts "${unlimited[@]}"; a=$P; ts; pair "tspuma (999) / tspuma maxKeepAlive 0" $a $P
raw; a=$P; ts "${unlimited[@]}"; pair "tspuma maxKeepAlive 0 / raw" $a $P
raw RAW_MAX_REQUESTS=999; a=$P; ts; pair "tspuma (999) / raw closing after 999" $a $P
echo "done $(date -u +%H:%M) UTC, load $(cut -d' ' -f1-3 /proc/loadavg)"
