#include "core/dtype.h"

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <random>
#include <type_traits>

#include "gtest/gtest.h"
#include "tests/testing/reference_float.h"

namespace activation::core {
namespace {

uint32_t Bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof(b));
  return b;
}

float FromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof(f));
  return f;
}

using ::activation::testing::RefBFloat16FromDouble;
using ::activation::testing::RefHalfFromDouble;
using ::activation::testing::RefHalfToFloat;

// Returns true when VisitDataType calls the visitor with TypeTag<Expected>.
template <typename Expected>
bool VisitsAs(DataType dtype) {
  return VisitDataType(dtype, [](auto tag) {
    return std::is_same_v<typename decltype(tag)::type, Expected>;
  });
}

TEST(VisitDataTypeTest, EachDtypeGivesItsElementType) {
  EXPECT_TRUE(VisitsAs<float>(DataType::kFloat32));
  EXPECT_TRUE(VisitsAs<double>(DataType::kFloat64));
  EXPECT_TRUE(VisitsAs<Float16>(DataType::kFloat16));
  EXPECT_TRUE(VisitsAs<BFloat16>(DataType::kBFloat16));
  EXPECT_TRUE(VisitsAs<int8_t>(DataType::kInt8));
  EXPECT_TRUE(VisitsAs<int16_t>(DataType::kInt16));
  EXPECT_TRUE(VisitsAs<int32_t>(DataType::kInt32));
  EXPECT_TRUE(VisitsAs<int64_t>(DataType::kInt64));
  EXPECT_TRUE(VisitsAs<uint8_t>(DataType::kUInt8));
  EXPECT_TRUE(VisitsAs<uint16_t>(DataType::kUInt16));
  EXPECT_TRUE(VisitsAs<uint32_t>(DataType::kUInt32));
  EXPECT_TRUE(VisitsAs<uint64_t>(DataType::kUInt64));
  EXPECT_FALSE(VisitsAs<uint16_t>(DataType::kFloat16));
  EXPECT_FALSE(VisitsAs<Float16>(DataType::kBFloat16));
}

TEST(VisitDataTypeTest, TypeSizesAreTheElementSizes) {
  static_assert(sizeof(Float16) == 2 && alignof(Float16) == 2);
  static_assert(sizeof(BFloat16) == 2 && alignof(BFloat16) == 2);
  const struct {
    DataType dtype;
    size_t size;
  } kCases[] = {
      {DataType::kFloat32, 4}, {DataType::kFloat64, 8},
      {DataType::kFloat16, 2}, {DataType::kBFloat16, 2},
      {DataType::kInt8, 1},    {DataType::kInt16, 2},
      {DataType::kInt32, 4},   {DataType::kInt64, 8},
      {DataType::kUInt8, 1},   {DataType::kUInt16, 2},
      {DataType::kUInt32, 4},  {DataType::kUInt64, 8},
  };
  for (const auto& c : kCases) {
    const size_t size = VisitDataType(
        c.dtype, [](auto tag) { return sizeof(typename decltype(tag)::type); });
    EXPECT_EQ(size, c.size) << DataTypeName(c.dtype);
    EXPECT_EQ(ItemSize(c.dtype), c.size) << DataTypeName(c.dtype);
  }
}

TEST(VisitDataTypeTest, ReturnsWhatTheVisitorReturnsReferencesIncluded) {
  int counter = 0;
  int& result =
      VisitDataType(DataType::kInt32, [&](auto) -> int& { return counter; });
  result = 7;
  EXPECT_EQ(counter, 7);
  int calls = 0;
  VisitDataType(DataType::kUInt64, [&](auto) { ++calls; });
  EXPECT_EQ(calls, 1);
}

TEST(DataTypeTest, NamesSizesAndKindsOfEveryDtype) {
  const struct {
    DataType dtype;
    const char* name;
    bool floating_point;
  } kCases[] = {
      {DataType::kFloat32, "FLOAT32", true},
      {DataType::kFloat64, "FLOAT64", true},
      {DataType::kFloat16, "FLOAT16", true},
      {DataType::kBFloat16, "BFLOAT16", true},
      {DataType::kInt8, "INT8", false},
      {DataType::kInt16, "INT16", false},
      {DataType::kInt32, "INT32", false},
      {DataType::kInt64, "INT64", false},
      {DataType::kUInt8, "UINT8", false},
      {DataType::kUInt16, "UINT16", false},
      {DataType::kUInt32, "UINT32", false},
      {DataType::kUInt64, "UINT64", false},
  };
  ASSERT_EQ(std::size(kCases), kAllDataTypes.size());
  for (size_t i = 0; i < kAllDataTypes.size(); ++i) {
    const auto& c = kCases[i];
    EXPECT_EQ(kAllDataTypes[i], c.dtype);
    EXPECT_TRUE(IsValidDataType(static_cast<int>(c.dtype)));
    EXPECT_EQ(DataTypeName(c.dtype), c.name);
    EXPECT_EQ(IsFloatingPoint(c.dtype), c.floating_point) << c.name;
  }
}

