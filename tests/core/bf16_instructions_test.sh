#!/usr/bin/env bash
# The AVX-512 kernels are compiled for a target that includes AVX512_BF16
# (core/relu_kernels.cc, ACTIVATION_AVX512_TARGET), but only the BFLOAT16
# kernel that RunRelu picks where the CPU has AVX512_BF16 may use it: any
# BF16 instruction elsewhere would fault on AVX-512 CPUs without it
# (Skylake-SP, Ice Lake). Disassembles the core library's objects and
# checks that every BF16 instruction sits in ReluHalvesAvx512<Half 2>
# (Half::kBFloat16Native), and that it has some (or the check is blind).
#
#   bf16_instructions_test.sh OBJDUMP OBJECT...
set -euo pipefail
objdump=$1
shift
functions=$(for object in "$@"; do
  "$objdump" -d -C --no-show-raw-insn "$object"
done | awk '/^[0-9a-f]+ <.*>:$/ { fn = $0 }
            /\tv(cvtne2?ps2bf16|dpbf16ps)/ { print fn }' | sort -u)
if [[ -z $functions ]]; then
  echo "no BF16 instruction at all: the BFLOAT16 kernel lost vcvtneps2bf16" >&2
  exit 1
fi
if outside=$(grep -v 'ReluHalvesAvx512<(activation::core::internal::(anonymous namespace)::Half)2>' <<< "$functions"); then
  echo "BF16 instructions outside the AVX512_BF16 kernel:" >&2
  echo "$outside" >&2
  exit 1
fi
echo "BF16 instructions only in: $functions"
