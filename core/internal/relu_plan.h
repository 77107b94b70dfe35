// The multiversioned kernels that apply a ReluPlan (core/relu.h's ReluOp
// makes one), and the buffer check ReluOp::Apply and Engine::Relu share.
// Internal to core/.

#ifndef ACTIVATION_CORE_INTERNAL_RELU_PLAN_H_
#define ACTIVATION_CORE_INTERNAL_RELU_PLAN_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "core/internal/relu_constants.h"

namespace activation::core::internal {

// Returns InvalidArgument when buffers of `bytes` at `input` and `output`
// overlap without being the same.
absl::Status CheckBuffers(const void* input, void* output, size_t bytes);

// Applies `plan` to `count` elements. `input == output` computes in place;
// otherwise the ranges must not overlap. No alignment needed.
void RunRelu(const ReluPlan& plan, const uint8_t* input, uint8_t* output,
             size_t count);

// Applies `plan` as RunRelu does, through the portable kernels only: the
// definition every faster kernel RunRelu picks must match bit for bit.
void RunReluPortable(const ReluPlan& plan, const uint8_t* input,
                     uint8_t* output, size_t count);

// What the CPU offers of the instruction sets RunRelu dispatches on.
bool CpuHasF16C();
bool CpuHasAvx512();      // AVX-512 F, BW, DQ and VL, and F16C.
bool CpuHasAvx512Vbmi();  // and AVX-512 VBMI.
bool CpuHasAvx512Bf16();  // and AVX512_BF16.

// The FLOAT16 kernels RunRelu picks from; they give identical bytes.
// ReluFloat16F16C may only run where CpuHasF16C() is true, ReluFloat16Avx512
// where CpuHasAvx512() is.
void ReluFloat16Portable(const FloatConstants& c, const uint8_t* input,
                         uint8_t* output, size_t count);
void ReluFloat16F16C(const FloatConstants& c, const uint8_t* input,
                     uint8_t* output, size_t count);
void ReluFloat16Avx512(const FloatConstants& c, const uint8_t* input,
                       uint8_t* output, size_t count);
// The BFLOAT16 kernels with AVX-512, the same bytes as the portable kernel:
// narrowing in integers, where CpuHasAvx512() is true, or with AVX512_BF16's
// vcvtneps2bf16, where CpuHasAvx512Bf16() is.
void ReluBFloat16Avx512(const FloatConstants& c, const uint8_t* input,
                        uint8_t* output, size_t count);
void ReluBFloat16Avx512Bf16(const FloatConstants& c, const uint8_t* input,
                            uint8_t* output, size_t count);

// INT16 and INT32 with a slope (c.zero_slope false) with AVX-512, the same
// bytes as the portable kernel; may only run where CpuHasAvx512() is true.
void ReluInt16Avx512(const IntConstants& c, const uint8_t* input,
                     uint8_t* output, size_t count);
void ReluInt32Avx512(const IntConstants& c, const uint8_t* input,
                     uint8_t* output, size_t count);

// The 8-bit path: `table` (256 bytes) gets the op's result for every byte
// value of INT8 or UINT8 `dtype`, from the portable kernel; then
// ApplyByteTableVbmi maps `count` bytes through it (in place when `input ==
// output`). ApplyByteTableVbmi may only run where CpuHasAvx512Vbmi() is true.
void MakeByteTable(DataType dtype, const IntConstants& c, uint8_t* table);
void ApplyByteTableVbmi(const uint8_t* table, const uint8_t* input,
                        uint8_t* output, size_t count);

}  // namespace activation::core::internal

#endif  // ACTIVATION_CORE_INTERNAL_RELU_PLAN_H_