TEST(DataTypeTest, ValuesOutsideTheEnumAreInvalidAndHaveNoSizeOrName) {
  for (int value : {0, 13, -1}) {
    const auto dtype = static_cast<DataType>(value);
    EXPECT_FALSE(IsValidDataType(value));
    EXPECT_EQ(ItemSize(dtype), 0u);
    EXPECT_EQ(DataTypeName(dtype), "UNKNOWN");
    EXPECT_FALSE(IsFloatingPoint(dtype));
  }
}

TEST(HalfTest, EveryHalfWidensExactly) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto h = static_cast<uint16_t>(b);
    const float expected = RefHalfToFloat(h);
    const float actual = HalfToFloat(h);
    if (std::isnan(expected)) {
      ASSERT_TRUE(std::isnan(actual)) << std::hex << b;
      EXPECT_EQ(std::signbit(actual), std::signbit(expected)) << std::hex << b;
    } else {
      ASSERT_EQ(Bits(actual), Bits(expected)) << std::hex << b;
    }
  }
}

TEST(HalfTest, EveryHalfRoundTrips) {
  for (uint32_t b = 0; b <= 0xFFFF; ++b) {
    const auto h = static_cast<uint16_t>(b);
    if ((h & 0x7FFF) > 0x7C00) continue;  // NaN
    ASSERT_EQ(FloatToHalf(HalfToFloat(h)), h) << std::hex << b;
  }
}

TEST(HalfTest, NarrowingMatchesReferenceOnTiesNeighboursAndRandomFloats) {
  // Every midpoint between neighbouring halves, and one float either side.
  for (uint32_t b = 0; b < 0x7C00; ++b) {
    const float lo = HalfToFloat(static_cast<uint16_t>(b));
    const float hi = HalfToFloat(static_cast<uint16_t>(b + 1));
    const float mid = lo + (hi - lo) / 2;
    for (float f : {mid, std::nextafter(mid, 0.0f),
                    std::nextafter(mid, std::numeric_limits<float>::max())}) {
      ASSERT_EQ(FloatToHalf(f), RefHalfFromDouble(f)) << f;
      ASSERT_EQ(FloatToHalf(-f), RefHalfFromDouble(-f)) << -f;
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2'000'000; ++i) {
    const float f = FromBits(static_cast<uint32_t>(rng()));
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToHalf(f), RefHalfFromDouble(f)) << std::hexfloat << f;
  }
}

TEST(HalfTest, OverflowGivesInfinityAndNaNStaysNaN) {
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7BFF);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7C00);  // the tie rounds up to inf
  EXPECT_EQ(FloatToHalf(-1e10f), 0xFC00);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::quiet_NaN()), 0x7E00);
  EXPECT_EQ(FloatToHalf(-std::numeric_limits<float>::quiet_NaN()), 0xFE00);
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
}

TEST(BFloat16Test, WideningIsTheUpperHalfOfAFloat) {
  EXPECT_EQ(Bits(BFloat16ToFloat(0x3F80)), Bits(1.0f));
  EXPECT_EQ(Bits(BFloat16ToFloat(0x8000)), Bits(-0.0f));
  EXPECT_EQ(Bits(BFloat16ToFloat(0x0001)), 0x00010000u);
}

TEST(BFloat16Test, NarrowingMatchesReference) {
  std::mt19937 rng(11);
  for (int i = 0; i < 2'000'000; ++i) {
    // Random bits, and exact ties (low 16 bits 0x8000) a quarter of the time.
    uint32_t b = static_cast<uint32_t>(rng());
    if (i % 4 == 0) b = (b & 0xFFFF0000u) | 0x8000u;
    const float f = FromBits(b);
    if (std::isnan(f)) continue;
    ASSERT_EQ(FloatToBFloat16(f), RefBFloat16FromDouble(f)) << std::hex << b;
  }
  EXPECT_EQ(FloatToBFloat16(1.0f + 0x1p-8f), 0x3F80);    // tie to even: down
  EXPECT_EQ(FloatToBFloat16(1.0f + 0x1.8p-7f), 0x3F82);  // tie to even: up
  EXPECT_EQ(FloatToBFloat16(std::numeric_limits<float>::max()), 0x7F80);
}

TEST(BFloat16Test, NaNStaysQuietNaNWithItsSign) {
  EXPECT_EQ(FloatToBFloat16(FromBits(0x7F800001u)), 0x7FC0);  // signalling
  EXPECT_EQ(FloatToBFloat16(FromBits(0xFFC00000u)), 0xFFC0);
  EXPECT_EQ(FloatToBFloat16(FromBits(0x7FAB0000u)), 0x7FEB);
}

}  // namespace
}  // namespace activation::core
