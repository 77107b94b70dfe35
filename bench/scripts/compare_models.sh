#!/usr/bin/env bash
# Compares the server's threading models side by side: three rounds, each
# starting a fresh server per configuration, 1 s warm-up, then 5 s of
# bench/grpc_load (32 calls in flight, 2 connections, 16 FLOAT32 elements).
# Needs build/server/activation_server and build/bench/grpc_load.
#   bench/scripts/compare_models.sh        (CONC=, ELEMS= override the load)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() {  # $1 = label, rest = server flags
  local label=$1; shift
  build/server/activation_server --address=127.0.0.1:0 --port_file=$tmp/port "$@" 2>/dev/null &
  local pid=$!
  for i in $(seq 50); do [ -s $tmp/port ] && break; sleep 0.1; done
  local port=$(cat $tmp/port); rm -f $tmp/port
  build/bench/grpc_load --target=127.0.0.1:$port --duration=1s --concurrency=${CONC:-32} >/dev/null
  echo "$label $(build/bench/grpc_load --target=127.0.0.1:$port --duration=5s --concurrency=${CONC:-32} --elements=${ELEMS:-16})"
  kill -TERM $pid; wait $pid
}
for round in 1 2 3; do
  run async_cq2 --server_model=async --cq_threads=2
  run async_cq1 --server_model=async --cq_threads=1
  run callback --server_model=callback
done
