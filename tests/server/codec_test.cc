#include "server/codec.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/types/span.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.pb.h"
#include "server/oip_codec.h"
#include "tests/testing/proto_bytes.h"
#include "tests/testing/split_payload.h"
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

// The bytes of `slices`, one after the other.
std::string Flattened(const std::vector<grpc::Slice>& slices) {
  std::string flat;
  for (const grpc::Slice& slice : slices) {
    flat.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return flat;
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
    const std::string flat = Flattened(slices);
    v1::ReluResponse parsed;
    ASSERT_TRUE(parsed.ParseFromString(flat));
    EXPECT_EQ(parsed.output().dtype(), v1::DATA_TYPE_FLOAT32);
    EXPECT_EQ(parsed.output().shape_size(), 2);
    EXPECT_EQ(parsed.output().shape(1), static_cast<int64_t>(bytes / 8));
    EXPECT_EQ(parsed.output().raw_data(), payload);
    EXPECT_EQ(flat.size(), expected.ByteSizeLong());
  }
}

// `bytes` as gRPC might hand them over: in slices of 1 to 300 bytes.
grpc::ByteBuffer InSlices(const std::string& bytes, std::mt19937& rng) {
  std::vector<grpc::Slice> slices;
  for (size_t at = 0; at < bytes.size();) {
    const size_t size = std::min<size_t>(1 + rng() % 300, bytes.size() - at);
    slices.emplace_back(bytes.data() + at, size);
    at += size;
  }
  return grpc::ByteBuffer(slices.data(), slices.size());
}

std::string Bytes(size_t size, int seed) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * seed);
  return bytes;
}

// Parses `wire` both ways, in random slices: ParseReluRequest must give
// what protobuf's parser gives, its raw_data split off when
// `expect_split`.
void ExpectParsedAsProtobufDoes(const std::string& wire, bool expect_split) {
  std::mt19937 rng(static_cast<uint32_t>(wire.size()));
  v1::ReluRequest whole;
  ASSERT_TRUE(whole.ParseFromString(wire));
  grpc::ByteBuffer bytes = InSlices(wire, rng);
  v1::ReluRequest request;
  SplitPayload split;
  ASSERT_THAT(ParseReluRequest(&bytes, &request, &split), IsOk());
  if (expect_split) {
    EXPECT_EQ(request.input().raw_data(), "");
    EXPECT_GT(split.input.size(), 1u);  // views of many slices, not a copy
    EXPECT_EQ(bytes.Length(), 0u);      // cleared, as ParseRequest does
  } else {
    EXPECT_EQ(split.input.size(), 0u);
  }
  EXPECT_EQ(split.size, expect_split ? whole.input().raw_data().size() : 0);
  if (expect_split)
    request.mutable_input()->set_raw_data(testing::Joined(split));
  EXPECT_EQ(request.SerializeAsString(), whole.SerializeAsString());
}

TEST(CodecTest, ParseReluRequestLeavesALargePayloadInTheReceivedSlices) {
  v1::ReluRequest request = Request(v1::DATA_TYPE_FLOAT32, {3, 10000}, 0);
  request.mutable_input()->set_raw_data(Bytes(120000, 13));
  request.mutable_params()->set_max_value(6);
  request.mutable_params()->set_negative_slope(0.5);
  ExpectParsedAsProtobufDoes(request.SerializeAsString(), true);
}

TEST(CodecTest, ParseReluRequestParsesASmallRequestWhole) {
  v1::ReluRequest request = Request(v1::DATA_TYPE_INT8, {1000}, 0);
  request.mutable_input()->set_raw_data(Bytes(1000, 3));
  ExpectParsedAsProtobufDoes(request.SerializeAsString(), false);
}

// A length-delimited field: its key, the length of `value`, `value`.
std::string Field(int number, const std::string& value) {
  std::string field;
  {
    google::protobuf::io::StringOutputStream stream(&field);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.WriteTag(static_cast<uint32_t>(number << 3 | 2));
    out.WriteVarint64(value.size());
  }
  return field + value;
}

