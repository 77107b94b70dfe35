#include "core/dtype.h"

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <type_traits>

#include "core/internal/bits.h"

namespace activation::core {

bool IsValidDataType(int value) {
  return value >= static_cast<int>(DataType::kFloat32) &&
         value <= static_cast<int>(DataType::kUInt64);
}

size_t ItemSize(DataType dtype) {
  if (!IsValidDataType(static_cast<int>(dtype))) return 0;
  return VisitDataType(
      dtype, [](auto tag) { return sizeof(typename decltype(tag)::type); });
}

absl::string_view DataTypeName(DataType dtype) {
  // Indexed by the enumerator's value minus one.
  static constexpr absl::string_view kNames[] = {
      "FLOAT32", "FLOAT64", "FLOAT16", "BFLOAT16", "INT8",   "INT16",
      "INT32",   "INT64",   "UINT8",   "UINT16",   "UINT32", "UINT64",
  };
  static_assert(std::size(kNames) == kAllDataTypes.size());
  if (!IsValidDataType(static_cast<int>(dtype))) return "UNKNOWN";
  return kNames[static_cast<int>(dtype) - 1];
}

bool IsFloatingPoint(DataType dtype) {
  if (!IsValidDataType(static_cast<int>(dtype))) return false;
  return VisitDataType(dtype, [](auto tag) {
    return !std::is_integral_v<typename decltype(tag)::type>;
  });
}

float HalfToFloat(uint16_t bits) { return internal::HalfBitsToFloat(bits); }
uint16_t FloatToHalf(float value) { return internal::FloatToHalfBits(value); }
float BFloat16ToFloat(uint16_t bits) {
  return internal::BFloat16BitsToFloat(bits);
}
uint16_t FloatToBFloat16(float value) {
  return internal::FloatToBFloat16Bits(value);
}

}  // namespace activation::core
