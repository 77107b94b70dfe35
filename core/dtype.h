// Element types the engine understands, and the conversions between the
// 16-bit floating-point formats and float32.

#ifndef ACTIVATION_CORE_DTYPE_H_
#define ACTIVATION_CORE_DTYPE_H_

#include <array>
#include <cstddef>
#include <cstdint>

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

// Returns true for the values of the DataType enumerators.
bool IsValidDataType(int value);

// Returns the size in bytes of one element of `dtype`.
size_t ItemSize(DataType dtype);

// Returns the upper-case name of `dtype` without prefix, e.g. "FLOAT32".
absl::string_view DataTypeName(DataType dtype);

// Returns true for FLOAT32, FLOAT64, FLOAT16 and BFLOAT16.
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