TEST(CodecTest, ParseReluRequestKeepsProtobufsMeaningInAnyFieldOrder) {
  // Params first; three inputs (protobuf merges them), the first with two
  // raw_data fields (the last one wins) and the shape after them; an
  // unknown field at both levels.
  v1::Tensor first;
  first.set_raw_data(Bytes(10000, 5));
  first.set_dtype(v1::DATA_TYPE_INT16);
  v1::Tensor first_again;
  first_again.set_raw_data(Bytes(30000, 7));
  v1::Tensor second;
  second.add_shape(4);
  second.add_shape(-1);
  v1::Tensor third;
  third.add_shape(7500);
  v1::ReluParams params;
  params.set_negative_slope(0.25);
  const std::string unknown_field = "\xa8\x06\x2a";  // field 101: 42

  const std::string wire =
      Field(v1::ReluRequest::kParamsFieldNumber, params.SerializeAsString()) +
      unknown_field +
      Field(v1::ReluRequest::kInputFieldNumber,
            first.SerializeAsString() + first_again.SerializeAsString() +
                unknown_field) +
      Field(v1::ReluRequest::kInputFieldNumber, second.SerializeAsString()) +
      Field(v1::ReluRequest::kInputFieldNumber, third.SerializeAsString());

  v1::ReluRequest whole;
  ASSERT_TRUE(whole.ParseFromString(wire));
  ASSERT_EQ(whole.input().raw_data(), Bytes(30000, 7));
  ASSERT_EQ(whole.input().shape_size(), 3);
  ExpectParsedAsProtobufDoes(wire, true);
}

// Parses `wire` with ParseRequest and with ParseReluRequest, in random
// slices: the same status, and when OK the same request.
void ExpectParsedAsParseRequestDoes(const std::string& wire) {
  std::mt19937 rng(static_cast<uint32_t>(wire.size()));
  grpc::ByteBuffer whole_bytes = InSlices(wire, rng);
  v1::ReluRequest whole;
  const absl::Status expected = ParseRequest(&whole_bytes, &whole);
  grpc::ByteBuffer bytes = InSlices(wire, rng);
  v1::ReluRequest request;
  SplitPayload split;
  const absl::Status got = ParseReluRequest(&bytes, &request, &split);
  EXPECT_EQ(got, expected);
  if (!got.ok() || !expected.ok()) return;
  if (split.size > 0)
    request.mutable_input()->set_raw_data(testing::Joined(split));
  EXPECT_EQ(request.SerializeAsString(), whole.SerializeAsString());
}

// `value` as a varint of exactly `bytes` bytes (padded with 0x80s).
std::string PaddedVarint(uint64_t value, int bytes) {
  std::string out;
  for (int i = 0; i < bytes; ++i) {
    const uint8_t low = value & 0x7f;
    value >>= 7;
    out += static_cast<char>(i + 1 < bytes ? low | 0x80 : low);
  }
  return out;
}

TEST(CodecTest, ParseReluRequestReadsKeysAndLengthsAsProtobufDoes) {
  // FLOAT32, shape [4096], 16 KiB of raw_data.
  const std::string tensor =
      std::string("\x08\x01\x12\x02\x80\x20", 6) +
      Field(v1::Tensor::kRawDataFieldNumber, Bytes(16384, 9));
  // Protobuf reads a length in at most 5 bytes, and refuses a 6-byte one.
  ExpectParsedAsParseRequestDoes("\x0a" + PaddedVarint(tensor.size(), 6) +
                                 tensor);
  ExpectParsedAsParseRequestDoes("\x0a" + PaddedVarint(tensor.size(), 5) +
                                 tensor);
  // It reads a key as 32 bits: 2^32 + 26 is raw_data's key 26 to it, here
  // an empty raw_data after the payload (the last one wins).
  const std::string high_raw_key =
      PaddedVarint((uint64_t{1} << 32) + 26, 5) + std::string(1, '\0');
  ExpectParsedAsParseRequestDoes(
      Field(v1::ReluRequest::kInputFieldNumber, tensor + high_raw_key));
  // ... and the input's key 10.
  ExpectParsedAsParseRequestDoes(PaddedVarint((uint64_t{1} << 32) + 10, 5) +
                                 PaddedVarint(tensor.size(), 3) + tensor);
  // A key in more than 5 bytes.
  ExpectParsedAsParseRequestDoes(PaddedVarint(10, 6) +
                                 PaddedVarint(tensor.size(), 3) + tensor);
}

