// Fuzzes what the server does with a client's bytes: parse them as a
// ReluRequest, decode and validate it (server/codec.h), and compute the
// accepted ones as the service does (ReluHandler: payload moved into the
// response, computed in place by a multi-threaded Engine). Checks that
// refusals have the codec's codes and bounded messages, that acceptance
// agrees with an independent reading of the request, and that every
// accepted request computes what the scalar reference computes (bit for
// bit; any NaN for a NaN in KERAS mode). Also parses the bytes as a large
// request, its payload left in gRPC's slices, and checks that against the
// whole parse and compute (CheckSplitParse).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "activation/v1/activation.pb.h"
#include "core/dtype.h"
#include "core/engine.h"
#include "core/relu.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "server/codec.h"
#include "server/relu_handler.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_engine.h"
#include "tests/testing/reference_relu.h"
#include "tests/testing/split_payload.h"

namespace activation {
namespace {

constexpr uint64_t kMaxElements = uint64_t{1} << 20;
constexpr int kMaxRank = 64;
// Error messages quote at most 16 dimensions; no message needs more.
constexpr size_t kMaxMessageBytes = 1024;

constexpr char kTarget[] = "fuzz_decode";

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  testing::Fail(kTarget, what, detail);
}

// The service's handler over a parallel engine (see FuzzEngine).
const server::ReluHandler& Handler() {
  static const server::ReluHandler* const handler =
      new server::ReluHandler(&testing::FuzzEngine(), kMaxElements, kMaxRank);
  return *handler;
}

// product(shape) when every dimension is >= 0 and the product fits in 64
// bits and in kMaxElements; nullopt otherwise. Written apart from the codec.
std::optional<uint64_t> ExpectedCount(const v1::Tensor& tensor) {
  if (tensor.shape_size() > kMaxRank) return std::nullopt;
  unsigned __int128 count = 1;
  for (int64_t dim : tensor.shape()) {
    if (dim < 0) return std::nullopt;
    count = count * static_cast<uint64_t>(dim);
    if (count > kMaxElements) count = kMaxElements + 1;  // stays > the limit
  }
  for (int64_t dim : tensor.shape()) {
    if (dim == 0) return 0;
  }
  if (count > kMaxElements) return std::nullopt;
  return static_cast<uint64_t>(count);
}

core::ReluParams ParamsOf(const v1::ReluParams& wire) {
  core::ReluParams params;
  if (wire.has_max_value()) params.max_value = wire.max_value();
  params.negative_slope = wire.negative_slope();
  params.threshold = wire.threshold();
  params.mode = wire.mode() == v1::MODE_KERAS ? core::Mode::kKeras
                                              : core::Mode::kDocumented;
  return params;
}

// Returns true when `request` describes a tensor and parameters the service
// must compute, read from the proto apart from the codec.
bool WellFormed(const v1::ReluRequest& request) {
  if (!request.has_input()) return false;
  const v1::Tensor& input = request.input();
  if (input.dtype() < 1 || input.dtype() > 12) return false;
  const auto dtype = static_cast<core::DataType>(input.dtype());
  const std::optional<uint64_t> count = ExpectedCount(input);
  if (!count.has_value()) return false;
  const bool has_raw = !input.raw_data().empty();
  const bool has_floats = input.float_data_size() > 0;
  if (has_raw && has_floats) return false;
  if (has_floats) {
    if (dtype != core::DataType::kFloat32 ||
        static_cast<uint64_t>(input.float_data_size()) != *count) {
      return false;
    }
  } else if (input.raw_data().size() != *count * core::ItemSize(dtype)) {
    return false;
  }
  const int mode = request.params().mode();
  if (mode < 0 || mode > 2) return false;
  return core::ValidateReluParams(ParamsOf(request.params()), dtype).ok();
}

void CheckRefusal(const absl::Status& status) {
  testing::CheckRefusal(kTarget, status,
                        {absl::StatusCode::kInvalidArgument,
                         absl::StatusCode::kResourceExhausted},
                        kMaxMessageBytes);
}

// The elements of `tensor` as the engine sees them: raw_data, or the
// float_data values in host order.
std::string PayloadBytes(const v1::Tensor& tensor, bool float_data) {
  if (!float_data) return tensor.raw_data();
  return std::string(reinterpret_cast<const char*>(tensor.float_data().data()),
                     tensor.float_data_size() * sizeof(float));
}

void CheckAccepted(const v1::ReluRequest& request,
                   const server::DecodedRequest& decoded) {
  const v1::Tensor& input = request.input();
  const auto dtype = static_cast<core::DataType>(input.dtype());
  const std::optional<uint64_t> count = ExpectedCount(input);
  if (!count.has_value() || *count != decoded.count) {
    Fail("accepted a shape that has no valid count", input.ShortDebugString());
  }
  if (decoded.op.dtype() != dtype) Fail("dtype changed", "");
  const std::string in = PayloadBytes(input, decoded.float_data);
  if (in.size() != *count * core::ItemSize(dtype)) {
    Fail("accepted a payload of the wrong size", std::to_string(in.size()));
  }
  const core::ReluParams params = ParamsOf(request.params());

  std::vector<uint8_t> expected(in.size());
  testing::RefReluBytes(params, dtype,
                        reinterpret_cast<const uint8_t*>(in.data()),
                        expected.data(), *count);

  v1::ReluRequest moved = request;
  v1::ReluResponse response;
  if (absl::Status s = Handler().Relu(&moved, &response, nullptr); !s.ok()) {
    Fail("ReluHandler refused what DecodeRequest accepted", s.ToString());
  }
  const v1::Tensor& output = response.output();
  if (output.dtype() != input.dtype() ||
      output.shape_size() != input.shape_size()) {
    Fail("response dtype or shape differs", output.ShortDebugString());
  }
  const std::string out = PayloadBytes(output, decoded.float_data);
  if (out.size() != in.size()) Fail("response payload size differs", "");
  const size_t bad = testing::FirstMismatch(
      params, dtype, expected.data(),
      reinterpret_cast<const uint8_t*>(out.data()), *count);
  if (bad != *count) {
    Fail("result differs from the reference",
         std::string(core::DataTypeName(dtype)) + " element " +
             std::to_string(bad) + " params " +
             request.params().ShortDebugString());
  }
}

// The service parses a large request with ParseReluRequest, which leaves
// input.raw_data in gRPC's slices. Checks it against ParseRequest on the
// fuzzer's bytes behind a prefix that makes the message large enough (an
// input with 16 KiB of raw_data, which the fuzzer's own fields merge with
// or override), cut into slices whose sizes the bytes choose; and checks
// that what the split request computes is what the whole one computes.
void CheckSplitParse(const uint8_t* data, size_t size) {
  static const std::string* const prefix = [] {
    v1::ReluRequest request;
    request.mutable_input()->set_raw_data(std::string(16 << 10, '\x81'));
    return new std::string(request.SerializeAsString());
  }();
  grpc::ByteBuffer whole_bytes = testing::InSlices(*prefix, data, size);
  grpc::ByteBuffer split_bytes = whole_bytes;
  v1::ReluRequest whole;
  v1::ReluRequest request;
  server::SplitPayload split;
  const absl::Status expected = server::ParseRequest(&whole_bytes, &whole);
  const absl::Status got =
      server::ParseReluRequest(&split_bytes, &request, &split);
  if (got != expected) {
    Fail("ParseReluRequest and ParseRequest disagree",
         got.ToString() + " vs " + expected.ToString());
  }
  if (!got.ok()) return;
  const std::string joined = testing::Joined(split);
  if (joined.size() != split.size) {
    Fail("split size differs from its pieces", "");
  }
  v1::ReluRequest rebuilt = request;
  if (split.size > 0) rebuilt.mutable_input()->set_raw_data(joined);
  if (rebuilt.SerializeAsString() != whole.SerializeAsString()) {
    Fail("the split request differs from the whole one",
         request.ShortDebugString().substr(0, 512));
  }
  if (split.size == 0) return;

  v1::ReluResponse whole_response;
  const absl::Status whole_status =
      Handler().Relu(&whole, &whole_response, nullptr);
  v1::ReluResponse split_response;
  const absl::Status split_status =
      Handler().Relu(&request, &split, &split_response, nullptr);
  if (split_status != whole_status) {
    Fail("the split request computes another status",
         split_status.ToString() + " vs " + whole_status.ToString());
  }
  if (!split_status.ok()) return;
  const std::string& answer = whole_response.output().raw_data();
  v1::Tensor expected_head = whole_response.output();
  expected_head.clear_raw_data();
  if (split.output == nullptr || answer.size() != split.size ||
      std::memcmp(split.output.get(), answer.data(), split.size) != 0 ||
      split_response.output().SerializeAsString() !=
          expected_head.SerializeAsString()) {
    Fail("the split request computes another answer",
         rebuilt.input().ShortDebugString().substr(0, 256));
  }
}

}  // namespace
}  // namespace activation

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  activation::CheckSplitParse(data, size);
  activation::v1::ReluRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<activation::server::DecodedRequest> decoded =
      activation::server::DecodeRequest(request, activation::kMaxElements,
                                        activation::kMaxRank);
  if (decoded.ok() != activation::WellFormed(request)) {
    activation::Fail(decoded.ok() ? "accepted a malformed request"
                                  : "refused a well-formed request",
                     decoded.status().ToString() + " for " +
                         request.ShortDebugString().substr(0, 512));
  }
  if (!decoded.ok()) {
    activation::CheckRefusal(decoded.status());
    return 0;
  }
  activation::CheckAccepted(request, *decoded);
  return 0;
}
