#include "server/oip_codec.h"

#include <algorithm>
#include <array>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "server/client_text.h"
#include "server/codec.h"
#include "server/oip.h"
#include "server/shape.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

using inference::InferTensorContents;
using inference::ModelInferRequest;
using inference::ModelInferResponse;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "raw contents are little-endian; the codec views them in place");

// The typed-contents field of element type T: its name and its values
// (null for FP16 and BF16, which the protocol carries raw only).
template <typename T>
auto* ContentsField(InferTensorContents* contents) {
  if constexpr (std::is_same_v<T, float>) {
    return contents->mutable_fp32_contents();
  } else if constexpr (std::is_same_v<T, double>) {
    return contents->mutable_fp64_contents();
  } else if constexpr (std::is_same_v<T, int64_t>) {
    return contents->mutable_int64_contents();
  } else if constexpr (std::is_same_v<T, uint64_t>) {
    return contents->mutable_uint64_contents();
  } else if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return contents->mutable_int_contents();
  } else if constexpr (std::is_integral_v<T>) {
    return contents->mutable_uint_contents();
  } else {
    return static_cast<google::protobuf::RepeatedField<int32_t>*>(nullptr);
  }
}

template <typename T>
constexpr absl::string_view ContentsFieldName() {
  if constexpr (std::is_same_v<T, float>) return "fp32_contents";
  if constexpr (std::is_same_v<T, double>) return "fp64_contents";
  if constexpr (std::is_same_v<T, int64_t>) return "int64_contents";
  if constexpr (std::is_same_v<T, uint64_t>) return "uint64_contents";
  if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
    return "int_contents";
  }
  if constexpr (std::is_integral_v<T>) return "uint_contents";
  return "";
}

// The sizes of every typed-contents field, by name.
std::array<std::pair<absl::string_view, int>, 8> FieldSizes(
    const InferTensorContents& c) {
  return {{{"bool_contents", c.bool_contents_size()},
           {"int_contents", c.int_contents_size()},
           {"int64_contents", c.int64_contents_size()},
           {"uint_contents", c.uint_contents_size()},
           {"uint64_contents", c.uint64_contents_size()},
           {"fp32_contents", c.fp32_contents_size()},
           {"fp64_contents", c.fp64_contents_size()},
           {"bytes_contents", c.bytes_contents_size()}}};
}

// Checks that the typed contents of input 0 hold `count` values of `dtype`
// in its field, and nothing in the others.
absl::Status CheckContents(const InferTensorContents& contents,
                           core::DataType dtype, uint64_t count) {
  const absl::string_view name = wire::OipDataTypeName(dtype);
  const absl::string_view field = core::VisitDataType(dtype, [](auto tag) {
    return ContentsFieldName<typename decltype(tag)::type>();
  });
  for (const auto& [other, size] : FieldSizes(contents)) {
    if (other == field || size == 0) continue;
    if (field.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("inputs[0].contents.", other, " is set; ", name,
                       " tensors travel in raw_input_contents only"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[0].contents.", other, " is not for ", name,
                     "; use inputs[0].contents.", field));
  }
  if (field.empty()) {
    if (count == 0) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[0] has no data; ", name,
                     " tensors travel in raw_input_contents"));
  }
  int size = 0;
  for (const auto& [other, n] : FieldSizes(contents)) {
    if (other == field) size = n;
  }
  if (static_cast<uint64_t>(size) != count) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs[0].contents.", field, " has ", size,
                     " values; the shape needs ", count));
  }
  return absl::OkStatus();
}

// Checks that the raw contents hold exactly `count` elements of `dtype`.
absl::Status CheckRaw(const ModelInferRequest& request, core::DataType dtype,
                      uint64_t count, uint64_t split_raw_bytes) {
  if (request.raw_input_contents_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "raw_input_contents has ", request.raw_input_contents_size(),
        " entries; model relu takes 1 input"));
  }
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  if (input.has_contents()) {
    return absl::InvalidArgumentError(
        "inputs[0].contents and raw_input_contents are both set; set one");
  }
  const absl::Span<const int64_t> shape(input.shape().data(),
                                        input.shape_size());
  absl::StatusOr<uint64_t> needed =
      PayloadSize(count, dtype, shape, "inputs[0].shape");
  if (!needed.ok()) return needed.status();
  const uint64_t size = request.raw_input_contents(0).size() + split_raw_bytes;
  if (size != *needed) {
    return absl::InvalidArgumentError(
        absl::StrCat("raw_input_contents[0] has ", size, " bytes; shape ",
                     ShapeString(shape), " of ", wire::OipDataTypeName(dtype),
                     " needs ", *needed));
  }
  return absl::OkStatus();
}

