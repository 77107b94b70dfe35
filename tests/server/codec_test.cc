#include "server/codec.h"

#include <limits>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::server {
namespace {

using ::activation::testing::IsOk;
using ::activation::testing::StatusIs;

constexpr uint64_t kMaxElements = 1000;

v1::ReluRequest Request(v1::DataType dtype, std::vector<int64_t> shape,
                        size_t raw_bytes) {
  v1::ReluRequest request;
  v1::Tensor* input = request.mutable_input();
  input->set_dtype(dtype);
  for (int64_t dim : shape) input->add_shape(dim);
  input->set_raw_data(std::string(raw_bytes, '\0'));
  return request;
}

TEST(CodecTest, AcceptsAWellFormedRequest) {
  v1::ReluRequest request = Request(v1::DATA_TYPE_INT16, {2, 3}, 12);
  request.mutable_params()->set_max_value(6);
  request.mutable_params()->set_mode(v1::MODE_DOCUMENTED);
  absl::StatusOr<DecodedRequest> decoded = DecodeRequest(request, kMaxElements);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->op.dtype(), core::DataType::kInt16);
  EXPECT_EQ(decoded->count, 6u);
  EXPECT_FALSE(decoded->float_data);
  // The op carries the parameters: max_value 6 caps 10.
  int16_t values[] = {-3, 4, 10};
  ASSERT_THAT(decoded->op.Apply(values, values, 3), IsOk());
  EXPECT_THAT(values, ::testing::ElementsAre(0, 4, 6));
}

TEST(CodecTest, ScalarHasOneElementAndZeroDimsAreEmpty) {
  absl::StatusOr<DecodedRequest> scalar =
      DecodeRequest(Request(v1::DATA_TYPE_FLOAT64, {}, 8), kMaxElements);
  ASSERT_THAT(scalar, IsOk());
  EXPECT_EQ(scalar->count, 1u);
  // An empty tensor is fine even when another dimension is huge.
  absl::StatusOr<DecodedRequest> empty = DecodeRequest(
      Request(v1::DATA_TYPE_FLOAT64, {0, int64_t{1} << 62}, 0), kMaxElements);
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->count, 0u);
}

TEST(CodecTest, RejectsMissingOrUnknownDtypeNamingTheField) {
  EXPECT_THAT(
      DecodeRequest(v1::ReluRequest(), kMaxElements),
      StatusIs(absl::StatusCode::kInvalidArgument, "input must be set"));
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_UNSPECIFIED, {1}, 4), kMaxElements),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "input.dtype must be set, got DATA_TYPE_UNSPECIFIED"));
  EXPECT_THAT(DecodeRequest(Request(static_cast<v1::DataType>(42), {1}, 4),
                            kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "input.dtype must be a known DataType, got 42"));
}

TEST(CodecTest, RejectsBadShapes) {
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_FLOAT32, {2, -3}, 0), kMaxElements),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "input.shape[1] must be >= 0, got -3"));
  const int64_t big = int64_t{1} << 40;
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_FLOAT32, {big, big}, 0),
                    kMaxElements),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "input.shape [1099511627776,1099511627776] has more than 2^64 "
               "elements"));
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_INT8, {10, 101}, 1010), kMaxElements),
      StatusIs(absl::StatusCode::kResourceExhausted,
               "input.shape [10,101] has 1010 elements; this server accepts "
               "at most 1000 (--max_elements)"));
}

TEST(CodecTest, RejectsPayloadsOfTheWrongSize) {
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_FLOAT32, {2, 2}, 12), kMaxElements),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "input.raw_data has 12 bytes; shape [2,2] of FLOAT32 needs 16"));
  v1::ReluRequest floats = Request(v1::DATA_TYPE_FLOAT32, {3}, 0);
  floats.mutable_input()->add_float_data(1.0f);
  EXPECT_THAT(DecodeRequest(floats, kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "input.float_data has 1 values; shape [3] needs 3"));
  // 2^61 FLOAT64 elements need 2^64 bytes, which wraps to 0 in 64 bits: an
  // empty payload must not pass for them (the server caps --max_elements
  // lower; the codec does not rely on it).
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_FLOAT64, {int64_t{1} << 61}, 0),
                    std::numeric_limits<uint64_t>::max()),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "input.shape [2305843009213693952] of FLOAT64 needs 2^64 bytes "
               "or more"));
}

TEST(CodecTest, RejectsBothEncodingsAndFloatDataForOtherDtypes) {
  v1::ReluRequest both = Request(v1::DATA_TYPE_FLOAT32, {1}, 4);
  both.mutable_input()->add_float_data(1.0f);
  EXPECT_THAT(DecodeRequest(both, kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "input.raw_data and input.float_data are both set; set "
                       "one"));
  v1::ReluRequest half = Request(v1::DATA_TYPE_FLOAT16, {1}, 0);
  half.mutable_input()->add_float_data(1.0f);
  EXPECT_THAT(DecodeRequest(half, kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "input.float_data is for FLOAT32 only, got FLOAT16; use "
                       "input.raw_data"));
}

