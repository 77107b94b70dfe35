// Validates inference.ModelInferRequest messages (the Open Inference
// Protocol over gRPC) and computes them into ModelInferResponses: large raw
// contents from the slices gRPC received them in, out of place, as
// activation.v1's raw_data; small ones in place, moved from request to
// response; typed contents in place when their field is the dtype's own
// width, else through one buffer of the dtype.

#ifndef ACTIVATION_SERVER_OIP_CODEC_H_
#define ACTIVATION_SERVER_OIP_CODEC_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/engine.h"
#include "core/relu.h"
#include "grpcpp/support/byte_buffer.h"
#include "inference/grpc_predict_v2.pb.h"
#include "server/relu_handler.h"
#include "server/split_payload.h"

namespace activation::server {

// A ModelInferRequest that passed validation.
struct DecodedInfer {
  core::ReluOp op;          // the parameters, for the input's datatype
  uint64_t count = 0;       // product(shape)
  bool raw = false;         // the elements are in raw_input_contents[0]
  uint64_t wire_bytes = 0;  // the payload's bytes in the message
};

// Returns the payload bytes of `request`'s tensors as they travel: the raw
// contents, or the typed contents' values at their field's width.
uint64_t InferPayloadBytes(const inference::ModelInferRequest& request);

// As ParseRequest for a ModelInferRequest, except that the raw contents of
// a large request stay in the slices gRPC received them in (see
// ParseSplit): `split` holds them, `request` an empty raw_input_contents[0]
// in their place.
absl::Status ParseInferRequest(grpc::ByteBuffer* bytes,
                               inference::ModelInferRequest* request,
                               SplitPayload* split);

// Serializes `response` for gRPC, with split->output (when `split` has one)
// as its raw_output_contents[0], a slice of its own.
absl::Status SerializeInferResponse(
    const inference::ModelInferResponse& response, SplitPayload* split,
    grpc::ByteBuffer* bytes);

// Thread-safe; holds no per-call state.
class InferHandler {
 public:
  // `engine` is not owned and must outlive *this.
  InferHandler(const core::Engine* engine, uint64_t max_elements,
               int max_rank = 64)
      : engine_(engine), max_elements_(max_elements), max_rank_(max_rank) {}

  // Validates `request`. NotFound for another model or version;
  // InvalidArgument naming the field, what was expected and what came
  // (e.g. "raw_input_contents[0] has 12 bytes; shape [2,2] of FP32 needs
  // 16"); ResourceExhausted over --max_elements or --max_rank.
  // `split_raw_bytes` is the size of raw_input_contents[0] when it was
  // kept out of `request` (ParseInferRequest), which holds it empty then.
  absl::StatusOr<DecodedInfer> Decode(
      const inference::ModelInferRequest& request,
      uint64_t split_raw_bytes = 0) const;

  // Computes the `decoded` `request` into `response`, the payload moved
  // there (so `request` loses it), in the request's encoding. Cancelled when
  // `cancelled` says so mid-compute; InvalidArgument for a typed value out
  // of its datatype's range. With `stats`, fills it.
  absl::Status Infer(const DecodedInfer& decoded,
                     inference::ModelInferRequest* request,
                     inference::ModelInferResponse* response,
                     const core::Engine::CancelCheck& cancelled,
                     ComputeStats* stats) const {
    return Infer(decoded, request, nullptr, response, cancelled, stats);
  }

  // As above, for raw contents that may be in `split` (when its size is not
  // 0): computed from there into split->output, out of place; `response`
  // gets no raw_output_contents then (SerializeInferResponse adds it).
  absl::Status Infer(const DecodedInfer& decoded,
                     inference::ModelInferRequest* request, SplitPayload* split,
                     inference::ModelInferResponse* response,
                     const core::Engine::CancelCheck& cancelled,
                     ComputeStats* stats) const;

 private:
  const core::Engine* engine_;  // Not owned.
  const uint64_t max_elements_;
  const int max_rank_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_OIP_CODEC_H_
