#include "core/dtype.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>

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

TEST(DataTypeTest, ItemSizesAndNames) {
  EXPECT_EQ(ItemSize(DataType::kFloat32), 4u);
  EXPECT_EQ(ItemSize(DataType::kFloat64), 8u);
  EXPECT_EQ(ItemSize(DataType::kFloat16), 2u);
  EXPECT_EQ(ItemSize(DataType::kBFloat16), 2u);
  EXPECT_EQ(ItemSize(DataType::kInt8), 1u);
  EXPECT_EQ(ItemSize(DataType::kUInt64), 8u);
  EXPECT_EQ(DataTypeName(DataType::kBFloat16), "BFLOAT16");
  EXPECT_EQ(DataTypeName(DataType::kUInt16), "UINT16");
  EXPECT_TRUE(IsFloatingPoint(DataType::kFloat16));
  EXPECT_FALSE(IsFloatingPoint(DataType::kInt32));
  EXPECT_FALSE(IsValidDataType(0));
  EXPECT_FALSE(IsValidDataType(13));
  for (DataType dtype : kAllDataTypes) {
    EXPECT_TRUE(IsValidDataType(static_cast<int>(dtype)));
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
