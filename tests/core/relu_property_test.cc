// The engine against the plain scalar reference of
// tests/testing/reference_relu.h, on random inputs full of NaN, infinities,
// signed zeros, subnormals and values equal to the parameters.

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "gtest/gtest.h"
#include "tests/testing/reference_float.h"
#include "tests/testing/reference_relu.h"
#include "tests/testing/status_matchers.h"

namespace activation::core {
namespace {

using ::activation::testing::RefBFloat16FromDouble;
using ::activation::testing::RefFloat;
using ::activation::testing::RefHalfFromDouble;
using ::activation::testing::RefHalfType;
using ::activation::testing::RefInt;
using ::activation::testing::SameResult;

// ---- Random inputs ----

template <typename T>
T RandomFloat(std::mt19937_64& rng, const ReluParams& p) {
  std::uniform_int_distribution<int> kind(0, 19);
  std::uniform_real_distribution<double> unit(-1.0, 1.0);
  constexpr T kInf = std::numeric_limits<T>::infinity();
  switch (kind(rng)) {
    case 0: {  // NaN with a random payload and sign
      T nan = std::numeric_limits<T>::quiet_NaN();
      if (rng() % 2) nan = -nan;
      return nan;
    }
    case 1:
      return kInf;
    case 2:
      return -kInf;
    case 3:
      return T(0);
    case 4:
      return -T(0);
    case 5:
      return std::numeric_limits<T>::denorm_min() * T(rng() % 100);
    case 6:
      return -std::numeric_limits<T>::denorm_min() * T(rng() % 100);
    case 7:
      return static_cast<T>(p.threshold);
    case 8:
      return static_cast<T>(p.max_value.value_or(1.0));
    case 9:
      return static_cast<T>(unit(rng) * 1e30);
    default:
      return static_cast<T>(unit(rng) * 8.0);
  }
}

template <typename I>
I RandomInt(std::mt19937_64& rng, const ReluParams& p) {
  switch (rng() % 6) {
    case 0:
      return std::numeric_limits<I>::min();
    case 1:
      return std::numeric_limits<I>::max();
    case 2:
      return static_cast<I>(std::clamp<double>(
          std::ceil(p.threshold), std::numeric_limits<I>::min(),
          static_cast<double>(std::numeric_limits<I>::max()) / 2));
    case 3:
      return static_cast<I>(static_cast<int64_t>(rng() % 21) - 10);
    default:
      return static_cast<I>(rng());
  }
}

std::vector<ReluParams> ParamGrid(bool keras) {
  std::vector<ReluParams> grid;
  const std::vector<std::optional<double>> maxes = {std::nullopt, 0.0, 0.1,
                                                    6.0,          2.5, 1e10};
  for (const auto& max_value : maxes) {
    for (double slope : {0.0, 0.2, 1.0, 2.5}) {
      for (double threshold : {0.0, -0.7, 0.3, 3.5, 7.25, 1e-50}) {
        ReluParams p;
        p.max_value = max_value;
        p.negative_slope = slope;
        p.threshold = threshold;
        p.mode = keras ? Mode::kKeras : Mode::kDocumented;
        grid.push_back(p);
      }
    }
  }
  return grid;
}

std::string Describe(const ReluParams& p, DataType dtype) {
  return absl::StrCat(
      DataTypeName(dtype),
      " mode=", p.mode == Mode::kKeras ? "KERAS" : "DOCUMENTED",
      " max_value=", p.max_value ? absl::StrCat(*p.max_value) : "none",
      " slope=", p.negative_slope, " threshold=", p.threshold);
}

template <typename Stored>
void CheckDtype(DataType dtype, const std::vector<ReluParams>& grid,
                Stored (*make)(std::mt19937_64&, const ReluParams&),
                Stored (*reference)(Stored, const ReluParams&, DataType)) {
  std::mt19937_64 rng(static_cast<uint64_t>(dtype) * 7919);
  const std::vector<size_t> sizes = {0,  1,  2,  3,  7,   15,  16,  17,   31,
                                     33, 63, 64, 65, 127, 129, 255, 1000, 4099};
  for (const ReluParams& p : grid) {
    SCOPED_TRACE(Describe(p, dtype));
    for (size_t size : sizes) {
      for (size_t misalign : {0, 1, 3}) {
        std::vector<Stored> values(size);
        for (Stored& v : values) v = make(rng, p);
        // Raw byte buffers offset by `misalign`, so loads are unaligned.
        std::vector<uint8_t> in(size * sizeof(Stored) + 8);
        std::vector<uint8_t> out(in.size(), 0xAB);
        if (size > 0) {
          std::memcpy(in.data() + misalign, values.data(),
                      size * sizeof(Stored));
        }
        ASSERT_OK(
            Relu(p, dtype, in.data() + misalign, out.data() + misalign, size));
        for (size_t i = 0; i < size; ++i) {
          Stored actual;
          std::memcpy(&actual, out.data() + misalign + i * sizeof(Stored),
                      sizeof(Stored));
          const Stored expected = reference(values[i], p, dtype);
          ASSERT_TRUE(SameResult(expected, actual, p.mode, dtype))
              << "size " << size << " index " << i << " input " << +values[i]
              << " expected " << +expected << " actual " << +actual;
        }
        // In place gives the same bytes as out of place.
        ASSERT_OK(
            Relu(p, dtype, in.data() + misalign, in.data() + misalign, size));
        ASSERT_EQ(std::memcmp(in.data() + misalign, out.data() + misalign,
                              size * sizeof(Stored)),
                  0)
            << "size " << size;
      }
    }
  }
}

template <typename T>
T MakeFloat(std::mt19937_64& rng, const ReluParams& p) {
  return RandomFloat<T>(rng, p);
}
template <typename T>
T RefFloatStored(T x, const ReluParams& p, DataType dtype) {
  return RefFloat<T>(x, p, dtype);
}

uint16_t MakeHalf(std::mt19937_64& rng, const ReluParams& p) {
  if (rng() % 4 == 0) return static_cast<uint16_t>(rng());  // any pattern
  return RefHalfFromDouble(RandomFloat<float>(rng, p));
}
uint16_t MakeBFloat16(std::mt19937_64& rng, const ReluParams& p) {
  if (rng() % 4 == 0) return static_cast<uint16_t>(rng());
  return RefBFloat16FromDouble(RandomFloat<float>(rng, p));
}

template <typename I>
I MakeInt(std::mt19937_64& rng, const ReluParams& p) {
  return RandomInt<I>(rng, p);
}
template <typename I>
I RefIntStored(I x, const ReluParams& p, DataType) {
  return RefInt<I>(x, p);
}

TEST(ReluPropertyTest, Float32MatchesReferenceInBothModes) {
  for (bool keras : {false, true}) {
    CheckDtype<float>(DataType::kFloat32, ParamGrid(keras), MakeFloat<float>,
                      RefFloatStored<float>);
  }
}

TEST(ReluPropertyTest, Float64MatchesReferenceInBothModes) {
  for (bool keras : {false, true}) {
    CheckDtype<double>(DataType::kFloat64, ParamGrid(keras), MakeFloat<double>,
                       RefFloatStored<double>);
  }
}

TEST(ReluPropertyTest, Float16MatchesReferenceInBothModes) {
  for (bool keras : {false, true}) {
    CheckDtype<uint16_t>(DataType::kFloat16, ParamGrid(keras), MakeHalf,
                         RefHalfType);
  }
}

TEST(ReluPropertyTest, BFloat16MatchesReferenceInBothModes) {
  for (bool keras : {false, true}) {
    CheckDtype<uint16_t>(DataType::kBFloat16, ParamGrid(keras), MakeBFloat16,
                         RefHalfType);
  }
}

TEST(ReluPropertyTest, SignedIntegersMatchReference) {
  const auto grid = ParamGrid(false);
  CheckDtype<int8_t>(DataType::kInt8, grid, MakeInt<int8_t>,
                     RefIntStored<int8_t>);
  CheckDtype<int16_t>(DataType::kInt16, grid, MakeInt<int16_t>,
                      RefIntStored<int16_t>);
  CheckDtype<int32_t>(DataType::kInt32, grid, MakeInt<int32_t>,
                      RefIntStored<int32_t>);
  CheckDtype<int64_t>(DataType::kInt64, grid, MakeInt<int64_t>,
                      RefIntStored<int64_t>);
}

TEST(ReluPropertyTest, UnsignedIntegersMatchReference) {
  const auto grid = ParamGrid(false);
  CheckDtype<uint8_t>(DataType::kUInt8, grid, MakeInt<uint8_t>,
                      RefIntStored<uint8_t>);
  CheckDtype<uint16_t>(DataType::kUInt16, grid, MakeInt<uint16_t>,
                       RefIntStored<uint16_t>);
  CheckDtype<uint32_t>(DataType::kUInt32, grid, MakeInt<uint32_t>,
                       RefIntStored<uint32_t>);
  CheckDtype<uint64_t>(DataType::kUInt64, grid, MakeInt<uint64_t>,
                       RefIntStored<uint64_t>);
}

TEST(ReluPropertyTest, IntegersHandleParametersBeyondTheirRange) {
  // threshold above every int8: all elements take the slope, saturating.
  ReluParams p;
  p.threshold = 1000.0;
  p.negative_slope = 0.5;
  p.max_value = 2000.0;
  const std::vector<int8_t> in = {-128, -1, 0, 1, 127};
  std::vector<int8_t> out(in.size());
  ASSERT_OK(Relu(p, DataType::kInt8, in.data(), out.data(), in.size()));
  for (size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i], RefInt<int8_t>(in[i], p)) << +in[i];
  }
  EXPECT_EQ(out[4], -128);  // 0.5 * (127 - 1000) = -436.5 saturates
  // threshold below every uint64: identity everywhere.
  p = ReluParams();
  p.threshold = -1e30;
  const std::vector<uint64_t> big = {0, 1,
                                     std::numeric_limits<uint64_t>::max()};
  std::vector<uint64_t> big_out(big.size());
  ASSERT_OK(Relu(p, DataType::kUInt64, big.data(), big_out.data(), big.size()));
  EXPECT_EQ(big_out, big);
}

}  // namespace
}  // namespace activation::core
