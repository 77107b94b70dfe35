#!/usr/bin/env bash
# Passes the whole test suite on a fresh Debian bookworm machine: installs
# missing dependencies, then four passes, each timed (README.md#tests):
#   1. Release: every ctest test (unit, e2e, interop, deploy, the container
#      image, the adversarial attacks, the soak);
#   2. AddressSanitizer + UndefinedBehaviorSanitizer: every test again but
#      the container, the attacks and the soak (their bounds are a Release
#      server's);
#   3. ThreadSanitizer (scripts/tsan.sh): the unit and e2e tests, failing on
#      any report (docs/testing.md#threadsanitizer);
#   4. the libFuzzer targets (scripts/fuzz.sh), FUZZ_SECONDS each.
# Exits non-zero on any failure.
#
#   scripts/test.sh                       everything
#   SKIP_SANITIZERS=1 scripts/test.sh     the Release pass only
#   CTEST_ARGS="-L unit" scripts/test.sh  a subset (ctest -L/-R/-E syntax)
#   SOAK_SECONDS=3600 scripts/test.sh     a longer soak
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

jobs=$(nproc)
read -r -a ctest_args <<< "${CTEST_ARGS:-}"
start=$(date +%s)
lap() { echo "== $1 took $(( $(date +%s) - start )) s"; start=$(date +%s); }

echo "== Release build"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
echo "== Tests (Release)"
ctest --test-dir build --output-on-failure -j "$jobs" "${ctest_args[@]}"
lap "Release pass"

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
  ctest --test-dir build-asan --output-on-failure -j "$jobs" \
    -LE "container|adversarial|soak" "${ctest_args[@]}"
lap "ASan + UBSan pass"

scripts/tsan.sh
lap "ThreadSanitizer pass"

echo "== Fuzzing"
scripts/fuzz.sh
lap "Fuzz pass"
