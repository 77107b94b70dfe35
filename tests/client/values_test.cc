#include "client/cli/values.h"

#include <cstdint>
#include <limits>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::cli {
namespace {

using ::activation::testing::StatusIs;
using ::testing::ElementsAre;

TEST(ValuesTest, FloatValuesRoundTrip) {
  absl::StatusOr<Tensor> tensor =
      TensorFromValues(" -1, 0,2.5", core::DataType::kFloat32);
  ASSERT_OK(tensor);
  EXPECT_THAT(tensor->shape, ElementsAre(3));
  EXPECT_THAT(tensor->As<float>(), ElementsAre(-1.0f, 0.0f, 2.5f));
  EXPECT_EQ(FormatValues(*tensor), "-1,0,2.5");
}

TEST(ValuesTest, SixteenBitFloatsAreRoundedAndPrintedAsFloat32) {
  absl::StatusOr<Tensor> half =
      TensorFromValues("1.5,-2,65504", core::DataType::kFloat16);
  ASSERT_OK(half);
  EXPECT_THAT(half->As<uint16_t>(), ElementsAre(0x3E00, 0xC000, 0x7BFF));
  EXPECT_EQ(FormatValues(*half), "1.5,-2,65504");
  absl::StatusOr<Tensor> bf16 =
      TensorFromValues("1.5,-2", core::DataType::kBFloat16);
  ASSERT_OK(bf16);
  EXPECT_THAT(bf16->As<uint16_t>(), ElementsAre(0x3FC0, 0xC000));
  EXPECT_EQ(FormatValues(*bf16), "1.5,-2");
}

TEST(ValuesTest, IntegersAreExactOverTheWholeRange) {
  absl::StatusOr<Tensor> i64 = TensorFromValues(
      "-9223372036854775808,9223372036854775807", core::DataType::kInt64);
  ASSERT_OK(i64);
  EXPECT_THAT(i64->As<int64_t>(),
              ElementsAre(std::numeric_limits<int64_t>::min(),
                          std::numeric_limits<int64_t>::max()));
  EXPECT_EQ(FormatValues(*i64), "-9223372036854775808,9223372036854775807");
  absl::StatusOr<Tensor> u64 =
      TensorFromValues("18446744073709551615", core::DataType::kUInt64);
  ASSERT_OK(u64);
  EXPECT_EQ(FormatValues(*u64), "18446744073709551615");
  absl::StatusOr<Tensor> i8 =
      TensorFromValues("-128,127", core::DataType::kInt8);
  ASSERT_OK(i8);
  EXPECT_EQ(i8->data.size(), 2u);
  EXPECT_EQ(FormatValues(*i8), "-128,127");
  absl::StatusOr<Tensor> u8 = TensorFromValues("255", core::DataType::kUInt8);
  ASSERT_OK(u8);
  EXPECT_EQ(FormatValues(*u8), "255");
}

TEST(ValuesTest, BadEntriesAreQuotedWithTheRange) {
  EXPECT_THAT(TensorFromValues("1,300", core::DataType::kInt8),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--values: \"300\" is not an integer in INT8's range "
                       "[-128, 127]"));
  EXPECT_THAT(TensorFromValues("-1", core::DataType::kUInt16),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--values: \"-1\" is not an integer in UINT16's range "
                       "[0, 65535]"));
  EXPECT_THAT(TensorFromValues("1.5", core::DataType::kInt32),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       ::testing::HasSubstr("\"1.5\" is not an integer")));
  EXPECT_THAT(TensorFromValues("1,x", core::DataType::kFloat64),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--values: not a number: \"x\""));
}

}  // namespace
}  // namespace activation::cli
