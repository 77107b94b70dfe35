// Validates ReluRequest messages and views them as what the engine needs.
// Knows no transport.

#ifndef ACTIVATION_SERVER_CODEC_H_
#define ACTIVATION_SERVER_CODEC_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "activation/v1/activation.pb.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "google/protobuf/message.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/split_payload.h"

namespace activation::server {

// A request that passed validation: the engine runs `op` as it is, without
// validating again.
struct DecodedRequest {
  core::ReluOp op;          // the parameters, for the input's dtype
  uint64_t count = 0;       // product(shape)
  bool float_data = false;  // the elements are in input.float_data
};

// Validates `request` and returns what the engine needs. Errors:
// InvalidArgument naming the field, what was expected and what came (e.g.
// "input.raw_data has 12 bytes; shape [2,2] of FLOAT32 needs 16");
// ResourceExhausted for a tensor of more than `max_elements` elements or
// `max_rank` dimensions. Messages quote at most 16 dimensions of a shape.
// `split_raw_bytes` is the size of an input.raw_data kept out of `request`
// (SplitPayload), if any.
absl::StatusOr<DecodedRequest> DecodeRequest(const v1::ReluRequest& request,
                                             uint64_t max_elements,
                                             int max_rank = 64,
                                             uint64_t split_raw_bytes = 0);

// Parses `bytes`, as gRPC received them, into `request` (a ReluRequest, a
// ModelInferRequest, ...) and clears them (the request holds the payload
// now). InvalidArgument naming the message type when they are not one.
absl::Status ParseRequest(grpc::ByteBuffer* bytes,
                          google::protobuf::Message* request);

// Where a request's payload is (see ParseSplit): bytes field `field` of the
// message, or bytes field `inner` of the message in field `field`.
struct PayloadField {
  int field;
  int inner = 0;  // none
};

// As ParseRequest, except that a large (16 KiB or more) request's payload
// stays in the slices gRPC received it in: `split` views and holds it
// (split->size is 0 when it did not). For a singular field, the last one
// sent counts, as protobuf keeps it; a repeated top-level field is split
// for one entry only, left empty in `request`. `left_out(request)` says
// that the payload is not in the parsed rest (else the whole is parsed). A
// message ParseRequest refuses is refused with the same error.
absl::Status ParseSplit(
    grpc::ByteBuffer* bytes, const PayloadField& where,
    absl::FunctionRef<bool(const google::protobuf::Message&)> left_out,
    google::protobuf::Message* request, SplitPayload* split);

// As ParseRequest for a ReluRequest, except that a large input.raw_data
// stays in the slices gRPC received it in: `split` views and holds them
// (split->size is 0 when it did not). A message ParseRequest refuses is
// refused with the same error.
absl::Status ParseReluRequest(grpc::ByteBuffer* bytes, v1::ReluRequest* request,
                              SplitPayload* split);

// Serializes `response` into `bytes` for gRPC to send.
absl::Status SerializeResponse(const google::protobuf::Message& response,
                               grpc::ByteBuffer* bytes);

// As SerializeResponse, but an output.raw_data of 16 KiB or more is moved
// into `bytes` as a slice of its own rather than copied (`response` is left
// without it): the wire bytes are a valid ReluResponse, its payload field
// last.
absl::Status SerializeReluResponse(v1::ReluResponse* response,
                                   grpc::ByteBuffer* bytes);

// Serializes `response` into `bytes`, followed by split->output (when
// `split` has one) as bytes field `field` of the message, a slice of its
// own.
absl::Status SerializeWithSplitPayload(
    const google::protobuf::Message& response, int field, SplitPayload* split,
    grpc::ByteBuffer* bytes);

// As SerializeReluResponse above, for a response whose output.raw_data is
// split->output (when `split` has one): that buffer becomes the payload's
// slice.
absl::Status SerializeReluResponse(v1::ReluResponse* response,
                                   SplitPayload* split,
                                   grpc::ByteBuffer* bytes);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CODEC_H_