TEST(CodecTest, ParseReluRequestHoldsLittleBesidesThePayload) {
  // A first input with 1 MiB of raw_data and a second with 16 KiB: the
  // second wins, and the first would stay held with the slices, outside
  // the memory budget; so the whole is parsed (and the first freed).
  v1::ReluRequest first = Request(v1::DATA_TYPE_INT8, {}, 0);
  first.mutable_input()->set_raw_data(Bytes(1 << 20, 3));
  v1::ReluRequest second = Request(v1::DATA_TYPE_INT8, {16384}, 0);
  second.mutable_input()->set_raw_data(Bytes(16384, 5));
  const std::string wire =
      first.SerializeAsString() + second.SerializeAsString();
  ExpectParsedAsProtobufDoes(wire, false);
}

TEST(CodecTest, ParseReluRequestLastEmptyRawDataWins) {
  v1::ReluRequest big = Request(v1::DATA_TYPE_FLOAT32, {10000}, 0);
  big.mutable_input()->set_raw_data(Bytes(40000, 11));
  // An empty raw_data field after it: protobuf keeps the empty one.
  const std::string wire = big.SerializeAsString() +
                           Field(v1::ReluRequest::kInputFieldNumber,
                                 Field(v1::Tensor::kRawDataFieldNumber, ""));
  v1::ReluRequest whole;
  ASSERT_TRUE(whole.ParseFromString(wire));
  ASSERT_EQ(whole.input().raw_data(), "");
  std::mt19937 rng(1);
  grpc::ByteBuffer bytes = InSlices(wire, rng);
  v1::ReluRequest request;
  SplitPayload split;
  ASSERT_THAT(ParseReluRequest(&bytes, &request, &split), IsOk());
  EXPECT_EQ(split.size, 0u);
  EXPECT_EQ(request.SerializeAsString(), whole.SerializeAsString());
}

TEST(CodecTest, ParseReluRequestParsesLargeFloatDataWhole) {
  v1::ReluRequest request = Request(v1::DATA_TYPE_FLOAT32, {20000}, 0);
  for (int i = 0; i < 20000; ++i) request.mutable_input()->add_float_data(i);
  ExpectParsedAsProtobufDoes(request.SerializeAsString(), false);
}

TEST(CodecTest, ParseReluRequestRefusesWhatParseRequestRefusesAlike) {
  v1::ReluRequest request = Request(v1::DATA_TYPE_FLOAT32, {10000}, 0);
  request.mutable_input()->set_raw_data(Bytes(40000, 3));
  const std::string wire = request.SerializeAsString();
  std::string bad_wire_type = wire;
  bad_wire_type[0] = '\x0f';  // field 1, wire type 7
  for (const std::string& bad :
       {wire.substr(0, wire.size() - 1), wire + std::string(1, '\x0a'),
        bad_wire_type, wire + std::string("\x00\x00", 2)}) {
    std::mt19937 rng(2);
    grpc::ByteBuffer whole = InSlices(bad, rng);
    v1::ReluRequest parsed;
    const absl::Status expected = ParseRequest(&whole, &parsed);
    ASSERT_FALSE(expected.ok());
    grpc::ByteBuffer bytes = InSlices(bad, rng);
    SplitPayload split;
    EXPECT_THAT(ParseReluRequest(&bytes, &parsed, &split),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         std::string(expected.message())));
    EXPECT_EQ(split.size, 0u);
  }
}

TEST(CodecTest, SplitPayloadIsSerializedAsTheResponsesRawData) {
  v1::ReluResponse response;
  response.mutable_output()->set_dtype(v1::DATA_TYPE_UINT16);
  response.mutable_output()->add_shape(50000);
  SplitPayload split;
  split.size = 100000;
  split.output.reset(new uint8_t[split.size]);
  const std::string payload = Bytes(split.size, 17);
  std::memcpy(split.output.get(), payload.data(), split.size);
  grpc::ByteBuffer wire;
  ASSERT_THAT(SerializeReluResponse(&response, &split, &wire), IsOk());
  EXPECT_EQ(split.output, nullptr);  // the slice owns it now
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(wire.Dump(&slices).ok());
  EXPECT_EQ(slices.size(), 2u);
  v1::ReluResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flattened(slices)));
  EXPECT_EQ(parsed.output().dtype(), v1::DATA_TYPE_UINT16);
  EXPECT_EQ(parsed.output().shape(0), 50000);
  EXPECT_EQ(parsed.output().raw_data(), payload);
}

