#include "client/cli/values.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace activation::cli {
namespace {

// Parses one entry as the integer type T, exactly and within T's range.
template <typename T>
absl::StatusOr<T> ParseInteger(absl::string_view text, core::DataType dtype) {
  using Wide = std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>;
  constexpr Wide kLo = std::numeric_limits<T>::min();
  constexpr Wide kHi = std::numeric_limits<T>::max();
  Wide value;
  if (!absl::SimpleAtoi(text, &value) || value < kLo || value > kHi) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--values: \"", text, "\" is not an integer in ",
        core::DataTypeName(dtype), "'s range [", kLo, ", ", kHi, "]"));
  }
  return static_cast<T>(value);
}

// Rounds a parsed floating-point entry to the storage of T.
template <typename T>
T FromDouble(double value) {
  return static_cast<T>(value);
}
template <>
core::Float16 FromDouble<core::Float16>(double value) {
  return {core::FloatToHalf(static_cast<float>(value))};
}
template <>
core::BFloat16 FromDouble<core::BFloat16>(double value) {
  return {core::FloatToBFloat16(static_cast<float>(value))};
}

// Parses one entry as an element of type T.
template <typename T>
absl::StatusOr<T> ParseElement(absl::string_view text, core::DataType dtype) {
  if constexpr (std::is_integral_v<T>) {
    return ParseInteger<T>(text, dtype);
  } else {
    double value;
    if (!absl::SimpleAtod(text, &value)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--values: not a number: \"", text, "\""));
    }
    return FromDouble<T>(value);
  }
}

// The printable value of an element: 16-bit floats as float32, 8-bit
// integers as numbers rather than characters.
template <typename T>
auto Printable(T value) {
  if constexpr (std::is_integral_v<T>) {
    return static_cast<
        std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(value);
  } else {
    return value;
  }
}
float Printable(core::Float16 value) { return core::HalfToFloat(value.bits); }
float Printable(core::BFloat16 value) {
  return core::BFloat16ToFloat(value.bits);
}

}  // namespace

absl::StatusOr<Tensor> TensorFromValues(absl::string_view text,
                                        core::DataType dtype) {
  Tensor tensor;
  tensor.dtype = dtype;
  int64_t count = 0;
  absl::Status status = core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    for (absl::string_view part : absl::StrSplit(text, ',')) {
      absl::StatusOr<T> element =
          ParseElement<T>(absl::StripAsciiWhitespace(part), dtype);
      if (!element.ok()) return element.status();
      tensor.data.append(reinterpret_cast<const char*>(&*element), sizeof(T));
      ++count;
    }
    return absl::OkStatus();
  });
  if (!status.ok()) return status;
  tensor.shape = {count};
  return tensor;
}

std::string FormatValues(const Tensor& tensor) {
  return core::VisitDataType(tensor.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<std::string> out;
    for (size_t i = 0; i + sizeof(T) <= tensor.data.size(); i += sizeof(T)) {
      T element;
      std::memcpy(&element, tensor.data.data() + i, sizeof(T));
      out.push_back(absl::StrCat(Printable(element)));
    }
    return absl::StrJoin(out, ",");
  });
}

}  // namespace activation::cli
