// ReluOp: the parameters validated once, then applied with the same results
// as Relu.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "core/dtype.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::core {
namespace {

using ::activation::testing::StatusIs;
using ::testing::Each;

ReluParams Params(Mode mode, std::optional<double> max_value, double slope,
                  double threshold) {
  ReluParams params;
  params.mode = mode;
  params.max_value = max_value;
  params.negative_slope = slope;
  params.threshold = threshold;
  return params;
}

// Parameter sets that take different kernel branches; the KERAS ones apply to
// floating-point dtypes only.
std::vector<ReluParams> ParamsFor(DataType dtype) {
  std::vector<ReluParams> all = {
      ReluParams(),
      Params(Mode::kDocumented, 6.0, 0.1, -0.5),
      Params(Mode::kDocumented, 100.5, 3.0, 2.5),
      Params(Mode::kDocumented, std::nullopt, 0.0, -7.25),
  };
  if (IsFloatingPoint(dtype)) {
    all.push_back(Params(Mode::kKeras, 6.0, 0.2, 0.5));
    all.push_back(Params(Mode::kKeras, std::nullopt, 0.3, 0.0));
  }
  return all;
}

std::vector<uint8_t> RandomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes(n);
  for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
  return bytes;
}

TEST(ReluOpTest, CreateRejectsInvalidParamsAsValidateReluParamsDoes) {
  const struct {
    ReluParams params;
    DataType dtype;
    std::string message;
  } kCases[] = {
      {Params(Mode::kDocumented, -1.0, 0, 0), DataType::kFloat32,
       "max_value must be >= 0, got -1"},
      {Params(Mode::kDocumented, std::nullopt, -0.5, 0), DataType::kInt8,
       "negative_slope must be >= 0, got -0.5"},
      {Params(Mode::kDocumented, std::nullopt, 0,
              -std::numeric_limits<double>::infinity()),
       DataType::kUInt64, "threshold must be finite, got -inf"},
      {Params(Mode::kKeras, std::nullopt, 0, 0), DataType::kInt16,
       "mode KERAS supports floating-point dtypes only, got INT16"},
      {Params(Mode::kKeras, 1e39, 0, 0), DataType::kFloat64,
       "max_value 1e+39 overflows float32, in which KERAS mode stores "
       "parameters"},
      {ReluParams(), static_cast<DataType>(13),
       "dtype must be a known DataType, got 13"},
      {Params(static_cast<Mode>(7), std::nullopt, 0, 0), DataType::kFloat16,
       "mode must be DOCUMENTED or KERAS, got 7"},
  };
  for (const auto& c : kCases) {
    SCOPED_TRACE(c.message);
    EXPECT_THAT(ReluOp::Create(c.params, c.dtype),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message));
    EXPECT_EQ(ReluOp::Create(c.params, c.dtype).status(),
              ValidateReluParams(c.params, c.dtype));
  }
}

TEST(ReluOpTest, ApplyGivesTheSameBytesAsReluForEveryDtype) {
  const size_t n = 1003;
  for (DataType dtype : kAllDataTypes) {
    SCOPED_TRACE(DataTypeName(dtype));
    const size_t bytes = n * ItemSize(dtype);
    const std::vector<uint8_t> in = RandomBytes(bytes, 17);
    for (const ReluParams& params : ParamsFor(dtype)) {
      absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
      ASSERT_OK(op);
      EXPECT_EQ(op->dtype(), dtype);
      std::vector<uint8_t> expected(bytes);
      ASSERT_OK(Relu(params, dtype, in.data(), expected.data(), n));
      std::vector<uint8_t> out(bytes);
      ASSERT_OK(op->Apply(in.data(), out.data(), n));
      EXPECT_EQ(out, expected);
      std::vector<uint8_t> in_place = in;
      ASSERT_OK(op->Apply(in_place.data(), in_place.data(), n));
      EXPECT_EQ(in_place, expected);
    }
  }
}

TEST(ReluOpTest, ApplyRejectsPartialOverlapLeavingOutputUntouched) {
  absl::StatusOr<ReluOp> op = ReluOp::Create(ReluParams(), DataType::kInt32);
  ASSERT_OK(op);
  std::vector<int32_t> buffer = {-1, 2, -3, 4, -5, 6};
  EXPECT_THAT(op->Apply(buffer.data(), buffer.data() + 1, 4),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "input and output overlap without being the same "
                       "buffer"));
  EXPECT_EQ(buffer, (std::vector<int32_t>{-1, 2, -3, 4, -5, 6}));
  EXPECT_OK(op->Apply(nullptr, nullptr, 0));
}

TEST(ReluOpTest, CopiesApplyTheSameOp) {
  static_assert(std::is_copy_constructible_v<ReluOp>);
  static_assert(std::is_copy_assignable_v<ReluOp>);
  absl::StatusOr<ReluOp> capped =
      ReluOp::Create(Params(Mode::kDocumented, 6.0, 0.5, 0), DataType::kInt16);
  absl::StatusOr<ReluOp> plain = ReluOp::Create(ReluParams(), DataType::kInt16);
  ASSERT_OK(capped);
  ASSERT_OK(plain);
  const std::vector<int16_t> in = {-8, -1, 0, 5, 6, 9};
  const ReluOp copy = *capped;
  ReluOp assigned = *plain;
  assigned = *capped;
  const ReluOp* const ops[] = {&*capped, &copy, &assigned};
  for (const ReluOp* op : ops) {
    std::vector<int16_t> out(in.size());
    ASSERT_OK(op->Apply(in.data(), out.data(), in.size()));
    EXPECT_EQ(out, (std::vector<int16_t>{-4, 0, 0, 5, 6, 6}));
  }
}

TEST(ReluOpTest, OneOpServesManyThreadsAtOnce) {
  absl::StatusOr<ReluOp> op =
      ReluOp::Create(Params(Mode::kKeras, 6.0, 0.1, 0.5), DataType::kFloat16);
  ASSERT_OK(op);
  const size_t n = 4099;
  const std::vector<uint8_t> in = RandomBytes(2 * n, 23);
  std::vector<uint8_t> expected(in.size());
  ASSERT_OK(op->Apply(in.data(), expected.data(), n));
  constexpr int kThreads = 4;
  std::vector<int> mismatches(kThreads, -1);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      int bad = 0;
      for (int round = 0; round < 50; ++round) {
        std::vector<uint8_t> out(in.size());
        if (!op->Apply(in.data(), out.data(), n).ok() || out != expected) {
          ++bad;
        }
      }
      mismatches[t] = bad;
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_THAT(mismatches, Each(0));
}

}  // namespace
}  // namespace activation::core
