#!/usr/bin/env bash
# Builds bench/peers/go (relu_go_server, activation.v1 in grpc-go) into OUT
# (default build/bench/relu_go_server) from Debian's packages only: Go in
# GOPATH mode (GO111MODULE=off), grpc-go and
# protobuf-go from /usr/share/gocode, Go code generated from
# proto/activation/v1/activation.proto at build time into a temporary
# GOPATH. Nothing is downloaded but Debian packages: a missing one is
# installed with apt-get (as root), which is why this is not part of
# scripts/install-deps.sh (the benchmarks are optional).
#
#   bench/peers/build_go.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/bench/relu_go_server}

packages=(golang-go golang-google-grpc-dev golang-google-protobuf-dev
          protoc-gen-go protoc-gen-go-grpc protobuf-compiler)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
    missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "build_go.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
fi

gopath=$(mktemp -d)
trap 'rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/relu_go_server"
# The generated package's import path is "activation.v1/activationpb" (the .proto has no
# go_package option).
protoc -I proto \
  --go_out="$gopath/src" --go_opt=Mactivation/v1/activation.proto=activation.v1/activationpb \
  --go-grpc_out="$gopath/src" \
  --go-grpc_opt=Mactivation/v1/activation.proto=activation.v1/activationpb \
  proto/activation/v1/activation.proto
cp bench/peers/go/main.go "$gopath/src/relu_go_server/"
mkdir -p "$(dirname "$out")"
out=$(realpath "$out")
cache=${GOCACHE:-$(dirname "$out")/go-cache}
(cd "$gopath/src/relu_go_server" &&
  GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOCACHE="$cache" \
    GOFLAGS= GOPROXY=off go build -trimpath -o "$out" .)
echo "build_go.sh: built $out ($(go version | cut -d' ' -f3))" >&2
