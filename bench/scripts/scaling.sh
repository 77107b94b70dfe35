#!/usr/bin/env bash
# How activation_server's cost grows with the load, with activation_client
# bench (16-element FLOAT32 unary calls unless ELEMS is set) against one
# fresh server (SERVER, default build/server/activation_server
# --metrics_address=): calls/s against calls in flight (1 to 256 workers, 8
# connections or fewer), then p50/p99 latency at 50% and 90% of the
# largest rate seen (--rps). DURATION (default 3s) per point. Holds LOCK
# (default /tmp/build.lock; empty = none). Bytes/s against payload size and
# engine threads 1 vs all: bench/compare.sh (docs/BENCHMARKS.md).
#
#   bench/scripts/scaling.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
read -r -a server <<< "${SERVER:-build/server/activation_server --metrics_address=}"
elems=${ELEMS:-16}
duration=${DURATION:-3s}
client=build/client/activation_client
lock=${LOCK-/tmp/build.lock}
tmp=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
if [[ -n $lock ]]; then exec 9> "$lock"; flock 9; fi
"${server[@]}" --address=127.0.0.1:0 --port_file="$tmp/port" 2>/dev/null 9>&- &
pid=$!
for _ in $(seq 100); do [[ -s $tmp/port ]] && break; sleep 0.1; done
port=$(head -n1 "$tmp/port")

# Runs bench with the given flags; prints "calls/s p50_ms p99_ms".
bench() {
  "$client" --target="127.0.0.1:$port" bench --shape="$elems" --z="$duration" \
    --O=json "$@" 9>&- | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
assert set(r["statusCodeDistribution"]) == {"OK"} and not r["mismatches"], r
p = {d["percentage"]: d["latency"] / 1e6 for d in r["latencyDistribution"]}
rps, p50, p99 = round(r["rps"]), p[50], p[99]
print(f"{rps} {p50:.3f} {p99:.3f}")'
}

bench --c=32 --connections=8 > /dev/null  # warm-up
best=0
echo "in_flight connections calls/s p50_ms p99_ms"
for c in 1 2 4 8 16 32 64 128 256; do
  conns=$((c < 8 ? c : 8))
  read -r rate p50 p99 <<< "$(bench --c="$c" --connections="$conns")"
  echo "$c $conns $rate $p50 $p99"
  if ((rate > best)); then best=$rate best_c=$c; fi
done
echo "load calls/s_asked calls/s p50_ms p99_ms (at $best_c in flight)"
for pct in 50 90; do
  ask=$((best * pct / 100))
  echo "$pct% $ask $(bench --c="$best_c" --connections=8 --rps="$ask")"
done
