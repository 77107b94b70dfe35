// Fuzzes what the Open Inference Protocol's gRPC front does with a client's
// bytes: parse them as an inference.ModelInferRequest, decode and validate
// it (server/oip_codec.h), and compute the accepted ones as the service does
// (payload moved into the response, computed in place by a multi-threaded
// Engine). Checks that refusals have the codec's codes and bounded messages,
// that what was accepted is what the model takes (read apart from the
// codec), and that every accepted request computes what the scalar
// reference computes, in the request's encoding. Also parses the bytes as a
// large request, its raw contents left in gRPC's slices, and checks that
// against the whole parse, decode and compute (CheckSplitParse).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "grpcpp/support/byte_buffer.h"
#include "inference/grpc_predict_v2.pb.h"
#include "server/codec.h"
#include "server/oip.h"
#include "server/oip_codec.h"
#include "tests/fuzz/fuzz_checks.h"
#include "tests/fuzz/fuzz_engine.h"
#include "tests/testing/proto_bytes.h"
#include "tests/testing/reference_relu.h"
#include "tests/testing/split_payload.h"
#include "wire/convert.h"

namespace activation {
namespace {

using inference::InferTensorContents;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

constexpr uint64_t kMaxElements = uint64_t{1} << 20;
constexpr int kMaxRank = 64;
constexpr size_t kMaxMessageBytes = 1024;

constexpr char kTarget[] = "fuzz_oip_infer";

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  testing::Fail(kTarget, what, detail);
}

const server::InferHandler& Handler() {
  static const server::InferHandler* const handler =
      new server::InferHandler(&testing::FuzzEngine(), kMaxElements, kMaxRank);
  return *handler;
}

// The parameters, read apart from the codec (which accepted them).
core::ReluParams ParamsOf(const ModelInferRequest& request) {
  core::ReluParams params;
  for (const auto& [name, p] : request.parameters()) {
    double value = 0;
    switch (p.parameter_choice_case()) {
      case inference::InferParameter::kDoubleParam:
        value = p.double_param();
        break;
      case inference::InferParameter::kInt64Param:
        value = static_cast<double>(p.int64_param());
        break;
      case inference::InferParameter::kUint64Param:
        value = static_cast<double>(p.uint64_param());
        break;
      default:
        break;
    }
    if (name == "mode") {
      params.mode = p.string_param() == "keras" ? core::Mode::kKeras
                                                : core::Mode::kDocumented;
    } else if (name == "max_value") {
      params.max_value = value;
    } else if (name == "negative_slope") {
      params.negative_slope = value;
    } else if (name == "threshold") {
      params.threshold = value;
    } else {
      Fail("accepted an unknown parameter", name);
    }
  }
  return params;
}

// The elements of a typed field as `dtype`'s bytes.
template <typename Field>
std::string TypedBytes(const Field& values, core::DataType dtype) {
  return core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::string bytes(values.size() * sizeof(T), '\0');
    if constexpr (std::is_arithmetic_v<T>) {
      for (int i = 0; i < values.size(); ++i) {
        const T v = static_cast<T>(values.Get(i));
        std::memcpy(&bytes[i * sizeof(T)], &v, sizeof(T));
      }
    }
    return bytes;
  });
}

std::string TypedBytes(const InferTensorContents& c, core::DataType dtype) {
  switch (dtype) {
    case core::DataType::kFloat32:
      return TypedBytes(c.fp32_contents(), dtype);
    case core::DataType::kFloat64:
      return TypedBytes(c.fp64_contents(), dtype);
    case core::DataType::kInt8:
    case core::DataType::kInt16:
    case core::DataType::kInt32:
      return TypedBytes(c.int_contents(), dtype);
    case core::DataType::kInt64:
      return TypedBytes(c.int64_contents(), dtype);
    case core::DataType::kUInt8:
    case core::DataType::kUInt16:
    case core::DataType::kUInt32:
      return TypedBytes(c.uint_contents(), dtype);
    case core::DataType::kUInt64:
      return TypedBytes(c.uint64_contents(), dtype);
    default:
      return "";
  }
}

// NotFound besides the codec's codes: a request for another model or version.
void CheckRefusal(const absl::Status& status) {
  testing::CheckRefusal(
      kTarget, status,
      {absl::StatusCode::kInvalidArgument, absl::StatusCode::kResourceExhausted,
       absl::StatusCode::kNotFound},
      kMaxMessageBytes);
}

