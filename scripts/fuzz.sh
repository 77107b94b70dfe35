#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang under AddressSanitizer
# + UndefinedBehaviorSanitizer (build-fuzz), then runs each for FUZZ_SECONDS
# on a copy of its seed corpus (the committed corpus never grows) plus its
# regressions, two targets at a time. Prints each target's executions and
# exits non-zero if any target crashed, leaked, hung or failed a check.
#
# A crash leaves its input in build-fuzz/fuzz-out/<target>/artifacts/. Once
# the bug is fixed, copy the input to tests/fuzz/<target>_regressions/: the
# ctest `<target>_replay` (label fuzz, in build-fuzz) runs every target once
# over its corpus and regressions.
#
#   scripts/fuzz.sh                            every target, 30 s each
#   FUZZ_SECONDS=3600 scripts/fuzz.sh fuzz_npy   one target, for an hour
#   FUZZ_JOBS=4            targets run at once (default 2)
#   FUZZ_BUILD_LOCK=FILE   build under `flock FILE` (shared build machines)
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${FUZZ_SECONDS:-30}
jobs=${FUZZ_JOBS:-2}
build=build-fuzz
all=(fuzz_decode fuzz_npy fuzz_relu_differential fuzz_client_text fuzz_oip_infer
     fuzz_oip_json)
targets=("${all[@]}")
if (($#)); then targets=("$@"); fi
# Largest input per target: room for a few thousand elements or a header
# with every key, small enough to keep executions fast.
declare -A max_len=(
  [fuzz_decode]=16384 [fuzz_npy]=4096
  [fuzz_relu_differential]=4096 [fuzz_client_text]=1024 [fuzz_oip_infer]=16384
  [fuzz_oip_json]=8192
)

start=$(date +%s)
echo "== Fuzz build (clang, ASan + UBSan + libFuzzer coverage) in $build"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_COMPILER=clang++ -DACTIVATION_BUILD_FUZZERS=ON \
  -DACTIVATION_SANITIZE=address,undefined \
  -DACTIVATION_BUILD_BENCHMARKS=OFF >/dev/null
lock=()
if [[ -n "${FUZZ_BUILD_LOCK:-}" ]]; then lock=(flock "$FUZZ_BUILD_LOCK"); fi
"${lock[@]}" cmake --build "$build" -j "$(nproc)" --target fuzzers
built=$(date +%s)

# run_one TARGET: fuzzes TARGET; its log, corpus copy and artifacts go to
# $build/fuzz-out/TARGET/, its exit code to rc there.
run_one() {
  local target=$1
  local out=$build/fuzz-out/$target
  rm -rf "$out"
  mkdir -p "$out/corpus" "$out/artifacts"
  cp tests/fuzz/"$target"_corpus/* "$out/corpus/"
  local inputs=("$out/corpus")
  if [[ -d tests/fuzz/${target}_regressions ]]; then
    inputs+=(tests/fuzz/"$target"_regressions)
  fi
  local dict=()
  if [[ -f tests/fuzz/$target.dict ]]; then
    dict=(-dict=tests/fuzz/"$target".dict)
  fi
  local rc=0
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
    "$build/tests/fuzz/$target" "${inputs[@]}" "${dict[@]}" \
    -max_total_time="$seconds" -max_len="${max_len[$target]}" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$out/artifacts/" >"$out/log" 2>&1 || rc=$?
  echo "$rc" >"$out/rc"
}

echo "== Fuzzing ${targets[*]}: ${seconds} s each, ${jobs} at a time"
for target in "${targets[@]}"; do
  if [[ -z "${max_len[$target]:-}" ]]; then
    echo "unknown target $target (known: ${all[*]})" >&2
    exit 2
  fi
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  run_one "$target" &
done
wait

failed=0
for target in "${targets[@]}"; do
  out=$build/fuzz-out/$target
  rc=$(cat "$out/rc")
  runs=$(grep -o '^Done [0-9]* runs in [0-9]* second(s)' "$out/log" || true)
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/log" |
    grep -o '[0-9]*$' || echo '?')
  corpus=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$out/log" | tail -1 || true)
  if [[ "$rc" == 0 ]]; then
    printf '%-24s ok     %10s executions  %s  (%s)\n' \
      "$target" "$execs" "${corpus:-}" "${runs:-}"
  else
    failed=1
    printf '%-24s FAILED %10s executions  exit %s; input: %s\n' \
      "$target" "$execs" "$rc" \
      "$(ls "$out"/artifacts/* 2>/dev/null | tr '\n' ' ')"
    grep -m1 -E 'ERROR|runtime error|fuzz_[a-z_]+: ' "$out/log" || true
    echo "  log: $out/log"
  fi
done
end=$(date +%s)
echo "== Fuzz: build $((built - start)) s, runs $((end - built)) s," \
  "total $((end - start)) s"
exit "$failed"
