#!/usr/bin/env bash
# Installs every build, test and run dependency from Debian bookworm packages.
# Idempotent: quiet and quick when everything is already present.
set -euo pipefail

packages=(
  # Build.
  build-essential cmake ninja-build pkg-config git ca-certificates openssl
  libabsl-dev libtbb-dev
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev
  grpc-proto prometheus-cpp-dev
  # The HTTP/REST front: civetweb (also prometheus-cpp's), OpenSSL headers for
  # its TLS context, RapidJSON.
  libcivetweb-dev libssl-dev rapidjson-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # Tests: the Python example and checks, the format check, the core tests on
  # an emulated baseline CPU, a real Prometheus (and promtool), the container
  # image and `podman kube play`, curl; clang with its sanitizer and libFuzzer
  # runtimes for the fuzz targets (scripts/fuzz.sh).
  python3-grpcio python3-numpy python3-protobuf python3-yaml python3-h2
  clang-format qemu-user
  clang libclang-rt-14-dev
  prometheus
  podman buildah runc mmdebstrap catatonit
  curl
  # Run: gperftools' tcmalloc, which scripts/run.sh and the image preload
  # (docs/BENCHMARKS.md: up to 1.16x calls/s against glibc's malloc).
  libtcmalloc-minimal4
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != *"ok installed" ]]; then
    missing+=("$pkg")
  fi
done
# Node.js runs the Node example (tests/interop); any packaged version will do,
# so only install it when the commands are missing.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
# kubectl renders deploy/k8s (tests/deploy); the machine image carries a
# current one, Debian's kubernetes-client is the fallback.
command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)

[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
