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

// The two FLOAT16 kernels RunRelu picks from; they give identical bytes.
// ReluFloat16F16C may only run where CpuHasF16C() is true.
bool CpuHasF16C();
void ReluFloat16Portable(const FloatConstants& c, const uint8_t* input,
                         uint8_t* output, size_t count);
void ReluFloat16F16C(const FloatConstants& c, const uint8_t* input,
                     uint8_t* output, size_t count);

}  // namespace activation::core::internal

#endif  // ACTIVATION_CORE_INTERNAL_RELU_PLAN_H_
