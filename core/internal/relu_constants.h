// The constants a ReLU call computes with, for one dtype. Internal to core/;
// in a header of its own so that core/relu.h can hold a plan by value.

#ifndef ACTIVATION_CORE_INTERNAL_RELU_CONSTANTS_H_
#define ACTIVATION_CORE_INTERNAL_RELU_CONSTANTS_H_

#include <cstdint>

#include "core/dtype.h"

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

}  // namespace activation::core::internal

#endif  // ACTIVATION_CORE_INTERNAL_RELU_CONSTANTS_H_
