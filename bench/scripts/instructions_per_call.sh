#!/usr/bin/env bash
# Server cost per call counted in instructions rather than timed: for each
# configuration, runs activation_server under valgrind --tool=callgrind,
# sends exactly N1 and then (in a second run) N2 unary calls with
# bench/grpc_load --calls, and prints the marginal instructions per call,
# (Ir(N2) - Ir(N1)) / (N2 - N1). Instruction counts do not depend on what
# else the machine is doing. Needs valgrind and the Release build.
#
#   bench/scripts/instructions_per_call.sh LABEL:FLAGS [LABEL:FLAGS ...]
#   bench/scripts/instructions_per_call.sh   # metrics on vs off
#   N1=1000 N2=3000 by default.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
n1=${N1:-1000}
n2=${N2:-3000}

if [[ $# -eq 0 ]]; then
  set -- "metrics_on:--metrics_address=127.0.0.1:0" "metrics_off:--metrics_address="
fi

instructions() {  # $1 = server flags, $2 = calls; prints the server's Ir
  read -r -a flags <<< "$1"
  rm -f "$tmp/port" "$tmp"/out*
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" \
    build/server/activation_server --address=127.0.0.1:0 \
    --metrics_address=127.0.0.1:0 --port_file="$tmp/port" --threads=1 \
    "${flags[@]}" 2>"$tmp/valgrind.log" &
  local pid=$!
  for _ in $(seq 600); do [[ -s "$tmp/port" ]] && break; sleep 0.1; done
  build/bench/grpc_load --target="127.0.0.1:$(head -n1 "$tmp/port")" \
    --calls="$2" --concurrency=8 --connections=1 >/dev/null
  kill -TERM "$pid"
  wait "$pid"
  awk '/^summary:/ {print $2}' "$tmp/out"*
}

for config in "$@"; do
  a=$(instructions "${config#*:}" "$n1")
  b=$(instructions "${config#*:}" "$n2")
  echo "${config%%:*} Ir($n1)=$a Ir($n2)=$b per_call=$(( (b - a) / (n2 - n1) ))"
done