using Parameters =
    google::protobuf::Map<std::string, inference::InferParameter>;

// The entries of `parameters` in key order: which one an error names must
// not depend on the map's own order (unspecified, and not the same for two
// maps of the same entries).
std::vector<const Parameters::value_type*> InKeyOrder(
    const Parameters& parameters) {
  std::vector<const Parameters::value_type*> entries;
  entries.reserve(parameters.size());
  for (const auto& entry : parameters) entries.push_back(&entry);
  std::sort(entries.begin(), entries.end(),
            [](const auto* a, const auto* b) { return a->first < b->first; });
  return entries;
}

// Checks that the first of a request's `kind` tensors ("input" or
// "output") is named `expected` and has no parameters: the model has no
// other tensor and takes no per-tensor parameter.
absl::Status CheckTensor(absl::string_view kind, absl::string_view expected,
                         const std::string& name,
                         const Parameters& parameters) {
  if (name != expected) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, "s[0].name ", QuoteClientText(name), " is no ", kind,
                     " of model relu; its ", kind, " is \"", expected, "\""));
  }
  if (!parameters.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(kind, "s[0].parameters: unknown parameter ",
                     QuoteClientText(InKeyOrder(parameters)[0]->first)));
  }
  return absl::OkStatus();
}

// Checks the requested outputs: none (all), or "output" without parameters.
absl::Status CheckOutputs(const ModelInferRequest& request) {
  if (request.outputs_size() > 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("outputs asks for ", request.outputs_size(),
                     " tensors; model relu has 1 (\"output\")"));
  }
  if (request.outputs_size() == 0) return absl::OkStatus();
  const auto& output = request.outputs(0);
  return CheckTensor("output", oip::kOutputName, output.name(),
                     output.parameters());
}

// Converts a request parameter to the fronts' common form.
absl::StatusOr<oip::ParamValue> ValueOf(const inference::InferParameter& p) {
  switch (p.parameter_choice_case()) {
    case inference::InferParameter::kBoolParam:
      return oip::ParamValue(p.bool_param());
    case inference::InferParameter::kInt64Param:
      return oip::ParamValue(p.int64_param());
    case inference::InferParameter::kStringParam:
      return oip::ParamValue(std::string_view(p.string_param()));
    case inference::InferParameter::kDoubleParam:
      return oip::ParamValue(p.double_param());
    case inference::InferParameter::kUint64Param:
      return oip::ParamValue(p.uint64_param());
    case inference::InferParameter::PARAMETER_CHOICE_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("a parameter has no value");
}

absl::StatusOr<core::ReluOp> DecodeOp(const ModelInferRequest& request,
                                      core::DataType dtype) {
  oip::ReluParamsBuilder builder;
  for (const Parameters::value_type* entry : InKeyOrder(request.parameters())) {
    absl::StatusOr<oip::ParamValue> value = ValueOf(entry->second);
    absl::Status s =
        value.ok() ? builder.Set(entry->first, *value) : value.status();
    if (!s.ok()) return s;
  }
  return builder.Build(dtype);
}

// Computes the typed contents of element type T through their own field
// (in place when T is the field's type) into `output`.
template <typename T>
absl::Status InferTyped(const core::Engine& engine, const core::ReluOp& op,
                        uint64_t count, InferTensorContents* input,
                        InferTensorContents* output,
                        const core::Engine::CancelCheck& cancelled,
                        ComputeStats* stats) {
  // FP16 and BF16 have no field: CheckContents let only empty ones by.
  if constexpr (!std::is_arithmetic_v<T>) {
    return absl::OkStatus();
  } else {
    auto* values = ContentsField<T>(input);
    using Wire = typename std::remove_pointer_t<decltype(values)>::value_type;
    auto* out = ContentsField<T>(output);
    out->Swap(values);
    if constexpr (std::is_same_v<Wire, T>) {
      return ComputeInPlace(engine, op, out->mutable_data(), count, cancelled,
                            stats);
    } else {
      std::vector<T> buffer(count);
      for (uint64_t i = 0; i < count; ++i) {
        const Wire value = out->Get(static_cast<int>(i));
        buffer[i] = static_cast<T>(value);
        if (static_cast<Wire>(buffer[i]) != value) {
          return absl::InvalidArgumentError(
              absl::StrCat("inputs[0].contents.", ContentsFieldName<T>(), "[",
                           i, "] = ", value, " is out of range for ",
                           wire::OipDataTypeName(op.dtype())));
        }
      }
      absl::Status s =
          ComputeInPlace(engine, op, buffer.data(), count, cancelled, stats);
      for (uint64_t i = 0; i < count; ++i) {
        out->Set(static_cast<int>(i), buffer[i]);
      }
      return s;
    }
  }
}

}  // namespace

