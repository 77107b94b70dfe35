// Element types the engine understands, and the conversions between the
// 16-bit floating-point formats and float32.

#ifndef ACTIVATION_CORE_DTYPE_H_
#define ACTIVATION_CORE_DTYPE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "absl/strings/string_view.h"

namespace activation::core {

// The element type of a tensor. Values mirror activation.v1.DataType so an
// adapter can convert with a range check and a cast.
enum class DataType : int {
  kFloat32 = 1,
  kFloat64 = 2,
  kFloat16 = 3,   // IEEE 754 binary16.
  kBFloat16 = 4,  // The upper 16 bits of a float32.
  kInt8 = 5,
  kInt16 = 6,
  kInt32 = 7,
  kInt64 = 8,
  kUInt8 = 9,
  kUInt16 = 10,
  kUInt32 = 11,
  kUInt64 = 12,
};

inline constexpr std::array<DataType, 12> kAllDataTypes = {
    DataType::kFloat32,  DataType::kFloat64, DataType::kFloat16,
    DataType::kBFloat16, DataType::kInt8,    DataType::kInt16,
    DataType::kInt32,    DataType::kInt64,   DataType::kUInt8,
    DataType::kUInt16,   DataType::kUInt32,  DataType::kUInt64,
};

// The storage of one element of the 16-bit floating-point formats: the bit
// pattern, distinct types so that VisitDataType can tell them apart.
struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

// Names the C++ type of a dtype's elements at compile time.
template <typename T>
struct TypeTag {
  using type = T;
};

// Calls `visitor(TypeTag<T>{})` with T the element type of `dtype` (float,
// double, Float16, BFloat16, int8_t ... uint64_t) and returns its result.
// The one switch over the dtypes: everything that depends on the element
// type goes through it. `dtype` must be valid (IsValidDataType).
//
//   size_t size = VisitDataType(dtype, [](auto tag) {
//     return sizeof(typename decltype(tag)::type);
//   });
template <typename Visitor>
decltype(auto) VisitDataType(DataType dtype, Visitor&& visitor) {
  switch (dtype) {
    case DataType::kFloat64:
      return std::forward<Visitor>(visitor)(TypeTag<double>{});
    case DataType::kFloat16:
      return std::forward<Visitor>(visitor)(TypeTag<Float16>{});
    case DataType::kBFloat16:
      return std::forward<Visitor>(visitor)(TypeTag<BFloat16>{});
    case DataType::kInt8:
      return std::forward<Visitor>(visitor)(TypeTag<int8_t>{});
    case DataType::kInt16:
      return std::forward<Visitor>(visitor)(TypeTag<int16_t>{});
    case DataType::kInt32:
      return std::forward<Visitor>(visitor)(TypeTag<int32_t>{});
    case DataType::kInt64:
      return std::forward<Visitor>(visitor)(TypeTag<int64_t>{});
    case DataType::kUInt8:
      return std::forward<Visitor>(visitor)(TypeTag<uint8_t>{});
    case DataType::kUInt16:
      return std::forward<Visitor>(visitor)(TypeTag<uint16_t>{});
    case DataType::kUInt32:
      return std::forward<Visitor>(visitor)(TypeTag<uint32_t>{});
    case DataType::kUInt64:
      return std::forward<Visitor>(visitor)(TypeTag<uint64_t>{});
    case DataType::kFloat32:
      break;
  }
  return std::forward<Visitor>(visitor)(TypeTag<float>{});
}

// Returns true for the values of the DataType enumerators.
bool IsValidDataType(int value);

// Returns the size in bytes of one element of `dtype`; 0 for a value that
// is not a DataType.
size_t ItemSize(DataType dtype);

// Returns the upper-case name of `dtype` without prefix, e.g. "FLOAT32";
// "UNKNOWN" for a value that is not a DataType.
absl::string_view DataTypeName(DataType dtype);

// Returns true for FLOAT32, FLOAT64, FLOAT16 and BFLOAT16; false for the
// integer types and for a value that is not a DataType.
bool IsFloatingPoint(DataType dtype);

// Converts an IEEE binary16 bit pattern to float32. Exact.
float HalfToFloat(uint16_t bits);

// Rounds a float32 to the nearest IEEE binary16, ties to even. Overflow gives
// infinity; NaN gives a quiet NaN with the same sign.
uint16_t FloatToHalf(float value);

// Converts a bfloat16 bit pattern to float32. Exact.
float BFloat16ToFloat(uint16_t bits);

// Rounds a float32 to the nearest bfloat16, ties to even. NaN gives a quiet
// NaN with the same sign and the upper payload bits.
uint16_t FloatToBFloat16(float value);

}  // namespace activation::core

#endif  // ACTIVATION_CORE_DTYPE_H_
