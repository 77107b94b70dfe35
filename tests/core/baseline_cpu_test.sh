#!/usr/bin/env bash
# The engine on a baseline x86-64 CPU: no AVX, AVX2, AVX-512 or F16C, as the
# Docker image may meet. Runs the core tests under qemu-user emulating
# `-cpu qemu64`, so the kernels' run-time dispatch picks the baseline clones
# and the portable FLOAT16 path, and checks that they still match the scalar
# reference and the golden vectors bit for bit.
#
#   baseline_cpu_test.sh QEMU CPU_PROBE TEST_BINARY...
set -euo pipefail
qemu=$1
probe=$2
shift 2

features=$("$qemu" -cpu qemu64 "$probe")
echo "emulated CPU: $features"
[[ "$features" == "avx512f=0 avx2=0 f16c=0" ]] || {
  echo "FAIL: the emulated CPU still offers some of them"
  exit 1
}
echo "this CPU: $("$probe")"

for test in "$@"; do
  echo "== $(basename "$test") under qemu64"
  "$qemu" -cpu qemu64 "$test" --gtest_brief=1
done
