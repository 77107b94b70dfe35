#include "core/dtype.h"

#include <cstdint>
#include <cstring>

#include "core/internal/bits.h"

namespace activation::core {

bool IsValidDataType(int value) {
  return value >= static_cast<int>(DataType::kFloat32) &&
         value <= static_cast<int>(DataType::kUInt64);
}

size_t ItemSize(DataType dtype) {
  switch (dtype) {
    case DataType::kInt8:
    case DataType::kUInt8:
      return 1;
    case DataType::kFloat16:
    case DataType::kBFloat16:
    case DataType::kInt16:
    case DataType::kUInt16:
      return 2;
    case DataType::kFloat32:
    case DataType::kInt32:
    case DataType::kUInt32:
      return 4;
    case DataType::kFloat64:
    case DataType::kInt64:
    case DataType::kUInt64:
      return 8;
  }
  return 0;
}

absl::string_view DataTypeName(DataType dtype) {
  switch (dtype) {
    case DataType::kFloat32:
      return "FLOAT32";
    case DataType::kFloat64:
      return "FLOAT64";
    case DataType::kFloat16:
      return "FLOAT16";
    case DataType::kBFloat16:
      return "BFLOAT16";
    case DataType::kInt8:
      return "INT8";
    case DataType::kInt16:
      return "INT16";
    case DataType::kInt32:
      return "INT32";
    case DataType::kInt64:
      return "INT64";
    case DataType::kUInt8:
      return "UINT8";
    case DataType::kUInt16:
      return "UINT16";
    case DataType::kUInt32:
      return "UINT32";
    case DataType::kUInt64:
      return "UINT64";
  }
  return "UNKNOWN";
}

bool IsFloatingPoint(DataType dtype) {
  return dtype == DataType::kFloat32 || dtype == DataType::kFloat64 ||
         dtype == DataType::kFloat16 || dtype == DataType::kBFloat16;
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
