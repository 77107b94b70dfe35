#!/usr/bin/env bash
# Runs activation_server in the foreground on 127.0.0.1:50051 (gRPC), with
# the Open Inference Protocol's HTTP/REST on 127.0.0.1:8080 and metrics on
# 127.0.0.1:9464, after installing missing dependencies and building Release.
# Extra arguments go to the server and win over these (see --help), e.g.
# scripts/run.sh --threads=1 --max_inflight=64.
# Ctrl-C drains and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)" --target activation_server activation_client

# tcmalloc: up to 1.16x the calls/s of glibc's malloc (docs/BENCHMARKS.md).
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
if [[ -e $tcmalloc ]]; then export LD_PRELOAD=$tcmalloc${LD_PRELOAD:+:$LD_PRELOAD}; fi
exec build/server/activation_server --address=127.0.0.1:50051 \
  --http_address=127.0.0.1:8080 --metrics_address=127.0.0.1:9464 "$@"
