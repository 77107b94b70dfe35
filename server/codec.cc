#include "server/codec.h"

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "google/protobuf/io/coded_stream.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"
#include "grpcpp/support/slice.h"
#include "server/shape.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "raw_data is little-endian; the codec views it in place");

absl::Span<const int64_t> Shape(const v1::Tensor& tensor) {
  return absl::MakeConstSpan(tensor.shape().data(), tensor.shape_size());
}

absl::Status CheckPayload(const v1::Tensor& tensor, core::DataType dtype,
                          uint64_t count) {
  const bool has_raw = !tensor.raw_data().empty();
  const bool has_floats = tensor.float_data_size() > 0;
  if (has_raw && has_floats) {
    return absl::InvalidArgumentError(
        "input.raw_data and input.float_data are both set; set one");
  }
  if (has_floats) {
    if (dtype != core::DataType::kFloat32) {
      return absl::InvalidArgumentError(
          absl::StrCat("input.float_data is for FLOAT32 only, got ",
                       core::DataTypeName(dtype), "; use input.raw_data"));
    }
    if (static_cast<uint64_t>(tensor.float_data_size()) != count) {
      return absl::InvalidArgumentError(absl::StrCat(
          "input.float_data has ", tensor.float_data_size(), " values; shape ",
          ShapeString(Shape(tensor)), " needs ", count));
    }
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> needed =
      PayloadSize(count, dtype, Shape(tensor), "input.shape");
  if (!needed.ok()) return needed.status();
  if (tensor.raw_data().size() != *needed) {
    return absl::InvalidArgumentError(
        absl::StrCat("input.raw_data has ", tensor.raw_data().size(),
                     " bytes; shape ", ShapeString(Shape(tensor)), " of ",
                     core::DataTypeName(dtype), " needs ", *needed));
  }
  return absl::OkStatus();
}

// Converts and validates the parameters for `dtype`; errors name the field
// under "params.".
absl::StatusOr<core::ReluOp> DecodeOp(const v1::ReluParams& wire,
                                      core::DataType dtype) {
  absl::StatusOr<core::ReluParams> params = wire::ParamsFromProto(wire);
  if (!params.ok()) return params.status();
  absl::StatusOr<core::ReluOp> op = core::ReluOp::Create(*params, dtype);
  if (!op.ok()) {
    return absl::Status(op.status().code(),
                        absl::StrCat("params.", op.status().message()));
  }
  return op;
}

// Below this, copying the payload into gRPC's buffer costs less than a
// slice of its own and the string that owns it.
constexpr size_t kMovedPayloadBytes = 16 << 10;

// Appends the key of length-delimited field `field` and `length`.
void AppendLengthDelimited(int field, uint64_t length, std::string* out) {
  using google::protobuf::io::CodedOutputStream;
  uint8_t key_and_length[16];
  uint8_t* end = CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(field << 3 | 2), key_and_length);
  end = CodedOutputStream::WriteVarint64ToArray(length, end);
  out->append(reinterpret_cast<char*>(key_and_length), end - key_and_length);
}

}  // namespace

absl::StatusOr<DecodedRequest> DecodeRequest(const v1::ReluRequest& request,
                                             uint64_t max_elements,
                                             int max_rank) {
  if (!request.has_input()) {
    return absl::InvalidArgumentError("input must be set");
  }
  const v1::Tensor& input = request.input();
  absl::StatusOr<core::DataType> dtype =
      wire::DataTypeFromProto(input.dtype(), "input.dtype");
  if (!dtype.ok()) return dtype.status();
  absl::StatusOr<uint64_t> count =
      ElementCount(Shape(input), "input.shape", max_elements, max_rank);
  if (!count.ok()) return count.status();
  if (absl::Status s = CheckPayload(input, *dtype, *count); !s.ok()) return s;
  absl::StatusOr<core::ReluOp> op = DecodeOp(request.params(), *dtype);
  if (!op.ok()) return op.status();
  return DecodedRequest{*std::move(op), *count, input.float_data_size() > 0};
}

absl::Status ParseRequest(grpc::ByteBuffer* bytes,
                          google::protobuf::Message* request) {
  const size_t size = bytes->Length();
  grpc::ProtoBufferReader reader(bytes);
  const bool parsed = request->ParseFromZeroCopyStream(&reader);
  bytes->Clear();
  if (!parsed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the message (", size, " bytes) is not an ", request->GetTypeName()));
  }
  return absl::OkStatus();
}

absl::Status SerializeResponse(const google::protobuf::Message& response,
                               grpc::ByteBuffer* bytes) {
  bool own_buffer = false;
  const grpc::Status status = grpc::GenericSerialize<grpc::ProtoBufferWriter,
                                                     google::protobuf::Message>(
      response, bytes, &own_buffer);
  if (!status.ok()) {
    return absl::InternalError(absl::StrCat("cannot serialize the response: ",
                                            status.error_message()));
  }
  return absl::OkStatus();
}

absl::Status SerializeReluResponse(v1::ReluResponse* response,
                                   grpc::ByteBuffer* bytes) {
  v1::Tensor* output = response->mutable_output();
  if (output->raw_data().size() < kMovedPayloadBytes) {
    return SerializeResponse(*response, bytes);
  }
  auto* payload = new std::string;
  payload->swap(*output->mutable_raw_data());
  // ReluResponse.output (1), the tensor without its payload, then raw_data
  // (3) with the payload as a slice of its own: fields may come in any order.
  std::string head;
  const size_t tensor_head = output->ByteSizeLong();
  std::string raw_key;
  AppendLengthDelimited(v1::Tensor::kRawDataFieldNumber, payload->size(),
                        &raw_key);
  AppendLengthDelimited(v1::ReluResponse::kOutputFieldNumber,
                        tensor_head + raw_key.size() + payload->size(), &head);
  output->AppendToString(&head);
  head += raw_key;
  grpc::Slice slices[] = {
      grpc::Slice(head),
      grpc::Slice(
          payload->data(), payload->size(),
          [](void* p) { delete static_cast<std::string*>(p); }, payload)};
  grpc::ByteBuffer message(slices, 2);
  bytes->Swap(&message);
  return absl::OkStatus();
}

}  // namespace activation::server
