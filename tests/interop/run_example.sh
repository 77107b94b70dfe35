#!/usr/bin/env bash
# Starts SERVER_BINARY on free loopback ports, runs one example client against
# it, then stops the server with SIGTERM. Exits 0 only if the client passed and
# the server exited 0 within 10 s of SIGTERM.
#
#   tests/interop/run_example.sh SERVER_BINARY CLIENT
#
# CLIENT (examples/):
#   python            python/relu_client.py      activation.v1 over gRPC
#   node              node/relu_client.js        activation.v1 over gRPC
#   python_oip_grpc   python/oip_grpc_client.py  Open Inference Protocol, gRPC
#   python_oip_rest   python/oip_rest_client.py  Open Inference Protocol, REST
#   node_oip          node/oip_client.js         Open Inference Protocol, both
#
# A client learns the server's addresses from its arguments (--target
# 127.0.0.1:GRPC_PORT for gRPC, --url http://127.0.0.1:HTTP_PORT for REST);
# they are also exported as ACTIVATION_GRPC_TARGET and ACTIVATION_HTTP_URL.
#
# The node client needs examples/node/node_modules; if it is missing this runs
# `npm ci` there first, which needs the npm registry. Everything else stays on
# 127.0.0.1.
set -euo pipefail

readonly kStartTimeoutS=20
readonly kStopTimeoutS=10
readonly kClientTimeoutS=120

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

die() { echo "run_example: $*" >&2; exit 1; }

readonly kClients="python, node, python_oip_grpc, python_oip_rest, node_oip or readme_curl"
[[ $# -eq 2 ]] || die "usage: $0 SERVER_BINARY CLIENT (CLIENT: $kClients)"
server_binary="$1"
language="$2"
[[ -x "$server_binary" ]] || die "not an executable: $server_binary"
# The client's command and which fronts it calls.
case "$language" in
  python) client=(/usr/bin/python3 "$root/examples/python/relu_client.py"); fronts=grpc ;;
  node) client=(node "$root/examples/node/relu_client.js"); fronts=grpc ;;
  python_oip_grpc) client=(/usr/bin/python3 "$root/examples/python/oip_grpc_client.py"); fronts=grpc ;;
  python_oip_rest) client=(/usr/bin/python3 "$root/examples/python/oip_rest_client.py"); fronts=http ;;
  node_oip) client=(node "$root/examples/node/oip_client.js"); fronts="grpc http" ;;
  readme_curl) client=(/usr/bin/python3 "$root/tests/interop/readme_curl.py"); fronts=http ;;
  *) die "unknown client '$language', want $kClients" ;;
esac

tmp="$(mktemp -d)"
server_pid=""

cleanup() {
  local rc=$?
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [[ $rc -ne 0 && -s "$tmp/server.log" ]]; then
    echo "run_example: server log:" >&2
    sed 's/^/  server| /' "$tmp/server.log" >&2
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Returns 0 once the server has written its three ports (gRPC, metrics,
# HTTP), one per line, to $tmp/port.
port_ready() {
  [[ -s "$tmp/port" && "$(wc -l <"$tmp/port")" -ge 3 ]]
}

# Returns 0 if $1 is a port number other than 0.
valid_port() {
  [[ "$1" =~ ^[0-9]{1,5}$ ]] && ((10#$1 != 0 && 10#$1 <= 65535))
}

"$server_binary" --address=127.0.0.1:0 --metrics_address=127.0.0.1:0 \
  --http_address=127.0.0.1:0 --port_file="$tmp/port" >"$tmp/server.log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + kStartTimeoutS))
while ((SECONDS < deadline)); do
  port_ready && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    rc=0
    wait "$server_pid" || rc=$?
    server_pid=""
    die "server exited with code $rc before writing its port file"
  fi
  sleep 0.1
done
port_ready || die "server wrote no port file within ${kStartTimeoutS} s"
port="$(sed -n 1p "$tmp/port")"
http_port="$(sed -n 3p "$tmp/port")"
valid_port "$port" || die "port file's gRPC port is '$port', want a port number"
valid_port "$http_port" || die "port file's HTTP port is '$http_port', want a port number"
echo "run_example: server $server_binary serving gRPC on 127.0.0.1:$port, HTTP on 127.0.0.1:$http_port"

if [[ "$language" == node* && ! -d "$root/examples/node/node_modules" ]]; then
  echo "run_example: installing examples/node dependencies (npm ci)"
  (cd "$root/examples/node" && npm ci --no-audit --no-fund) ||
    die "npm ci failed in examples/node"
fi

export ACTIVATION_GRPC_TARGET="127.0.0.1:$port"
[[ " $fronts " == *" grpc "* ]] && client+=(--target "$ACTIVATION_GRPC_TARGET")
if [[ " $fronts " == *" http "* ]]; then
  export ACTIVATION_HTTP_URL="http://127.0.0.1:$http_port"
  client+=(--url "$ACTIVATION_HTTP_URL")
fi

client_rc=0
timeout "$kClientTimeoutS" "${client[@]}" || client_rc=$?

kill -TERM "$server_pid"
deadline=$((SECONDS + kStopTimeoutS))
while ((SECONDS < deadline)); do
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if kill -0 "$server_pid" 2>/dev/null; then
  die "server still running ${kStopTimeoutS} s after SIGTERM"
fi
server_rc=0
wait "$server_pid" || server_rc=$?
server_pid=""

[[ $client_rc -eq 0 ]] || die "$language client failed (exit $client_rc)"
[[ $server_rc -eq 0 ]] || die "server exited with code $server_rc after SIGTERM, want 0"
echo "run_example: PASS ($language client; server exited 0 after SIGTERM)"
