// A plain scalar reference ReLU, written branch by branch from
// docs/semantics.md and independent of core/'s kernels and conversions (the
// 16-bit formats go through reference_float.h). The property tests and the
// fuzz targets check the engine against it.

#ifndef ACTIVATION_TESTS_TESTING_REFERENCE_RELU_H_
#define ACTIVATION_TESTS_TESTING_REFERENCE_RELU_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <type_traits>

#include "core/dtype.h"
#include "core/relu.h"
#include "tests/testing/reference_float.h"

namespace activation::testing {

template <typename T>
T RefDocumented(T x, std::optional<T> max_value, T slope, T threshold) {
  if (std::isnan(x)) return x;
  if (max_value && x >= *max_value) return *max_value;
  if (x >= threshold) return x;
  if (slope == T(0)) return T(0);
  return slope * (x - threshold);
}

template <typename T>
T RefMax(T a, T b) {  // NaN from a; a on ties
  if (std::isnan(a)) return a;
  return a < b ? b : a;
}
template <typename T>
T RefMin(T a, T b) {
  if (std::isnan(a)) return a;
  return b < a ? b : a;
}

template <typename T>
T RefKeras(T x, std::optional<T> max_value, T alpha, T threshold) {
  if (alpha != T(0) && !max_value && threshold == T(0)) {
    return x > T(0) ? x : alpha * x;
  }
  T negative_part = 0;
  if (alpha != T(0)) {
    negative_part = RefMax(threshold != T(0) ? -x + threshold : -x, T(0));
  }
  T y;
  if (threshold != T(0)) {
    y = x * (x > threshold ? T(1) : T(0));
  } else {
    y = RefMax(x, T(0));
  }
  if (max_value) y = RefMin(RefMax(y, T(0)), *max_value);
  if (alpha != T(0)) y -= alpha * negative_part;
  return y;
}

// Rounds a parameter as the mode and dtype prescribe, then widens it to the
// compute type exactly.
inline double RefParam(double value, core::Mode mode, core::DataType dtype) {
  if (mode == core::Mode::kKeras) value = static_cast<float>(value);
  switch (dtype) {
    case core::DataType::kFloat32:
      return static_cast<float>(value);
    case core::DataType::kFloat16:
      return RefHalfToFloat(RefHalfFromDouble(value));
    case core::DataType::kBFloat16:
      return RefBFloat16ToFloat(RefBFloat16FromDouble(value));
    default:
      return value;
  }
}

// The reference for float and double elements (and for the 16-bit formats'
// float32 compute, with `dtype` naming the format).
template <typename T>
T RefFloat(T x, const core::ReluParams& p, core::DataType dtype) {
  std::optional<T> max_value;
  if (p.max_value)
    max_value = static_cast<T>(RefParam(*p.max_value, p.mode, dtype));
  const T slope = static_cast<T>(RefParam(p.negative_slope, p.mode, dtype));
  const T threshold = static_cast<T>(RefParam(p.threshold, p.mode, dtype));
  return p.mode == core::Mode::kKeras
             ? RefKeras(x, max_value, slope, threshold)
             : RefDocumented(x, max_value, slope, threshold);
}

// The reference for FLOAT16 and BFLOAT16 bit patterns: widen, compute in
// float32, round to nearest even; NaN comes back unchanged.
inline uint16_t RefHalfType(uint16_t h, const core::ReluParams& p,
                            core::DataType dtype) {
  const bool bf16 = dtype == core::DataType::kBFloat16;
  const float x = bf16 ? RefBFloat16ToFloat(h) : RefHalfToFloat(h);
  if (std::isnan(x)) return h;
  const float y = RefFloat<float>(x, p, dtype);
  return bf16 ? RefBFloat16FromDouble(y) : RefHalfFromDouble(y);
}

// Integers: long double holds every int64 exactly, so comparisons are exact.
template <typename I>
I RefSaturate(long double v) {
  v = std::trunc(v);
  if (v <= static_cast<long double>(std::numeric_limits<I>::min())) {
    return std::numeric_limits<I>::min();
  }
  if (v >= static_cast<long double>(std::numeric_limits<I>::max())) {
    return std::numeric_limits<I>::max();
  }
  return static_cast<I>(v);
}

template <typename I>
I RefInt(I x, const core::ReluParams& p) {
  const long double lx = x;
  if (p.max_value && lx >= *p.max_value) return RefSaturate<I>(*p.max_value);
  if (lx >= p.threshold) return x;
  return RefSaturate<I>(p.negative_slope *
                        (static_cast<double>(x) - p.threshold));
}

// Returns true when `value`, stored as `dtype` (uint16_t for the 16-bit
// formats), is a NaN.
template <typename T>
bool IsNaNStored(T value, core::DataType dtype) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::isnan(value);
  } else if constexpr (std::is_same_v<T, uint16_t>) {
    if (dtype == core::DataType::kFloat16) {
      return std::isnan(RefHalfToFloat(value));
    }
    if (dtype == core::DataType::kBFloat16) {
      return std::isnan(RefBFloat16ToFloat(value));
    }
  }
  return false;
}

