// Golden values for core::Relu in both modes. Every expected value was worked
// out by hand from the specified semantics (docs/semantics.md), with numpy for
// float32 and half-precision products, never from the implementation. Floating
// results are compared bit for bit, so +0 and -0 differ; NaN is compared bit
// for bit in DOCUMENTED mode and only as "is a NaN" in KERAS mode.

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ios>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::core {
namespace {

using ::activation::testing::StatusIs;
using ::testing::AllOf;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::Matcher;

constexpr std::nullopt_t kNoMax = std::nullopt;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr float kNanF = std::numeric_limits<float>::quiet_NaN();
constexpr float kInfF = std::numeric_limits<float>::infinity();
constexpr float kDenormF = std::numeric_limits<float>::denorm_min();
constexpr double kDenorm = std::numeric_limits<double>::denorm_min();
constexpr DataType kFloatTypes[] = {DataType::kFloat32, DataType::kFloat64,
                                    DataType::kFloat16, DataType::kBFloat16};

ReluParams Documented(std::optional<double> max_value, double negative_slope,
                      double threshold) {
  return ReluParams{max_value, negative_slope, threshold, Mode::kDocumented};
}

ReluParams Keras(std::optional<double> max_value, double negative_slope,
                 double threshold) {
  return ReluParams{max_value, negative_slope, threshold, Mode::kKeras};
}

// How an expected NaN matches: by identical bits, or any NaN at all.
enum class NanMatch { kSameBits, kAnyNan };

// The unsigned integer type as wide as T.
template <typename T>
using UIntOf = std::conditional_t<
    sizeof(T) == 8, uint64_t,
    std::conditional_t<sizeof(T) == 4, uint32_t,
                       std::conditional_t<sizeof(T) == 2, uint16_t, uint8_t>>>;

// Returns the bit pattern of `value`, zero-extended.
template <typename T>
uint64_t BitsOf(T value) {
  UIntOf<T> bits;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}

// Returns the T whose bit pattern is `bits`.
template <typename T>
T FromBits(UIntOf<T> bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

// Return true when `value`, an element of `dtype`, is a NaN.
bool IsNan(float value, DataType) { return std::isnan(value); }
bool IsNan(double value, DataType) { return std::isnan(value); }
bool IsNan(uint16_t bits, DataType dtype) {
  if (dtype == DataType::kFloat16) return std::isnan(HalfToFloat(bits));
  if (dtype == DataType::kBFloat16) return std::isnan(BFloat16ToFloat(bits));
  return false;  // UINT16.
}
template <typename T>
bool IsNan(T, DataType) {
  return false;  // The other integer types.
}

// Runs Relu on `input` copied `byte_offset` bytes into a fresh buffer, and
// returns the output. The output buffer starts filled with 0xA5 bytes.
template <typename T>
std::vector<T> Apply(const ReluParams& params, DataType dtype,
                     const std::vector<T>& input, size_t byte_offset = 0) {
  const size_t bytes = input.size() * sizeof(T);
  std::vector<unsigned char> in(byte_offset + bytes);
  std::vector<unsigned char> out(byte_offset + bytes, 0xA5);
  if (bytes > 0) std::memcpy(in.data() + byte_offset, input.data(), bytes);
  EXPECT_OK(Relu(params, dtype, in.data() + byte_offset,
                 out.data() + byte_offset, input.size()));
  std::vector<T> output(input.size());
  if (bytes > 0) std::memcpy(output.data(), out.data() + byte_offset, bytes);
  return output;
}

// Expects `actual` to equal `expected` bit for bit, except that an expected
// NaN matches any NaN under NanMatch::kAnyNan.
template <typename T>
void ExpectSameElements(const std::vector<T>& actual,
                        const std::vector<T>& expected, DataType dtype,
                        NanMatch nan_match) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    if (nan_match == NanMatch::kAnyNan && IsNan(expected[i], dtype)) {
      EXPECT_TRUE(IsNan(actual[i], dtype))
          << "element " << i << ": got bits 0x" << std::hex << BitsOf(actual[i])
          << ", want a NaN";
    } else {
      EXPECT_EQ(BitsOf(actual[i]), BitsOf(expected[i]))
          << "element " << i << ": got bits 0x" << std::hex << BitsOf(actual[i])
          << ", want 0x" << BitsOf(expected[i]);
    }
  }
}

// Expects Relu to map `input` to `expected` element by element, both for the
// vector as given and tiled to over 130 elements at an odd address, so that
// vectorized loops, their tails and unaligned access all run.
template <typename T>
void ExpectRelu(const ReluParams& params, DataType dtype,
                const std::vector<T>& input, const std::vector<T>& expected,
                NanMatch nan_match = NanMatch::kSameBits) {
  ASSERT_EQ(input.size(), expected.size());
  ASSERT_FALSE(input.empty());
  ExpectSameElements(Apply(params, dtype, input), expected, dtype, nan_match);
  std::vector<T> tiled_input, tiled_expected;
  while (tiled_input.size() <= 130) {
    tiled_input.insert(tiled_input.end(), input.begin(), input.end());
    tiled_expected.insert(tiled_expected.end(), expected.begin(),
                          expected.end());
  }
  SCOPED_TRACE("tiled, misaligned");
  ExpectSameElements(Apply(params, dtype, tiled_input, /*byte_offset=*/1),
                     tiled_expected, dtype, nan_match);
}

// Runs ExpectRelu for FLOAT32 and FLOAT64; every value must be exact in both.
void ExpectReluF32AndF64(const ReluParams& params,
                         const std::vector<double>& input,
                         const std::vector<double>& expected,
                         NanMatch nan_match = NanMatch::kSameBits) {
  ExpectRelu(params, DataType::kFloat64, input, expected, nan_match);
  ExpectRelu(params, DataType::kFloat32,
             std::vector<float>(input.begin(), input.end()),
             std::vector<float>(expected.begin(), expected.end()), nan_match);
}

// Expects Relu to fail with InvalidArgument and `message` and to leave its
// output untouched.
void ExpectReluRejects(const ReluParams& params, DataType dtype,
                       const Matcher<std::string>& message) {
  const std::vector<unsigned char> input(4 * sizeof(double), 0x11);
  std::vector<unsigned char> output(input.size(), 0xA5);
  EXPECT_THAT(Relu(params, dtype, input.data(), output.data(), 4),
              StatusIs(absl::StatusCode::kInvalidArgument, message));
  EXPECT_THAT(output, Each(0xA5));
}

TEST(ReluGoldenTest, InvalidParamsAreRejectedNamingParameterAndValue) {
  const struct {
    ReluParams params;
    std::string message;
  } kCases[] = {
      {Documented(kNan, 0, 0), "max_value must be finite, got nan"},
      {Documented(kInf, 0, 0), "max_value must be finite, got inf"},
      {Documented(-1.0, 0, 0), "max_value must be >= 0, got -1"},
      {Documented(kNoMax, kInf, 0), "negative_slope must be finite, got inf"},
      {Documented(kNoMax, -0.5, 0), "negative_slope must be >= 0, got -0.5"},
      {Documented(kNoMax, 0, -kInf), "threshold must be finite, got -inf"},
      {Documented(kNoMax, 0, kNan), "threshold must be finite, got nan"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.message);
    for (DataType dtype : kAllDataTypes) {
      SCOPED_TRACE(DataTypeName(dtype));
      EXPECT_THAT(ValidateReluParams(c.params, dtype),
                  StatusIs(absl::StatusCode::kInvalidArgument, c.message));
      ExpectReluRejects(c.params, dtype, c.message);
    }
    ReluParams keras = c.params;
    keras.mode = Mode::kKeras;
    for (DataType dtype : kFloatTypes) {
      SCOPED_TRACE(DataTypeName(dtype));
      EXPECT_THAT(ValidateReluParams(keras, dtype),
                  StatusIs(absl::StatusCode::kInvalidArgument, c.message));
      ExpectReluRejects(keras, dtype, c.message);
    }
  }
}

TEST(ReluGoldenTest, KerasModeRejectsIntegerDtypes) {
  const struct {
    DataType dtype;
    const char* name;
  } kCases[] = {
      {DataType::kInt8, "INT8"},     {DataType::kInt16, "INT16"},
      {DataType::kInt32, "INT32"},   {DataType::kInt64, "INT64"},
      {DataType::kUInt8, "UINT8"},   {DataType::kUInt16, "UINT16"},
      {DataType::kUInt32, "UINT32"}, {DataType::kUInt64, "UINT64"},
  };
  for (const auto& c : kCases) {
    const std::string message =
        std::string("mode KERAS supports floating-point dtypes only, got ") +
        c.name;
    EXPECT_THAT(ValidateReluParams(Keras(kNoMax, 0, 0), c.dtype),
                StatusIs(absl::StatusCode::kInvalidArgument, message));
    ExpectReluRejects(Keras(kNoMax, 0, 0), c.dtype, message);
  }
}

TEST(ReluGoldenTest, KerasModeRejectsParamsOverflowingFloat32) {
  const struct {
    ReluParams params;
    const char* name;
  } kCases[] = {
      {Keras(1e39, 0, 0), "max_value"},
      {Keras(kNoMax, 1e39, 0), "negative_slope"},
      {Keras(kNoMax, 0, -1e39), "threshold"},
  };
  for (const auto& c : kCases) {
    for (DataType dtype : {DataType::kFloat32, DataType::kFloat64}) {
      SCOPED_TRACE(DataTypeName(dtype));
      const Matcher<std::string> message =
          AllOf(HasSubstr(c.name), HasSubstr("float32"));
      EXPECT_THAT(ValidateReluParams(c.params, dtype),
                  StatusIs(absl::StatusCode::kInvalidArgument, message));
      ExpectReluRejects(c.params, dtype, message);
    }
  }
}

TEST(ReluGoldenTest, BoundaryParamsAreAccepted) {
  for (DataType dtype : kAllDataTypes) {
    EXPECT_OK(ValidateReluParams(Documented(0.0, 0.0, -5.0), dtype));
  }
  for (DataType dtype : {DataType::kFloat32, DataType::kFloat64}) {
    EXPECT_OK(ValidateReluParams(Keras(std::numeric_limits<float>::max(), 0.0,
                                       -std::numeric_limits<float>::max()),
                                 dtype));
  }
  // Only KERAS mode rounds params to float32.
  for (DataType dtype : {DataType::kFloat64, DataType::kInt64}) {
    EXPECT_OK(ValidateReluParams(Documented(1e39, 1e39, -1e300), dtype));
  }
}

TEST(ReluGoldenTest, ZeroCountWithNullPointersIsOk) {
  for (DataType dtype : kAllDataTypes) {
    EXPECT_OK(Relu(Documented(6.0, 0.5, 1.0), dtype, nullptr, nullptr, 0));
  }
  for (DataType dtype : kFloatTypes) {
    EXPECT_OK(Relu(Keras(6.0, 0.5, 1.0), dtype, nullptr, nullptr, 0));
  }
}

TEST(ReluGoldenTest, PartiallyOverlappingBuffersAreRejected) {
  std::vector<float> buffer = {-1, 2, -3, 4, -5, 6};
  EXPECT_THAT(Relu(Documented(kNoMax, 0, 0), DataType::kFloat32, buffer.data(),
                   buffer.data() + 1, 4),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
  EXPECT_EQ(buffer, (std::vector<float>{-1, 2, -3, 4, -5, 6}));
}

TEST(ReluGoldenTest, InPlaceMatchesOutOfPlace) {
  std::vector<float> input;
  for (int i = 0; i < 67; ++i) {
    input.push_back(0.37f * static_cast<float>(i - 33));
  }
  input.insert(input.end(), {-0.0f, kInfF, -kInfF, kDenormF, 6.0f, 0.5f});
  for (const ReluParams& params :
       {Documented(6.0, 0.1, 0.5), Keras(6.0, 0.1, 0.5), Keras(kNoMax, 0.1, 0),
        Keras(kNoMax, 0, -1.0)}) {
    const std::vector<float> expected =
        Apply(params, DataType::kFloat32, input);
    std::vector<float> buffer = input;
    ASSERT_OK(Relu(params, DataType::kFloat32, buffer.data(), buffer.data(),
                   buffer.size()));
    ExpectSameElements(buffer, expected, DataType::kFloat32, NanMatch::kAnyNan);
  }
  std::vector<int16_t> ints;
  for (int i = 0; i < 67; ++i) {
    ints.push_back(static_cast<int16_t>(977 * (i - 33)));
  }
  const ReluParams params = Documented(20000.5, 2.5, -3.5);
  const std::vector<int16_t> expected = Apply(params, DataType::kInt16, ints);
  ASSERT_OK(
      Relu(params, DataType::kInt16, ints.data(), ints.data(), ints.size()));
  EXPECT_EQ(ints, expected);
}

TEST(ReluGoldenTest, DocumentedDefaultClampsNegativesToPositiveZero) {
  const float tiny = 1e-40f;  // A float32 subnormal.
  ExpectRelu<float>(
      Documented(kNoMax, 0, 0), DataType::kFloat32,
      {-2, -0.0f, 0, 1.5f, kInfF, -kInfF, kDenormF, -kDenormF, tiny, -tiny},
      {0, -0.0f, 0, 1.5f, kInfF, 0, kDenormF, 0, tiny, 0});
  ExpectRelu<double>(Documented(kNoMax, 0, 0), DataType::kFloat64,
                     {-2, -0.0, 0, 1.5, kInf, -kInf, kDenorm, -kDenorm},
                     {0, -0.0, 0, 1.5, kInf, 0, kDenorm, 0});
}

TEST(ReluGoldenTest, DocumentedNanKeepsItsBitsForEveryFloatDtype) {
  for (const ReluParams& params :
       {Documented(kNoMax, 0, 0), Documented(6.0, 0.5, 1.0),
        Documented(0.0, 3.0, -2.0)}) {
    const std::vector<float> f32 = {FromBits<float>(0x7FC12345),
                                    FromBits<float>(0xFFC00001)};
    ExpectRelu(params, DataType::kFloat32, f32, f32);
    const std::vector<double> f64 = {FromBits<double>(0x7FF8000000012345),
                                     FromBits<double>(0xFFF8000000000001)};
    ExpectRelu(params, DataType::kFloat64, f64, f64);
    const std::vector<uint16_t> f16 = {0x7E01, 0xFE00};
    ExpectRelu(params, DataType::kFloat16, f16, f16);
    const std::vector<uint16_t> bf16 = {0x7FC1, 0xFFC0};
    ExpectRelu(params, DataType::kBFloat16, bf16, bf16);
  }
}

TEST(ReluGoldenTest, DocumentedInputEqualToThresholdIsKept) {
  ExpectReluF32AndF64(Documented(kNoMax, 0, 1.0), {1, 0.5, 2, -kInf},
                      {1, 0, 2, 0});
  ExpectRelu<float>(Documented(kNoMax, 0.1, 1.0), DataType::kFloat32,
                    {1, 0.5f, -1, -kInfF},
                    {1, -0x1.99999ap-5f, -0x1.99999ap-3f, -kInfF});
}

TEST(ReluGoldenTest, DocumentedInputEqualToMaxValueGivesMaxValue) {
  ExpectReluF32AndF64(Documented(6.0, 0, 0), {6, 7, kInf, 5.5}, {6, 6, 6, 5.5});
  ExpectRelu<float>(Documented(6.0, 0, 0), DataType::kFloat32, {0x1.7ffffep+2f},
                    {0x1.7ffffep+2f});
}

TEST(ReluGoldenTest, DocumentedMaxValueWinsOverHigherThreshold) {
  ExpectReluF32AndF64(Documented(2.0, 0, 5.0), {1, 2, 3, 5, 7, -kInf},
                      {0, 2, 2, 2, 2, 0});
  ExpectReluF32AndF64(Documented(2.0, 0.5, 5.0), {1, 2, 3, 5, 7, -kInf},
                      {-2, 2, 2, 2, 2, -kInf});
}

TEST(ReluGoldenTest, DocumentedNegativeThresholdWithMaxValue) {
  ExpectReluF32AndF64(Documented(3.0, 0, -1.0),
                      {-2, -1, -0.5, -0.0, 0.5, 3, 4, kInf, -kInf},
                      {0, -1, -0.5, -0.0, 0.5, 3, 3, 3, 0});
  ExpectReluF32AndF64(Documented(3.0, 0.25, -1.0), {-2, -5, -kInf},
                      {-0.25, -1, -kInf});
}

TEST(ReluGoldenTest, DocumentedMaxValueZeroMapsNegativeZeroToPositiveZero) {
  ExpectReluF32AndF64(Documented(0.0, 0, 0), {-0.0, 0, 1, kInf, -1, -kInf},
                      {0, 0, 0, 0, 0, 0});
}

TEST(ReluGoldenTest, DocumentedSlopeAboveOneScalesDistanceBelowThreshold) {
  ExpectReluF32AndF64(Documented(kNoMax, 3.0, 1.0), {-2, 0, 1, 2},
                      {-9, -3, 1, 2});
}

TEST(ReluGoldenTest, DocumentedSlopeZeroInTensorPrecisionGivesPositiveZero) {
  // 1e-50 is 0 in float32 but not in float64.
  ExpectRelu<float>(Documented(kNoMax, 1e-50, 0), DataType::kFloat32,
                    {-1, -kInfF, -0.0f}, {0, 0, -0.0f});
  ExpectRelu<double>(Documented(kNoMax, 1e-50, 0), DataType::kFloat64, {-1},
                     {-1e-50});
  ExpectRelu<double>(Documented(kNoMax, 0, 1e-50), DataType::kFloat64,
                     {1e-60, -1, 1e-50}, {0, 0, 1e-50});
}

TEST(ReluGoldenTest, DocumentedNegativeBranchUsesTensorPrecision) {
  // float32: 0.1f * (-1 - 0.1f); float64 gives a different last bit.
  ExpectRelu<float>(Documented(kNoMax, 0.1, 0.1), DataType::kFloat32,
                    {-1, 0.0f}, {-0x1.c28f5ep-4f, -0x1.47ae16p-7f});
  ExpectRelu<double>(Documented(kNoMax, 0.1, 0.1), DataType::kFloat64, {-1},
                     {-0x1.c28f5c28f5c2ap-4});
  // x - threshold overflows float32 but not float64.
  ExpectRelu<float>(Documented(kNoMax, 0.5, 3e38), DataType::kFloat32, {-3e38f},
                    {-kInfF});
  ExpectRelu<double>(Documented(kNoMax, 0.5, 3e38), DataType::kFloat64, {-3e38},
                     {-3e38});
  ExpectRelu<double>(Documented(kNoMax, 0.5, 1e308), DataType::kFloat64,
                     {-1e308}, {-kInf});
  ExpectRelu<float>(Documented(kNoMax, 2.0, 0), DataType::kFloat32,
                    {-3e38f, -1e38f}, {-kInfF, -0x1.2ced32p+127f});
}

TEST(ReluGoldenTest, DocumentedSubnormalsAreNotFlushed) {
  ExpectRelu<float>(Documented(kNoMax, 0.5, 0), DataType::kFloat32,
                    {kDenormF, -kDenormF, 1e-40f, -1e-40f, -2 * kDenormF},
                    {kDenormF, -0.0f, 1e-40f, -0x1.16c2p-134f, -kDenormF});
  ExpectRelu<float>(Documented(kNoMax, 0.5, 1e-40), DataType::kFloat32,
                    {1e-40f, kDenormF}, {1e-40f, -0x1.16cp-134f});
  ExpectRelu<double>(Documented(kNoMax, 0.5, 0), DataType::kFloat64,
                     {kDenorm, -kDenorm, -2 * kDenorm},
                     {kDenorm, -0.0, -kDenorm});
}

TEST(ReluGoldenTest, DocumentedFloat16RoundsParamsAndResultToHalf) {
  const DataType f16 = DataType::kFloat16;
  // max_value 0.1 is 0x2E66 (0.0999755859375); threshold 0.5 lies above it.
  ExpectRelu<uint16_t>(Documented(0.1, 0, 0.5), f16,
                       {0x2E66, 0x2E67, 0x3C00, 0x7C00, 0x2E65, 0x8000},
                       {0x2E66, 0x2E66, 0x2E66, 0x2E66, 0x0000, 0x0000});
  ExpectRelu<uint16_t>(Documented(kNoMax, 0, 0.1), f16, {0x2E66, 0x2E65},
                       {0x2E66, 0x0000});
  // -3 * 0x2E66 = -0.2999267578125 exactly, a tie rounded to even.
  ExpectRelu<uint16_t>(Documented(kNoMax, 0.1, 0), f16, {0xC200}, {0xB4CC});
  // One rounding of the float32 result; rounding x - 0x34CD first gives B548.
  ExpectRelu<uint16_t>(Documented(kNoMax, 0.1, 0.3), f16, {0xC200}, {0xB547});
  ExpectRelu<uint16_t>(Documented(kNoMax, 2.0, 0), f16, {0xFBFF, 0xC000},
                       {0xFC00, 0xC400});
  ExpectRelu<uint16_t>(Documented(kNoMax, 0.5, 0), f16,
                       {0x8001, 0x0001, 0x8002}, {0x8000, 0x0001, 0x8001});
  ExpectRelu<uint16_t>(Documented(kNoMax, 0, 0), f16, {0xFC00, 0x8000, 0xBC00},
                       {0x0000, 0x8000, 0x0000});
}

TEST(ReluGoldenTest, DocumentedBFloat16RoundsParamsAndResultToBFloat16) {
  const DataType bf16 = DataType::kBFloat16;
  // max_value 0.1 is 0x3DCD (0.10009765625); threshold 1.003 is 1.0.
  ExpectRelu<uint16_t>(Documented(0.1, 0, 0), bf16,
                       {0x3F80, 0x3DCD, 0x3DCC, 0x7F80},
                       {0x3DCD, 0x3DCD, 0x3DCC, 0x3DCD});
  ExpectRelu<uint16_t>(Documented(kNoMax, 0, 1.003), bf16, {0x3F80, 0x3F7F},
                       {0x3F80, 0x0000});
  ExpectRelu<uint16_t>(Documented(kNoMax, 0.1, 0), bf16, {0xC040}, {0xBE9A});
  ExpectRelu<uint16_t>(Documented(kNoMax, 2.0, 0), bf16, {0xFF62}, {0xFF80});
  ExpectRelu<uint16_t>(Documented(kNoMax, 0.5, 0), bf16, {0x8001, 0x0001},
                       {0x8000, 0x0001});
}

TEST(ReluGoldenTest, DocumentedIntegerNegativeBranchTruncatesAndSaturates) {
  ExpectRelu<int8_t>(Documented(kNoMax, 2.0, 0), DataType::kInt8,
                     {-100, -64, -63, -128, 0, 127, -1},
                     {-128, -128, -126, -128, 0, 127, -2});
  ExpectRelu<int8_t>(Documented(kNoMax, 0.5, -10.0), DataType::kInt8,
                     {-20, -11, -10, -128, 5}, {-5, 0, -10, -59, 5});
  ExpectRelu<int16_t>(Documented(kNoMax, 1000.0, 0), DataType::kInt16,
                      {-100, -32}, {-32768, -32000});
  ExpectRelu<int32_t>(Documented(kNoMax, 1.0, 2.5), DataType::kInt32,
                      {2, 3, -10}, {0, 3, -12});
  ExpectRelu<int32_t>(Documented(kNoMax, 2.0, 0), DataType::kInt32,
                      {INT32_MIN, -1100000000, -1000000000},
                      {INT32_MIN, INT32_MIN, -2000000000});
  ExpectRelu<int64_t>(Documented(kNoMax, 2.0, 0), DataType::kInt64,
                      {INT64_MIN, -(int64_t{1} << 62) - (int64_t{1} << 40), -5},
                      {INT64_MIN, INT64_MIN, -10});
}

TEST(ReluGoldenTest, DocumentedUnsignedNegativeBranchGivesZero) {
  ExpectRelu<uint8_t>(Documented(kNoMax, 2.0, 10.0), DataType::kUInt8,
                      {5, 0, 10, 255}, {0, 0, 10, 255});
  ExpectRelu<uint8_t>(Documented(kNoMax, 3.0, -10.0), DataType::kUInt8,
                      {0, 255}, {0, 255});
  ExpectRelu<uint8_t>(Documented(300.0, 1.0, 400.0), DataType::kUInt8, {255, 0},
                      {0, 0});
  ExpectRelu<uint16_t>(Documented(kNoMax, 0.5, 70000.0), DataType::kUInt16,
                       {65535, 0}, {0, 0});
  ExpectRelu<uint32_t>(Documented(kNoMax, 1.0, 1e10), DataType::kUInt32,
                       {UINT32_MAX, 7}, {0, 0});
}

TEST(ReluGoldenTest, DocumentedIntegerMaxValueIsTruncated) {
  ExpectRelu<int32_t>(Documented(2.5, 0, 0), DataType::kInt32,
                      {2, 3, 100, -5, INT32_MAX}, {2, 2, 2, 0, 2});
  ExpectRelu<int32_t>(Documented(2.5, 0, 2.0), DataType::kInt32, {2, 1, 3},
                      {2, 0, 2});
  ExpectRelu<uint8_t>(Documented(300.0, 0, 0), DataType::kUInt8, {255, 0},
                      {255, 0});
  ExpectRelu<int16_t>(Documented(0.0, 0, 0), DataType::kInt16, {5, -5, 0},
                      {0, 0, 0});
}

TEST(ReluGoldenTest, DocumentedWideIntegersCompareExactly) {
  constexpr int64_t k2To53 = int64_t{1} << 53;
  constexpr int64_t k2To60 = int64_t{1} << 60;
  ExpectRelu<int64_t>(Documented(kNoMax, 0, 0), DataType::kInt64,
                      {k2To53 + 1, INT64_MAX, INT64_MIN},
                      {k2To53 + 1, INT64_MAX, 0});
  // 2^60 - 1 is 2^60 as a double, yet lies below max_value.
  ExpectRelu<int64_t>(Documented(static_cast<double>(k2To60), 0, 0),
                      DataType::kInt64,
                      {k2To60 - 1, k2To60, k2To60 + 1, INT64_MAX},
                      {k2To60 - 1, k2To60, k2To60, k2To60});
  // 2^53 + 3 rounds to the threshold 2^53 + 4 as a double, yet lies below it.
  ExpectRelu<int64_t>(Documented(kNoMax, 0, static_cast<double>(k2To53 + 4)),
                      DataType::kInt64, {k2To53 + 3, k2To53 + 4, k2To53 + 5},
                      {0, k2To53 + 4, k2To53 + 5});
  ExpectRelu<uint64_t>(Documented(kNoMax, 0, 0), DataType::kUInt64,
                       {UINT64_MAX, (uint64_t{1} << 63) + 1},
                       {UINT64_MAX, (uint64_t{1} << 63) + 1});
  ExpectRelu<uint64_t>(Documented(kNoMax, 0, 18446744073709551616.0),
                       DataType::kUInt64, {UINT64_MAX, 1}, {0, 0});
}

TEST(ReluGoldenTest, KerasInputEqualToNonzeroThresholdGivesZero) {
  ExpectReluF32AndF64(Keras(kNoMax, 0, 1.0),
                      {0.5, 1, 1.5, -2, kInf, -kInf, kNan},
                      {0, 0, 1.5, -0.0, kInf, kNan, kNan}, NanMatch::kAnyNan);
}

TEST(ReluGoldenTest, KerasLeakyReluForZeroThresholdWithoutMaxValue) {
  ExpectRelu<float>(Keras(kNoMax, 0.1, 0), DataType::kFloat32,
                    {-0.0f, -2, 3, 0, -kInfF, kInfF, -kDenormF, -1e-40f, kNanF},
                    {-0.0f, -0x1.99999ap-3f, 3, 0, -kInfF, kInfF, -0.0f,
                     -0x1.bep-137f, kNanF},
                    NanMatch::kAnyNan);
  ExpectReluF32AndF64(Keras(kNoMax, 3.0, 0), {-2, 2, -0.0}, {-6, 2, -0.0});
  ExpectRelu<float>(Keras(kNoMax, 2.0, 0), DataType::kFloat32, {-3e38f},
                    {-kInfF});
}

TEST(ReluGoldenTest, KerasZeroThresholdWithoutSlopeUsesMaxWithZero) {
  ExpectReluF32AndF64(Keras(kNoMax, 0, 0),
                      {-kInf, -0.0, -1, kDenormF, -kDenormF, kInf},
                      {0, -0.0, 0, kDenormF, 0, kInf});
}

TEST(ReluGoldenTest, KerasNegativeThresholdWithMaxValue) {
  ExpectReluF32AndF64(
      Keras(3.0, 0, -1.0), {-2, -1, -0.5, -0.0, 0.5, 3, 4, kInf, -kInf},
      {-0.0, -0.0, 0, -0.0, 0.5, 3, 3, 3, kNan}, NanMatch::kAnyNan);
  ExpectReluF32AndF64(Keras(kNoMax, 0, -1.0), {-2, -0.5, -0.0},
                      {-0.0, -0.5, -0.0});
}

TEST(ReluGoldenTest, KerasThresholdAboveMaxValue) {
  ExpectReluF32AndF64(Keras(2.0, 0, 5.0), {1, 2, 4, 5, 6, 7},
                      {0, 0, 0, 0, 2, 2});
  ExpectReluF32AndF64(Keras(2.0, 0.5, 5.0), {1, 2, 4, 5, 6, 7, -kInf},
                      {-2, -1.5, -0.5, 0, 2, 2, kNan}, NanMatch::kAnyNan);
}

TEST(ReluGoldenTest, KerasMaxValueZeroKeepsNegativeZero) {
  ExpectReluF32AndF64(Keras(0.0, 0, 0), {-0.0, 0, 1, kInf, -1, -kInf},
                      {-0.0, 0, 0, 0, 0, 0});
  ExpectReluF32AndF64(Keras(6.0, 0.5, 0), {-0.0, -1, 7}, {-0.0, -0.5, 6});
}

TEST(ReluGoldenTest, KerasSlopeAboveOneWithThreshold) {
  ExpectReluF32AndF64(Keras(kNoMax, 3.0, 1.0), {-2, 0.5, 1, 3, kInf, -kInf},
                      {-9, -1.5, 0, 3, kInf, kNan}, NanMatch::kAnyNan);
}

TEST(ReluGoldenTest, KerasLargeMagnitudesAndSubnormals) {
  ExpectRelu<float>(Keras(kNoMax, 0.5, 3e38), DataType::kFloat32, {-3e38f},
                    {-kInfF});
  ExpectRelu<float>(Keras(kNoMax, 0.5, 0), DataType::kFloat32,
                    {-kDenormF, -1e-40f, kDenormF},
                    {-0.0f, -0x1.16c2p-134f, kDenormF});
}

TEST(ReluGoldenTest, KerasRoundsParamsToFloat32First) {
  // threshold 1e-50 is 0 in float32, so max(x, 0) runs, not x * (x > t).
  ExpectRelu<float>(Keras(kNoMax, 0, 1e-50), DataType::kFloat32, {-1, 1e-40f},
                    {0, 1e-40f});
  ExpectRelu<double>(Keras(kNoMax, 0, 1e-50), DataType::kFloat64, {-1, 1e-60},
                     {0, 1e-60});
  ExpectRelu<double>(Keras(0.1, 0, 0), DataType::kFloat64,
                     {1, 0.1, 0.1000000001},
                     {0.10000000149011612, 0.1, 0.1000000001});
  ExpectRelu<double>(Keras(kNoMax, 0.1, 0), DataType::kFloat64, {-1},
                     {-0.10000000149011612});
  ExpectReluF32AndF64(Keras(kNoMax, 1e-50, 0), {-1, -0.0}, {0, -0.0});
}

TEST(ReluGoldenTest, KerasFloat16RoundsParamsToHalfAndComparesStrictly) {
  const DataType f16 = DataType::kFloat16;
  ExpectRelu<uint16_t>(Keras(0.1, 0, 0), f16,
                       {0x3C00, 0x2E66, 0x2E65, 0xBC00, 0x8000},
                       {0x2E66, 0x2E66, 0x2E65, 0x0000, 0x8000});
  // threshold 0.1 is 0x2E66, so x == 0x2E66 is not above it.
  ExpectRelu<uint16_t>(Keras(kNoMax, 0, 0.1), f16,
                       {0x2E66, 0x2E67, 0xBC00, 0xFC00},
                       {0x0000, 0x2E67, 0x8000, 0x7E00}, NanMatch::kAnyNan);
  ExpectRelu<uint16_t>(Keras(kNoMax, 0.1, 0), f16, {0xC200, 0x8000},
                       {0xB4CC, 0x8000});
  ExpectRelu<uint16_t>(Keras(kNoMax, 0.1, 1.0), f16, {0xC200, 0x3C00, 0x4000},
                       {0xB666, 0x0000, 0x4000});
}

TEST(ReluGoldenTest, KerasBFloat16RoundsParamsAndComparesStrictly) {
  const DataType bf16 = DataType::kBFloat16;
  ExpectRelu<uint16_t>(Keras(0.1, 0, 0), bf16, {0x3F80, 0x3DCD, 0x3DCC, 0xBF80},
                       {0x3DCD, 0x3DCD, 0x3DCC, 0x0000});
  // threshold 1.003 is 1.0 in bfloat16, so x == 1.0 is not above it.
  ExpectRelu<uint16_t>(Keras(kNoMax, 0, 1.003), bf16, {0x3F80, 0x3F81, 0xBF80},
                       {0x0000, 0x3F81, 0x8000});
  ExpectRelu<uint16_t>(Keras(kNoMax, 0.1, 1.0), bf16, {0xC040, 0x3F80},
                       {0xBECD, 0x0000});
  ExpectRelu<uint16_t>(Keras(kNoMax, 0.1, 0), bf16, {0xC040}, {0xBE9A});
}

}  // namespace
}  // namespace activation::core
