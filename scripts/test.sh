#!/usr/bin/env bash
# Passes the whole test suite on a fresh Debian bookworm machine: installs
# missing dependencies, builds Release, runs every ctest test, then builds
# again under AddressSanitizer + UndefinedBehaviorSanitizer and runs every
# test there too (unit, e2e against the sanitized server, interop; not the
# container image, which the first pass built and ran). Exits non-zero on
# any failure.

#
#   scripts/test.sh                 everything
#   SKIP_SANITIZERS=1 scripts/test.sh   the Release build and tests only
#   CTEST_ARGS="-L unit" scripts/test.sh  a subset (ctest -L/-R/-E syntax)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)
read -r -a ctest_args <<< "${CTEST_ARGS:-}"

echo "== Release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
echo "== Tests (Release)"
ctest --test-dir build --output-on-failure -j "$jobs" "${ctest_args[@]}"

if [[ "${SKIP_SANITIZERS:-0}" == 1 ]]; then
  exit 0
fi
echo "== AddressSanitizer + UndefinedBehaviorSanitizer build"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DACTIVATION_SANITIZE=address,undefined \
  -DACTIVATION_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build build-asan -j "$jobs"
echo "== Tests (ASan + UBSan)"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE container \
    "${ctest_args[@]}"