TEST(CodecTest, FloatDataIsDecodedAsFloatData) {
  v1::ReluRequest floats = Request(v1::DATA_TYPE_FLOAT32, {2}, 0);
  floats.mutable_input()->add_float_data(1.0f);
  floats.mutable_input()->add_float_data(-1.0f);
  absl::StatusOr<DecodedRequest> decoded = DecodeRequest(floats, kMaxElements);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_TRUE(decoded->float_data);
}

TEST(CodecTest, RejectsBadParamsWithTheParamsPrefix) {
  v1::ReluRequest request = Request(v1::DATA_TYPE_FLOAT32, {1}, 4);
  request.mutable_params()->set_max_value(-1);
  EXPECT_THAT(DecodeRequest(request, kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "params.max_value must be >= 0, got -1"));
  request.mutable_params()->clear_max_value();
  request.mutable_params()->set_threshold(
      std::numeric_limits<double>::quiet_NaN());
  EXPECT_THAT(DecodeRequest(request, kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "params.threshold must be finite, got nan"));
  request.mutable_params()->set_threshold(0);
  request.mutable_params()->set_mode(static_cast<v1::Mode>(9));
  EXPECT_THAT(DecodeRequest(request, kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "params.mode must be a known Mode, got 9"));
  v1::ReluRequest keras_int = Request(v1::DATA_TYPE_INT8, {1}, 1);
  keras_int.mutable_params()->set_mode(v1::MODE_KERAS);
  EXPECT_THAT(DecodeRequest(keras_int, kMaxElements),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "params.mode KERAS supports floating-point dtypes only, "
                       "got INT8"));
}

TEST(CodecTest, RejectsMoreDimensionsThanMaxRank) {
  const std::vector<int64_t> shape(5, 1);
  EXPECT_THAT(DecodeRequest(Request(v1::DATA_TYPE_INT8, shape, 1), kMaxElements,
                            /*max_rank=*/5),
              IsOk());
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_INT8, shape, 1), kMaxElements,
                    /*max_rank=*/4),
      StatusIs(absl::StatusCode::kResourceExhausted,
               "input.shape has 5 dimensions; this server accepts at most 4 "
               "(--max_rank)"));
}

TEST(CodecTest, ShapesOfMoreThan16DimensionsAreSummarised) {
  std::vector<int64_t> shape(16, 2);
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_INT8, shape, 0), uint64_t{1} << 20),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "input.raw_data has 0 bytes; shape "
               "[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2] of INT8 needs 65536"));
  shape.push_back(3);
  EXPECT_THAT(
      DecodeRequest(Request(v1::DATA_TYPE_INT8, shape, 0), uint64_t{1} << 20),
      StatusIs(absl::StatusCode::kInvalidArgument,
               "input.raw_data has 0 bytes; shape "
               "[2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,...] (17 dimensions) of INT8 "
               "needs 196608"));
}

TEST(CodecTest, ResponseWithAMovedPayloadParsesBackWhole) {
  for (const size_t bytes : {size_t{64}, size_t{1} << 20}) {
    v1::ReluResponse response;
    v1::Tensor* output = response.mutable_output();
    output->set_dtype(v1::DATA_TYPE_FLOAT32);
    output->add_shape(2);
    output->add_shape(static_cast<int64_t>(bytes / 8));
    std::string payload(bytes, '\0');
    for (size_t i = 0; i < bytes; ++i) payload[i] = static_cast<char>(i * 7);
    output->set_raw_data(payload);
    const v1::ReluResponse expected = response;

    grpc::ByteBuffer wire;
    ASSERT_THAT(SerializeReluResponse(&response, &wire), IsOk());
    std::vector<grpc::Slice> slices;
    ASSERT_TRUE(wire.Dump(&slices).ok());
    EXPECT_EQ(slices.size(), bytes < (16 << 10) ? 1u : 2u);
    std::string flat;
    for (const grpc::Slice& slice : slices) {
      flat.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    v1::ReluResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(flat));
    EXPECT_EQ(parsed.output().dtype(), v1::DATA_TYPE_FLOAT32);
    EXPECT_EQ(parsed.output().shape_size(), 2);
    EXPECT_EQ(parsed.output().shape(1), static_cast<int64_t>(bytes / 8));
    EXPECT_EQ(parsed.output().raw_data(), payload);
    EXPECT_EQ(flat.size(), expected.ByteSizeLong());
  }
}

}  // namespace
}  // namespace activation::server
