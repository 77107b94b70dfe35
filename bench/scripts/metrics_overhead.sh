#!/usr/bin/env bash
# The cost of recording metrics, counted in instructions rather than timed:
# runs activation_server under valgrind --tool=callgrind with metrics on and
# off, sends exactly N1 and then N2 unary calls (bench/grpc_load --calls), and
# prints the server's marginal instructions per call,
# (Ir(N2) - Ir(N1)) / (N2 - N1), for each. Instruction counts do not depend on
# what else the machine is doing. Needs valgrind and the Release build.
#   bench/scripts/metrics_overhead.sh        (N1=1000 N2=3000 by default)
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n1=${N1:-1000}
n2=${N2:-3000}

instructions() {  # $1 = metrics flag value, $2 = calls; prints server Ir
  rm -f "$tmp/port"
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
    build/server/activation_server --address=127.0.0.1:0 \
    --metrics_address="$1" --port_file="$tmp/port" --threads=1 \
    2>"$tmp/valgrind.log" &
  local pid=$!
  for _ in $(seq 600); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
  build/bench/grpc_load --target="127.0.0.1:$(head -n1 "$tmp/port")" \
    --calls="$2" --concurrency=8 --connections=1 >/dev/null
  kill -TERM "$pid"
  wait "$pid"
  awk '/^summary:/ {print $2}' "$tmp/out"*
}

for metrics in "127.0.0.1:0" ""; do
  a=$(instructions "$metrics" "$n1")
  b=$(instructions "$metrics" "$n2")
  echo "metrics_address='$metrics' Ir($n1)=$a Ir($n2)=$b per_call=$(( (b - a) / (n2 - n1) ))"
done
