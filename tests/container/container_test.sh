#!/usr/bin/env bash
# Builds the Docker image with podman and checks it: serves Relu, health and
# /metrics on loopback, reports healthy, and drains on `podman stop` (SIGTERM)
# under load within a few seconds, exiting 0, with every answer it gave
# right; then serves REST over HTTPS with TLS files. Prints the image size.
#
#   container_test.sh HOST_CLIENT_BINARY
#
# No Docker daemon or image registry is reachable here, so the base image is
# made locally: mmdebstrap bookworm from this machine's Debian mirror, imported
# as debian:bookworm-slim (once; later runs reuse it), then podman build
# --pull=never.
set -euo pipefail
client_binary=$(realpath "$1")
repo=$(cd "$(dirname "$0")/../.." && pwd)
image=activation-service:test
container=activation-service-test-$$
tmp=$(mktemp -d)

source "$repo/tests/testing/lib.sh"
use_test_podman_conf

cleanup() {
  podman rm -f "$container" >/dev/null 2>&1 || true
  # Each build leaves its build stage as an untagged image (~860 MB).
  podman image prune -f >/dev/null 2>&1 || true
  rm -rf "$tmp"
}

trap cleanup EXIT

# The mirror apt uses here: deb822 sources first, then a one-line list.
mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  [[ -n "$uri" ]] || uri=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "$uri"
}

if ! podman image exists debian:bookworm-slim; then
  echo "== making debian:bookworm-slim with mmdebstrap from $(mirror)"
  mmdebstrap --quiet --variant=apt bookworm - "$(mirror)" |
    podman import - debian:bookworm-slim >/dev/null
fi

echo "== podman build"
start=$(date +%s)
podman build --pull=never --format docker --quiet \
  --build-arg GIT_SHA="$(git -C "$repo" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)" \
  -t "$image" "$repo" >"$tmp/build.log" 2>&1 || { tail -50 "$tmp/build.log"; exit 1; }
echo "built in $(( $(date +%s) - start )) s; image size $(podman image inspect "$image" --format '{{.Size}}' | awk '{printf "%.1f MiB", $1 / 1048576}')"

port=$(free_port)
http_port=$(free_port)
metrics_port=$(free_port)
# --health-interval=disable: no systemd here to run podman's health timer;
# the test runs the HEALTHCHECK itself with `podman healthcheck run`.
podman run -d --name "$container" --network=host --health-interval=disable \
  -e ACTIVATION_TARGET="127.0.0.1:$port" "$image" \
  --address="127.0.0.1:$port" --http_address="127.0.0.1:$http_port" \
  --metrics_address="127.0.0.1:$metrics_port" --shutdown_grace=5s >/dev/null

serving() {
  for _ in $(seq 100); do
    "$client_binary" --target="127.0.0.1:$port" --deadline=1s health >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  return 1
}
check "the container serves" serving
relu() {
  [[ "$("$client_binary" --target="127.0.0.1:$port" relu --values=-2,0.5,9 --max_value=6)" == "0,0.5,6" ]]
}
check "Relu from the host" relu
rest() {
  # The Open Inference Protocol over HTTP/REST (docs/oip.md).
  curl -sS -f --max-time 10 -o "$tmp/infer.json" \
    -d '{"inputs": [{"name": "input", "datatype": "FP32", "shape": [3], "data": [-2, 0.5, 9]}], "parameters": {"max_value": 6}}' \
    "http://127.0.0.1:$http_port/v2/models/relu/infer" &&
    grep -q '"data":\[0,0.5,6\]' "$tmp/infer.json"
}
check "REST infer from the host" rest
check "health from inside" podman exec "$container" activation_client health