inference::ModelInferRequest InferRequest(size_t raw_bytes) {
  inference::ModelInferRequest request;
  request.set_model_name("relu");
  request.set_id("id-1");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("INT8");
  input->add_shape(static_cast<int64_t>(raw_bytes));
  (*request.mutable_parameters())["negative_slope"].set_double_param(0.5);
  request.add_raw_input_contents(Bytes(raw_bytes, 7));
  return request;
}

// Parses `wire` with ParseInferRequest in random slices and checks it
// against protobuf's parse: the same request, its raw contents split off
// when `expect_split`.
void ExpectInferParsedAsProtobufDoes(const std::string& wire,
                                     bool expect_split) {
  std::mt19937 rng(static_cast<uint32_t>(wire.size()));
  inference::ModelInferRequest whole;
  ASSERT_TRUE(whole.ParseFromString(wire));
  grpc::ByteBuffer bytes = InSlices(wire, rng);
  inference::ModelInferRequest request;
  SplitPayload split;
  ASSERT_THAT(ParseInferRequest(&bytes, &request, &split), IsOk());
  EXPECT_EQ(split.size, expect_split ? whole.raw_input_contents(0).size() : 0);
  if (expect_split) {
    ASSERT_EQ(request.raw_input_contents_size(), 1);
    EXPECT_EQ(request.raw_input_contents(0), "");  // counted, left empty
    *request.mutable_raw_input_contents(0) = testing::Joined(split);
  }
  // `parameters` is a map: compared in key order.
  EXPECT_EQ(testing::DeterministicBytes(request),
            testing::DeterministicBytes(whole));
}

TEST(CodecTest, ParseInferRequestLeavesLargeRawContentsInTheSlices) {
  ExpectInferParsedAsProtobufDoes(InferRequest(100'000).SerializeAsString(),
                                  true);
  ExpectInferParsedAsProtobufDoes(InferRequest(1'000).SerializeAsString(),
                                  false);
  // The raw contents first on the wire, the rest after them.
  inference::ModelInferRequest request = InferRequest(30'000);
  const std::string raw = request.raw_input_contents(0);
  request.clear_raw_input_contents();
  ExpectInferParsedAsProtobufDoes(
      Field(inference::ModelInferRequest::kRawInputContentsFieldNumber, raw) +
          request.SerializeAsString(),
      true);
}

TEST(CodecTest, ParseInferRequestParsesTwoRawContentsWhole) {
  inference::ModelInferRequest request = InferRequest(20'000);
  request.add_raw_input_contents(Bytes(20'000, 3));
  ExpectInferParsedAsProtobufDoes(request.SerializeAsString(), false);
}

TEST(CodecTest, SplitPayloadIsSerializedAsTheInferResponsesRawOutput) {
  inference::ModelInferResponse response;
  response.set_model_name("relu");
  response.add_outputs()->set_name("output");
  SplitPayload split;
  split.size = 50'000;
  split.output.reset(new uint8_t[split.size]);
  const std::string payload = Bytes(split.size, 5);
  std::memcpy(split.output.get(), payload.data(), split.size);
  grpc::ByteBuffer wire;
  ASSERT_THAT(SerializeInferResponse(response, &split, &wire), IsOk());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(wire.Dump(&slices).ok());
  EXPECT_EQ(slices.size(), 2u);
  inference::ModelInferResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(Flattened(slices)));
  EXPECT_EQ(parsed.model_name(), "relu");
  EXPECT_EQ(parsed.outputs(0).name(), "output");
  ASSERT_EQ(parsed.raw_output_contents_size(), 1);
  EXPECT_EQ(parsed.raw_output_contents(0), payload);
}

}  // namespace
}  // namespace activation::server
