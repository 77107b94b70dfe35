#include "server/codec.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
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
                          uint64_t count, uint64_t split_raw_bytes) {
  const uint64_t raw_bytes = tensor.raw_data().size() + split_raw_bytes;
  const bool has_raw = raw_bytes > 0;
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
  if (raw_bytes != *needed) {
    return absl::InvalidArgumentError(
        absl::StrCat("input.raw_data has ", raw_bytes, " bytes; shape ",
                     ShapeString(Shape(tensor)), " of ",
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
// slice of its own and the string that owns it, and parsing a request whole
// less than splitting its payload off.
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

// Makes `bytes` the message `head` then `payload`, a slice of its own.
void SendHeadAndPayload(const std::string& head, grpc::Slice payload,
                        grpc::ByteBuffer* bytes) {
  grpc::Slice slices[] = {grpc::Slice(head), std::move(payload)};
  grpc::ByteBuffer message(slices, 2);
  bytes->Swap(&message);
}

// Serializes `response`, whose output has no raw_data, with `payload` as
// its output.raw_data into `bytes`: ReluResponse.output (1), the tensor
// without its payload, then raw_data (3) as a slice of its own (fields may
// come in any order).
void SerializeWithPayload(const v1::ReluResponse& response, grpc::Slice payload,
                          grpc::ByteBuffer* bytes) {
  std::string head;
  const size_t tensor_head = response.output().ByteSizeLong();
  std::string raw_key;
  AppendLengthDelimited(v1::Tensor::kRawDataFieldNumber, payload.size(),
                        &raw_key);
  AppendLengthDelimited(v1::ReluResponse::kOutputFieldNumber,
                        tensor_head + raw_key.size() + payload.size(), &head);
  response.output().AppendToString(&head);
  head += raw_key;
  SendHeadAndPayload(head, std::move(payload), bytes);
}

// Hands split->output to a slice that frees it.
grpc::Slice OutputSlice(SplitPayload* split) {
  uint8_t* payload = split->output.release();
  return grpc::Slice(
      payload, split->size, [](void* p) { delete[] static_cast<uint8_t*>(p); },
      payload);
}

// Reads a message's bytes across the slices gRPC received it in. A copy
// remembers where the original was.
class SliceReader {
 public:
  explicit SliceReader(const std::vector<grpc::Slice>& slices)
      : slices_(&slices) {}

  uint64_t position() const { return position_; }

  // Reads a varint of at most `max_bytes` bytes.
  bool ReadVarint(uint64_t* value, int max_bytes = 10) {
    *value = 0;
    for (int i = 0; i < max_bytes; ++i) {
      uint8_t byte = 0;
      if (!Take(1, [&](const uint8_t* data, size_t) { byte = *data; })) {
        return false;
      }
      *value |= uint64_t{byte & 0x7fu} << (7 * i);
      if ((byte & 0x80) == 0) return true;
    }
    return false;
  }

  // Passes the next `n` bytes to `sink(data, size)`, a piece at a time;
  // false when the message ends first.
  template <typename Sink>
  bool Take(uint64_t n, Sink sink) {
    while (n > 0) {
      if (slice_ == slices_->size()) return false;
      const grpc::Slice& slice = (*slices_)[slice_];
      const size_t size = std::min<uint64_t>(n, slice.size() - offset_);
      if (size > 0) sink(slice.begin() + offset_, size);
      offset_ += size;
      position_ += size;
      n -= size;
      if (offset_ == slice.size()) {
        ++slice_;
        offset_ = 0;
      }
    }
    return true;
  }

  bool Skip(uint64_t n) {
    return Take(n, [](const uint8_t*, size_t) {});
  }

  // Appends views of the next `n` bytes to `views`, one per slice.
  bool TakeViews(uint64_t n, std::vector<absl::Span<const uint8_t>>* views) {
    return Take(n, [views](const uint8_t* data, size_t size) {
      views->emplace_back(data, size);
    });
  }

  // Appends the bytes from `from` (a copy of this reader) to here to `out`.
  bool CopySince(SliceReader from, std::string* out) const {
    return from.Take(position_ - from.position_,
                     [out](const uint8_t* data, size_t size) {
                       out->append(reinterpret_cast<const char*>(data), size);
                     });
  }

 private:
  const std::vector<grpc::Slice>* slices_;  // Not owned.
  size_t slice_ = 0;
  size_t offset_ = 0;  // in slice_
  uint64_t position_ = 0;
};

// Protobuf reads a key or a length in at most 5 bytes, as 32 bits (a key's
// higher bits dropped, a length over INT_MAX refused): where it would, the
// split gives up and lets protobuf decide.
bool ReadKey(SliceReader& reader, uint64_t* key) {
  return reader.ReadVarint(key, 5) &&
         *key <= std::numeric_limits<uint32_t>::max();
}
// Reads a length that must not reach past `end`.
bool ReadLength(SliceReader& reader, uint64_t end, uint64_t* length) {
  return reader.ReadVarint(length, 5) &&
         *length <= uint64_t{std::numeric_limits<int32_t>::max()} &&
         reader.position() <= end && *length <= end - reader.position();
}

// Fields other than the payload are copied into a small message to parse;
// a message with more than this of them (float_data, say) is parsed whole.
constexpr size_t kMaxCopiedBytes = 16 << 10;

// Skips the value of a field with key `tag`, not past `end`. False for a
// group or an invalid wire type: the protobuf parser decides about those.
bool SkipValue(SliceReader& reader, uint64_t tag, uint64_t end) {
  uint64_t size = 0;
  switch (tag & 7) {
    case 0:
      if (!reader.ReadVarint(&size)) return false;
      break;
    case 1:
      if (!reader.Skip(8)) return false;
      break;
    case 2:
      if (!ReadLength(reader, end, &size) || !reader.Skip(size)) return false;
      break;
    case 5:
      if (!reader.Skip(4)) return false;
      break;
    default:
      return false;
  }
  return reader.position() <= end;
}

// The key of length-delimited field `field`.
constexpr uint64_t LengthDelimitedKey(int field) {
  return static_cast<uint64_t>(field) << 3 | 2;
}

// Splits a message that ends at `end`: its bytes field `payload` goes to
// `raw` (the last one, as protobuf keeps the last), every other field to
// `rest`.
bool SplitMessage(SliceReader& reader, uint64_t end, int payload,
                  std::string* rest,
                  std::vector<absl::Span<const uint8_t>>* raw) {
  while (reader.position() < end) {
    const SliceReader field = reader;
    uint64_t tag = 0;
    if (!ReadKey(reader, &tag)) return false;
    if (tag == LengthDelimitedKey(payload)) {
      uint64_t size = 0;
      if (!ReadLength(reader, end, &size)) return false;
      raw->clear();
      if (!reader.TakeViews(size, raw)) return false;
      continue;
    }
    if (!SkipValue(reader, tag, end) || !reader.CopySince(field, rest) ||
        rest->size() > kMaxCopiedBytes) {
      return false;
    }
  }
  return reader.position() == end;
}

// Splits a message of `size` bytes: the payload `where` says to `raw`, the
// rest to `rest` (a valid message when the whole is). False where the split
// is not sure to mean what the whole means; the caller parses the whole
// then.
bool SplitRequest(const std::vector<grpc::Slice>& slices, uint64_t size,
                  const PayloadField& where, std::string* rest,
                  std::vector<absl::Span<const uint8_t>>* raw) {
  SliceReader reader(slices);
  std::string inner;
  bool seen = false;
  while (reader.position() < size) {
    const SliceReader field = reader;
    uint64_t tag = 0;
    if (!ReadKey(reader, &tag)) return false;
    if (tag == LengthDelimitedKey(where.field)) {
      uint64_t length = 0;
      if (!ReadLength(reader, size, &length)) return false;
      if (where.inner != 0) {
        // Each message is kept as a field of its own: protobuf merges them.
        inner.clear();
        if (!SplitMessage(reader, reader.position() + length, where.inner,
                          &inner, raw)) {
          return false;
        }
        AppendLengthDelimited(where.field, inner.size(), rest);
        rest->append(inner);
      } else {
        // One entry of a repeated field, left empty in the rest so that
        // the message still counts it.
        if (seen) return false;
        seen = true;
        if (!reader.TakeViews(length, raw)) return false;
        AppendLengthDelimited(where.field, 0, rest);
      }
    } else if (!SkipValue(reader, tag, size) ||
               !reader.CopySince(field, rest)) {
      return false;
    }
    if (rest->size() > kMaxCopiedBytes) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<DecodedRequest> DecodeRequest(const v1::ReluRequest& request,
                                             uint64_t max_elements,
                                             int max_rank,
                                             uint64_t split_raw_bytes) {
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
  if (absl::Status s = CheckPayload(input, *dtype, *count, split_raw_bytes);
      !s.ok()) {
    return s;
  }
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

absl::Status ParseSplit(
    grpc::ByteBuffer* bytes, const PayloadField& where,
    absl::FunctionRef<bool(const google::protobuf::Message&)> left_out,
    google::protobuf::Message* request, SplitPayload* split) {
  const size_t size = bytes->Length();
  split->ReleaseInput();
  split->size = 0;
  if (size >= kMovedPayloadBytes) {
    auto slices = std::make_shared<std::vector<grpc::Slice>>();
    std::string rest;
    if (bytes->Dump(slices.get()).ok() &&
        SplitRequest(*slices, size, where, &rest, &split->input) &&
        request->ParseFromString(rest) && left_out(*request)) {
      for (absl::Span<const uint8_t> piece : split->input) {
        split->size += piece.size();
      }
      // All but the payload is small (at most what the split copies and the
      // keys): a payload dropped for a later one stays held with the
      // slices, outside the memory budget, so not much of it.
      if (size - split->size <= 2 * kMaxCopiedBytes) {
        split->input_owner = std::move(slices);
        bytes->Clear();
        return absl::OkStatus();
      }
    }
    split->ReleaseInput();
    split->size = 0;
    request->Clear();
  }
  return ParseRequest(bytes, request);
}

absl::Status ParseReluRequest(grpc::ByteBuffer* bytes, v1::ReluRequest* request,
                              SplitPayload* split) {
  return ParseSplit(
      bytes,
      {v1::ReluRequest::kInputFieldNumber, v1::Tensor::kRawDataFieldNumber},
      [](const google::protobuf::Message& parsed) {
        return static_cast<const v1::ReluRequest&>(parsed)
            .input()
            .raw_data()
            .empty();
      },
      request, split);
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
  std::string& raw = *response->mutable_output()->mutable_raw_data();
  if (raw.size() < kMovedPayloadBytes) {
    return SerializeResponse(*response, bytes);
  }
  auto* payload = new std::string;
  payload->swap(raw);
  SerializeWithPayload(
      *response,
      grpc::Slice(
          payload->data(), payload->size(),
          [](void* p) { delete static_cast<std::string*>(p); }, payload),
      bytes);
  return absl::OkStatus();
}

absl::Status SerializeWithSplitPayload(
    const google::protobuf::Message& response, int field, SplitPayload* split,
    grpc::ByteBuffer* bytes) {
  if (split == nullptr || split->output == nullptr) {
    return SerializeResponse(response, bytes);
  }
  std::string head = response.SerializeAsString();
  AppendLengthDelimited(field, split->size, &head);
  SendHeadAndPayload(head, OutputSlice(split), bytes);
  return absl::OkStatus();
}

absl::Status SerializeReluResponse(v1::ReluResponse* response,
                                   SplitPayload* split,
                                   grpc::ByteBuffer* bytes) {
  if (split == nullptr || split->output == nullptr) {
    return SerializeReluResponse(response, bytes);
  }
  SerializeWithPayload(*response, OutputSlice(split), bytes);
  return absl::OkStatus();
}

}  // namespace activation::server