absl::Status ParseInferRequest(grpc::ByteBuffer* bytes,
                               ModelInferRequest* request,
                               SplitPayload* split) {
  return ParseSplit(
      bytes, {ModelInferRequest::kRawInputContentsFieldNumber},
      [](const google::protobuf::Message& parsed) {
        const auto& raw =
            static_cast<const ModelInferRequest&>(parsed).raw_input_contents();
        return std::all_of(raw.begin(), raw.end(),
                           [](const std::string& r) { return r.empty(); });
      },
      request, split);
}

absl::Status SerializeInferResponse(const ModelInferResponse& response,
                                    SplitPayload* split,
                                    grpc::ByteBuffer* bytes) {
  return SerializeWithSplitPayload(
      response, ModelInferResponse::kRawOutputContentsFieldNumber, split,
      bytes);
}

uint64_t InferPayloadBytes(const ModelInferRequest& request) {
  uint64_t bytes = 0;
  for (const std::string& raw : request.raw_input_contents()) {
    bytes += raw.size();
  }
  for (const auto& input : request.inputs()) {
    const InferTensorContents& c = input.contents();
    const auto n = [](int size) { return static_cast<uint64_t>(size); };
    bytes += 4 * (n(c.int_contents_size()) + n(c.uint_contents_size()) +
                  n(c.fp32_contents_size())) +
             8 * (n(c.int64_contents_size()) + n(c.uint64_contents_size()) +
                  n(c.fp64_contents_size())) +
             n(c.bool_contents_size());
  }
  return bytes;
}

absl::StatusOr<DecodedInfer> InferHandler::Decode(
    const ModelInferRequest& request, uint64_t split_raw_bytes) const {
  if (absl::Status s =
          oip::CheckModel(request.model_name(), request.model_version());
      !s.ok()) {
    return s;
  }
  if (request.inputs_size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs has ", request.inputs_size(),
                     " tensors; model relu takes 1 (\"input\")"));
  }
  const ModelInferRequest::InferInputTensor& input = request.inputs(0);
  if (absl::Status s = CheckTensor("input", oip::kInputName, input.name(),
                                   input.parameters());
      !s.ok()) {
    return s;
  }
  absl::StatusOr<core::DataType> dtype =
      oip::DataTypeFromName(input.datatype(), "inputs[0].datatype");
  if (!dtype.ok()) return dtype.status();
  absl::StatusOr<uint64_t> count = ElementCount(
      absl::MakeConstSpan(input.shape().data(), input.shape_size()),
      "inputs[0].shape", max_elements_, max_rank_);
  if (!count.ok()) return count.status();
  const bool raw = request.raw_input_contents_size() > 0;
  absl::Status s = raw ? CheckRaw(request, *dtype, *count, split_raw_bytes)
                       : CheckContents(input.contents(), *dtype, *count);
  if (!s.ok()) return s;
  if (s = CheckOutputs(request); !s.ok()) return s;
  absl::StatusOr<core::ReluOp> op = DecodeOp(request, *dtype);
  if (!op.ok()) return op.status();
  return DecodedInfer{*std::move(op), *count, raw,
                      InferPayloadBytes(request) + split_raw_bytes};
}

absl::Status InferHandler::Infer(const DecodedInfer& decoded,
                                 ModelInferRequest* request,
                                 SplitPayload* split,
                                 ModelInferResponse* response,
                                 const core::Engine::CancelCheck& cancelled,
                                 ComputeStats* stats) const {
  ModelInferRequest::InferInputTensor* input = request->mutable_inputs(0);
  response->set_model_name(std::string(oip::kModelName));
  response->set_model_version(std::string(oip::kModelVersion));
  response->mutable_id()->swap(*request->mutable_id());
  ModelInferResponse::InferOutputTensor* output = response->add_outputs();
  output->set_name(std::string(oip::kOutputName));
  output->mutable_datatype()->swap(*input->mutable_datatype());
  output->mutable_shape()->Swap(input->mutable_shape());
  if (decoded.raw && split != nullptr && split->size > 0) {
    return ComputeSplit(*engine_, decoded.op, split, decoded.count, cancelled,
                        stats);
  }
  if (decoded.raw) {
    std::string* data = response->add_raw_output_contents();
    data->swap(*request->mutable_raw_input_contents(0));
    return ComputeInPlace(*engine_, decoded.op, data->data(), decoded.count,
                          cancelled, stats);
  }
  return core::VisitDataType(decoded.op.dtype(), [&](auto tag) {
    return InferTyped<typename decltype(tag)::type>(
        *engine_, decoded.op, decoded.count, input->mutable_contents(),
        output->mutable_contents(), cancelled, stats);
  });
}

}  // namespace activation::server