// Bit-exact, except that KERAS mode promises NaN but not which NaN (x86 and
// TensorFlow's kernels may differ in sign and payload).
template <typename T>
bool SameResult(T expected, T actual, core::Mode mode, core::DataType dtype) {
  if (mode == core::Mode::kKeras && IsNaNStored(expected, dtype)) {
    return IsNaNStored(actual, dtype);
  }
  return std::memcmp(&expected, &actual, sizeof(T)) == 0;
}

// Calls fn(Stored{}, reference) with the type an element of `dtype` is
// stored as (uint16_t for the 16-bit formats) and the reference for it,
// a function (Stored, const core::ReluParams&) -> Stored.
template <typename Fn>
decltype(auto) WithReference(core::DataType dtype, const Fn& fn) {
  return core::VisitDataType(dtype, [&](auto tag) -> decltype(auto) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, core::Float16> ||
                  std::is_same_v<T, core::BFloat16>) {
      return fn(uint16_t{}, [dtype](uint16_t x, const core::ReluParams& p) {
        return RefHalfType(x, p, dtype);
      });
    } else if constexpr (std::is_floating_point_v<T>) {
      return fn(T{}, [dtype](T x, const core::ReluParams& p) {
        return RefFloat<T>(x, p, dtype);
      });
    } else {
      return fn(T{},
                [](T x, const core::ReluParams& p) { return RefInt<T>(x, p); });
    }
  });
}

// Computes the reference ReLU of `count` elements of `dtype` at `input`
// (any alignment) into `output`, which may be `input`. `p` must be valid
// for `dtype`.
inline void RefReluBytes(const core::ReluParams& p, core::DataType dtype,
                         const uint8_t* input, uint8_t* output, size_t count) {
  WithReference(dtype, [&](auto zero, const auto& reference) {
    using Stored = decltype(zero);
    for (size_t i = 0; i < count; ++i) {
      Stored x;
      std::memcpy(&x, input + i * sizeof(Stored), sizeof(Stored));
      const Stored y = reference(x, p);
      std::memcpy(output + i * sizeof(Stored), &y, sizeof(Stored));
    }
  });
}

// Returns the index of the first of `count` elements of `dtype` where
// `actual` is not the SameResult as `expected`, or `count` when all are.
inline size_t FirstMismatch(const core::ReluParams& p, core::DataType dtype,
                            const uint8_t* expected, const uint8_t* actual,
                            size_t count) {
  return WithReference(dtype, [&](auto zero, const auto&) {
    using Stored = decltype(zero);
    for (size_t i = 0; i < count; ++i) {
      Stored e, a;
      std::memcpy(&e, expected + i * sizeof(Stored), sizeof(Stored));
      std::memcpy(&a, actual + i * sizeof(Stored), sizeof(Stored));
      if (!SameResult(e, a, p.mode, dtype)) return i;
    }
    return count;
  });
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_REFERENCE_RELU_H_
