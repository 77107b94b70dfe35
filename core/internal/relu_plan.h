// A ReLU call's parameters, validated and converted for one dtype, and the
// multiversioned kernels that apply them. Internal to core/.

#ifndef ACTIVATION_CORE_INTERNAL_RELU_PLAN_H_
#define ACTIVATION_CORE_INTERNAL_RELU_PLAN_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/relu.h"

namespace activation::core::internal {

// Constants for floating-point dtypes, already rounded to the precision the
// mode prescribes, so each is exact in the compute type (float32 for the
// 16-bit formats).
struct FloatConstants {
  bool keras = false;
  bool has_max = false;
  double max_value = 0.0;
  double negative_slope = 0.0;
  double threshold = 0.0;
};

// Constants for integer dtypes. The comparisons x >= max_value and
// x >= threshold are exact as x >= ceil(param); `*_bits` hold values of the
// element type, converted to uint64_t.
struct IntConstants {
  bool has_max = false;              // max_value set and some x reaches it.
  bool identity_reachable = false;   // some x >= threshold.
  bool zero_slope = false;           // the negative branch is always 0.
  uint64_t max_ceil_bits = 0;        // ceil(max_value)
  uint64_t max_result_bits = 0;      // max_value truncated and saturated.
  uint64_t threshold_ceil_bits = 0;  // ceil(threshold), clamped to the type.
  double negative_slope = 0.0;
  double threshold = 0.0;
};

struct ReluPlan {
  DataType dtype = DataType::kFloat32;
  FloatConstants f;
  IntConstants i;
};

// Validates `params` for `dtype` and converts them. Errors as
// ValidateReluParams.
absl::StatusOr<ReluPlan> MakeReluPlan(const ReluParams& params, DataType dtype);

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
