#include "server/relu_handler.h"

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "server/codec.h"

namespace activation::server {
namespace {

// Moves the payload of `input` into `output` (same dtype and shape) and
// returns where its elements now are.
void* MovePayload(bool float_data, v1::Tensor* input, v1::Tensor* output) {
  output->set_dtype(input->dtype());
  output->mutable_shape()->Swap(input->mutable_shape());
  if (float_data) {
    output->mutable_float_data()->Swap(input->mutable_float_data());
    return output->mutable_float_data()->mutable_data();
  }
  output->mutable_raw_data()->swap(*input->mutable_raw_data());
  return output->mutable_raw_data()->data();
}

}  // namespace

absl::Status ComputeInPlace(const core::Engine& engine, const core::ReluOp& op,
                            void* data, uint64_t count,
                            const core::Engine::CancelCheck& cancelled,
                            ComputeStats* stats) {
  if (stats == nullptr) return engine.Relu(op, data, data, count, cancelled);
  const absl::Time start = absl::Now();
  absl::Status status = engine.Relu(op, data, data, count, cancelled);
  stats->dtype = op.dtype();
  stats->elements = count;
  stats->duration = absl::Now() - start;
  stats->ran = true;
  return status;
}

absl::Status ReluHandler::Relu(v1::ReluRequest* request,
                               v1::ReluResponse* response,
                               const core::Engine::CancelCheck& cancelled,
                               ComputeStats* stats) const {
  absl::StatusOr<DecodedRequest> decoded =
      DecodeRequest(*request, max_elements_, max_rank_);
  if (!decoded.ok()) return decoded.status();
  void* data = MovePayload(decoded->float_data, request->mutable_input(),
                           response->mutable_output());
  return ComputeInPlace(*engine_, decoded->op, data, decoded->count, cancelled,
                        stats);
}

}  // namespace activation::server