void CheckAccepted(const ModelInferRequest& request,
                   const server::DecodedInfer& decoded) {
  if (request.model_name() != "relu" ||
      (!request.model_version().empty() && request.model_version() != "1") ||
      request.inputs_size() != 1 || request.inputs(0).name() != "input") {
    Fail("accepted another model or input", request.ShortDebugString());
  }
  const core::DataType dtype = decoded.op.dtype();
  if (wire::OipDataTypeName(dtype) != request.inputs(0).datatype()) {
    Fail("datatype changed", request.inputs(0).datatype());
  }
  const std::string in = decoded.raw
                             ? request.raw_input_contents(0)
                             : TypedBytes(request.inputs(0).contents(), dtype);
  if (in.size() != decoded.count * core::ItemSize(dtype)) {
    Fail("accepted a payload of the wrong size", std::to_string(in.size()));
  }
  const core::ReluParams params = ParamsOf(request);
  std::vector<uint8_t> expected(in.size());
  testing::RefReluBytes(params, dtype,
                        reinterpret_cast<const uint8_t*>(in.data()),
                        expected.data(), decoded.count);

  ModelInferRequest moved = request;
  ModelInferResponse response;
  absl::Status s =
      Handler().Infer(decoded, &moved, &response, nullptr, nullptr);
  if (!s.ok()) {
    // Only a typed value out of its datatype's range is found this late.
    if (decoded.raw || s.code() != absl::StatusCode::kInvalidArgument) {
      Fail("Infer refused what Decode accepted", s.ToString());
    }
    CheckRefusal(s);
    return;
  }
  if (response.outputs_size() != 1 ||
      response.outputs(0).datatype() != request.inputs(0).datatype() ||
      response.outputs(0).shape_size() != request.inputs(0).shape_size() ||
      response.id() != request.id()) {
    Fail("response tensor differs", response.ShortDebugString());
  }
  const std::string out =
      decoded.raw ? response.raw_output_contents(0)
                  : TypedBytes(response.outputs(0).contents(), dtype);
  if (out.size() != in.size()) Fail("response payload size differs", "");
  const size_t bad = testing::FirstMismatch(
      params, dtype, expected.data(),
      reinterpret_cast<const uint8_t*>(out.data()), decoded.count);
  if (bad != decoded.count) {
    Fail("result differs from the reference",
         std::string(core::DataTypeName(dtype)) + " element " +
             std::to_string(bad));
  }
}

// The service parses a large request with ParseInferRequest, which leaves
// the raw contents in gRPC's slices. Checks it against ParseRequest on the
// fuzzer's bytes behind a prefix that makes the message large enough (16
// KiB of raw contents; the fuzzer's own raw contents make them two, parsed
// whole), cut into slices whose sizes the bytes choose; and checks that
// what the split request decodes and computes is what the whole one does.
void CheckSplitParse(const uint8_t* data, size_t size) {
  static const std::string* const prefix = [] {
    ModelInferRequest request;
    request.add_raw_input_contents(std::string(16 << 10, '\x81'));
    return new std::string(request.SerializeAsString());
  }();
  grpc::ByteBuffer whole_bytes = testing::InSlices(*prefix, data, size);
  grpc::ByteBuffer split_bytes = whole_bytes;
  ModelInferRequest whole;
  ModelInferRequest request;
  server::SplitPayload split;
  const absl::Status expected = server::ParseRequest(&whole_bytes, &whole);
  const absl::Status got =
      server::ParseInferRequest(&split_bytes, &request, &split);
  if (got != expected) {
    Fail("ParseInferRequest and ParseRequest disagree",
         got.ToString() + " vs " + expected.ToString());
  }
  if (!got.ok() || split.size == 0) {
    if (got.ok() && testing::DeterministicBytes(request) !=
                        testing::DeterministicBytes(whole)) {
      Fail("the request parsed whole differs", "");
    }
    return;
  }
  const std::string joined = testing::Joined(split);
  if (joined.size() != split.size || request.raw_input_contents_size() != 1 ||
      !request.raw_input_contents(0).empty()) {
    Fail("the split raw contents are not one entry left empty", "");
  }
  ModelInferRequest rebuilt = request;
  *rebuilt.mutable_raw_input_contents(0) = joined;
  if (testing::DeterministicBytes(rebuilt) !=
      testing::DeterministicBytes(whole)) {
    Fail("the split request differs from the whole one",
         request.ShortDebugString().substr(0, 512));
  }

  const absl::StatusOr<server::DecodedInfer> whole_decoded =
      Handler().Decode(whole);
  const absl::StatusOr<server::DecodedInfer> split_decoded =
      Handler().Decode(request, split.size);
  if (split_decoded.status() != whole_decoded.status()) {
    Fail("the split request decodes to another status",
         split_decoded.status().ToString() + " vs " +
             whole_decoded.status().ToString());
  }
  if (!whole_decoded.ok()) return;
  ModelInferResponse whole_response;
  const absl::Status whole_status = Handler().Infer(
      *whole_decoded, &whole, &whole_response, nullptr, nullptr);
  ModelInferResponse split_response;
  const absl::Status split_status = Handler().Infer(
      *split_decoded, &request, &split, &split_response, nullptr, nullptr);
  if (split_status != whole_status) {
    Fail("the split request computes another status",
         split_status.ToString() + " vs " + whole_status.ToString());
  }
  if (!split_status.ok()) return;
  ModelInferResponse expected_head = whole_response;
  expected_head.clear_raw_output_contents();
  const std::string& answer = whole_response.raw_output_contents(0);
  if (split.output == nullptr || answer.size() != split.size ||
      std::memcmp(split.output.get(), answer.data(), split.size) != 0 ||
      testing::DeterministicBytes(split_response) !=
          testing::DeterministicBytes(expected_head)) {
    Fail("the split request computes another answer",
         rebuilt.ShortDebugString().substr(0, 256));
  }
}

}  // namespace
}  // namespace activation

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  activation::CheckSplitParse(data, size);
  activation::ModelInferRequest request;
  if (!request.ParseFromArray(data, static_cast<int>(size))) return 0;
  absl::StatusOr<activation::server::DecodedInfer> decoded =
      activation::Handler().Decode(request);
  if (!decoded.ok()) {
    activation::CheckRefusal(decoded.status());
    return 0;
  }
  activation::CheckAccepted(request, *decoded);
  return 0;
}