healthy() { podman healthcheck run "$container"; }
check "podman healthcheck run" healthy
metrics() {
  # Read the whole page before searching it: `curl | grep -q` under pipefail
  # fails whenever grep quits early and curl, still writing, gets SIGPIPE.
  curl -sS -f --max-time 10 -o "$tmp/metrics.txt" \
    "http://127.0.0.1:$metrics_port/metrics" &&
    grep 'grpc_server_handled_total{grpc_code="OK",grpc_method="Relu"' \
      "$tmp/metrics.txt"
}
check "/metrics counts the call" metrics
nonroot() { [[ "$(podman inspect "$container" --format '{{.Config.User}}')" == "10001" ]]; }
check "runs as uid 10001" nonroot

drain() {
  # Under load: calls keep coming from the host while SIGTERM arrives.
  "$client_binary" --target="127.0.0.1:$port" --deadline=2s bench -c 2 \
    --rps=200 -z 3s --shape=1024 --verify_every=1 --allow_errors -O json \
    >"$tmp/bench.json" 2>/dev/null &
  local bench=$!
  sleep 1
  local t0 t1
  t0=$(date +%s%N)
  podman stop -t 30 "$container" >/dev/null
  t1=$(date +%s%N)
  wait "$bench"
  local ms=$(( (t1 - t0) / 1000000 ))
  local code
  code=$(podman inspect "$container" --format '{{.State.ExitCode}}')
  echo "stopped in $ms ms, exit code $code"
  local logs
  logs=$(podman logs "$container" 2>&1)
  grep -q "SIGTERM, draining" <<<"$logs" && grep -q "stopped" <<<"$logs" &&
    [[ "$code" == 0 && $ms -lt 5000 ]] &&
    # Every answer the server gave before it stopped was right; the calls
    # after it were refused or found no server, never wrong.
    /usr/bin/python3 - "$tmp/bench.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
codes = r["statusCodeDistribution"]
assert codes.get("OK", 0) > 50, codes
assert set(codes) <= {"OK", "Unavailable", "Canceled"}, codes
assert r["mismatches"] == 0 and r["verified"] == codes["OK"], r
print("bench during the drain:", codes)
PY
}
check "podman stop under load drains within 5 s, exits 0, no wrong answers" drain
cat "$tmp/out"

# HTTPS: the image has no libssl-dev, so civetweb's dlopen("libssl.so") and
# dlopen("libcrypto.so") find only server/openssl_compat's.
podman rm -f "$container" >/dev/null
mkdir -m 755 "$tmp/tls"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/tls/key.pem" \
  -out "$tmp/tls/cert.pem" 2>/dev/null
chmod 644 "$tmp/tls"/*.pem
podman run -d --name "$container" --network=host -v "$tmp/tls:/tls:ro" \
  -e ACTIVATION_TARGET="127.0.0.1:$port" "$image" \
  --address="127.0.0.1:$port" --http_address="127.0.0.1:$http_port" \
  --metrics_address= --tls_cert=/tls/cert.pem --tls_key=/tls/key.pem >/dev/null
libraries() {
  podman exec "$container" ldd /usr/local/bin/activation_server >"$tmp/ldd.txt"
  cat "$tmp/ldd.txt"
  ! grep -q "not found" "$tmp/ldd.txt" &&
    grep -q "libssl.so => /usr/local/bin/../lib/openssl_compat/libssl.so" "$tmp/ldd.txt" &&
    grep -q "libcrypto.so => /usr/local/bin/../lib/openssl_compat/libcrypto.so" "$tmp/ldd.txt"
}
check "ldd in the image resolves everything, libssl.so from openssl_compat" libraries
https() {
  for _ in $(seq 50); do
    curl -sS -f --max-time 10 --cacert "$tmp/tls/cert.pem" -o "$tmp/tls.json" \
      -d '{"inputs": [{"name": "input", "datatype": "FP32", "shape": [2], "data": [-1, 3]}]}' \
      "https://127.0.0.1:$http_port/v2/models/relu/infer" && break
    sleep 0.2
  done
  grep -q '"data":\[0,3\]' "$tmp/tls.json"
}
check "REST infer over HTTPS" https

summary
