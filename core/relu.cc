#include "core/relu.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/internal/bits.h"
#include "core/internal/relu_plan.h"

namespace activation::core {
namespace {

absl::Status CheckFinite(absl::string_view name, double value) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be finite, got ", value));
  }
  return absl::OkStatus();
}

absl::Status CheckNonNegative(absl::string_view name, double value) {
  if (!(value >= 0.0)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be >= 0, got ", value));
  }
  return absl::OkStatus();
}

// Keras stores its parameters as float32; one that overflows it would become
// infinity there.
absl::Status CheckFitsFloat32(absl::string_view name, double value) {
  if (std::isinf(static_cast<float>(value))) {
    return absl::InvalidArgumentError(absl::StrCat(
        name, " ", value,
        " overflows float32, in which KERAS mode stores parameters"));
  }
  return absl::OkStatus();
}

// Rounds to float32 toward zero and sets the lowest mantissa bit when that
// was inexact ("round to odd"). Rounding the result once more to a format at
// least two bits narrower then equals rounding `value` directly.
float RoundToOddFloat(double value) {
  float f = static_cast<float>(value);
  if (std::fabs(static_cast<double>(f)) > std::fabs(value)) {
    f = std::nextafter(f, 0.0f);
  }
  if (static_cast<double>(f) != value) {
    f = internal::FloatFromBits(internal::BitsFromFloat(f) | 1u);
  }
  return f;
}

// Rounds `value` to the precision of T, ties to even, and returns it exactly
// as a double.
double RoundTo(TypeTag<float>, double value) {
  return static_cast<float>(value);
}
double RoundTo(TypeTag<double>, double value) { return value; }
double RoundTo(TypeTag<Float16>, double value) {
  return internal::HalfBitsToFloat(
      internal::FloatToHalfBits(RoundToOddFloat(value)));
}
double RoundTo(TypeTag<BFloat16>, double value) {
  return internal::BFloat16BitsToFloat(
      internal::FloatToBFloat16Bits(RoundToOddFloat(value)));
}

template <typename T>
internal::FloatConstants MakeFloatConstants(const ReluParams& params) {
  const bool keras = params.mode == Mode::kKeras;
  // KERAS mode first rounds to float32, as Keras stores the parameters.
  auto convert = [&](double value) {
    if (keras) value = static_cast<float>(value);
    return RoundTo(TypeTag<T>{}, value);
  };
  internal::FloatConstants c;
  c.keras = keras;
  c.has_max = params.max_value.has_value();
  c.max_value = c.has_max ? convert(*params.max_value) : 0.0;
  c.negative_slope = convert(params.negative_slope);
  c.threshold = convert(params.threshold);
  return c;
}

template <typename I>
uint64_t ToBits(I value) {
  return static_cast<uint64_t>(value);
}

template <typename I>
internal::IntConstants MakeIntConstants(const ReluParams& params) {
  constexpr double kMin = static_cast<double>(std::numeric_limits<I>::min());
  // 2^digits: the first integer above the type's maximum; exact in double.
  const double kEnd = std::ldexp(1.0, std::numeric_limits<I>::digits);
  auto saturate = [&](double integral) -> I {
    if (integral <= kMin) return std::numeric_limits<I>::min();
    if (integral >= kEnd) return std::numeric_limits<I>::max();
    return static_cast<I>(integral);
  };
  internal::IntConstants c;
  const double threshold_ceil = std::ceil(params.threshold);
  c.identity_reachable = threshold_ceil < kEnd;
  c.threshold_ceil_bits = ToBits(saturate(threshold_ceil));
  if (params.max_value.has_value()) {
    const double max_ceil = std::ceil(*params.max_value);
    c.has_max = max_ceil < kEnd;
    c.max_ceil_bits = ToBits(saturate(max_ceil));
    c.max_result_bits = ToBits(saturate(std::trunc(*params.max_value)));
  }
  c.zero_slope = std::is_unsigned_v<I> || params.negative_slope == 0.0;
  c.negative_slope = params.negative_slope;
  c.threshold = params.threshold;
  return c;
}

// Converts `params`, which must be valid for `dtype`, to the plan the kernels
// run.
internal::ReluPlan MakeReluPlan(const ReluParams& params, DataType dtype) {
  internal::ReluPlan plan;
  plan.dtype = dtype;
  VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_integral_v<T>) {
      plan.i = MakeIntConstants<T>(params);
    } else {
      plan.f = MakeFloatConstants<T>(params);
    }
  });
  return plan;
}

}  // namespace

absl::Status ValidateReluParams(const ReluParams& params, DataType dtype) {
  if (!IsValidDataType(static_cast<int>(dtype))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "dtype must be a known DataType, got ", static_cast<int>(dtype)));
  }
  if (params.max_value.has_value()) {
    if (absl::Status s = CheckFinite("max_value", *params.max_value); !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckNonNegative("max_value", *params.max_value);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckFinite("negative_slope", params.negative_slope);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          CheckNonNegative("negative_slope", params.negative_slope);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckFinite("threshold", params.threshold); !s.ok()) {
    return s;
  }
  if (params.mode != Mode::kDocumented && params.mode != Mode::kKeras) {
    return absl::InvalidArgumentError(
        absl::StrCat("mode must be DOCUMENTED or KERAS, got ",
                     static_cast<int>(params.mode)));
  }
  if (params.mode == Mode::kKeras) {
    if (!IsFloatingPoint(dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat("mode KERAS supports floating-point dtypes only, got ",
                       DataTypeName(dtype)));
    }
    if (params.max_value.has_value()) {
      if (absl::Status s = CheckFitsFloat32("max_value", *params.max_value);
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s =
            CheckFitsFloat32("negative_slope", params.negative_slope);
        !s.ok()) {
      return s;
    }
    return CheckFitsFloat32("threshold", params.threshold);
  }
  return absl::OkStatus();
}

namespace internal {

absl::Status CheckBuffers(const void* input, void* output, size_t bytes) {
  if (bytes == 0 || input == output) return absl::OkStatus();
  const auto in = reinterpret_cast<uintptr_t>(input);
  const auto out = reinterpret_cast<uintptr_t>(output);
  if (in < out + bytes && out < in + bytes) {
    return absl::InvalidArgumentError(
        "input and output overlap without being the same buffer");
  }
  return absl::OkStatus();
}

}  // namespace internal

absl::StatusOr<ReluOp> ReluOp::Create(const ReluParams& params,
                                      DataType dtype) {
  if (absl::Status s = ValidateReluParams(params, dtype); !s.ok()) return s;
  return ReluOp(MakeReluPlan(params, dtype));
}

absl::Status ReluOp::Apply(const void* input, void* output,
                           size_t count) const {
  if (absl::Status s =
          internal::CheckBuffers(input, output, count * ItemSize(dtype()));
      !s.ok()) {
    return s;
  }
  if (count == 0) return absl::OkStatus();
  internal::RunRelu(plan_, static_cast<const uint8_t*>(input),
                    static_cast<uint8_t*>(output), count);
  return absl::OkStatus();
}

absl::Status Relu(const ReluParams& params, DataType dtype, const void* input,
                  void* output, size_t count) {
  absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
  if (!op.ok()) return op.status();
  return op->Apply(input, output, count);
}

}  // namespace activation::core
