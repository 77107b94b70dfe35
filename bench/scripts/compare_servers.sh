#!/usr/bin/env bash
# Compares server configurations side by side: ROUNDS rounds (default 3), each
# starting a fresh server per configuration, 1 s warm-up, then 5 s of
# bench/grpc_load (CONC=32 calls in flight, 2 connections, ELEMS=16 FLOAT32
# elements). Prints grpc_load's line plus the server's own CPU time per call
# (utime + stime from /proc over the measured 5 s), which is steadier than
# calls/s when client and server share the cores. Needs
# build/server/activation_server and build/bench/grpc_load.
#
# (bench/compare.sh compares whole servers, e.g. against the bare echo
# server, with h2load.)
#
#   bench/scripts/compare_servers.sh LABEL:FLAGS [LABEL:FLAGS ...]
#   bench/scripts/compare_servers.sh "metrics_on:--metrics_address=127.0.0.1:0" \
#                                    "metrics_off:--metrics_address="
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ $# -eq 0 ]]; then
  echo "usage: $0 LABEL:FLAGS [LABEL:FLAGS ...]" >&2
  exit 2
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpu_ticks() {  # utime + stime of process $1, in clock ticks
  awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"
}

run() {  # $1 = label, $2 = server flags

  local label=$1
  read -r -a flags <<< "$2"
  build/server/activation_server --address=127.0.0.1:0 \
    --metrics_address=127.0.0.1:0 --port_file="$tmp/port" "${flags[@]}" \
    2>/dev/null &
  local pid=$!
  for _ in $(seq 50); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
  local port
  port=$(head -n1 "$tmp/port")
  rm -f "$tmp/port"
  build/bench/grpc_load --target="127.0.0.1:$port" --duration=1s \
    --concurrency="${CONC:-32}" >/dev/null
  local before after line calls
  before=$(cpu_ticks "$pid")
  line=$(build/bench/grpc_load --target="127.0.0.1:$port" --duration=5s \
    --concurrency="${CONC:-32}" --elements="${ELEMS:-16}")
  after=$(cpu_ticks "$pid")
  calls=$(awk '{print $2}' <<< "$line")
  echo "$label $line server_cpu_us_per_call $(awk -v t=$((after - before)) \
    -v hz="$(getconf CLK_TCK)" -v n="$calls" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')"
  kill -TERM "$pid"
  wait "$pid"
}

for _ in $(seq "${ROUNDS:-3}"); do
  for config in "$@"; do
    run "${config%%:*}" "${config#*:}"
  done
done
