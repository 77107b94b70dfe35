#include "server/relu_handler.h"

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "server/codec.h"

namespace activation::server {
namespace {

// Gives `output` the dtype and shape of `input`.
void MoveMetadata(v1::Tensor* input, v1::Tensor* output) {
  output->set_dtype(input->dtype());
  output->mutable_shape()->Swap(input->mutable_shape());
}

// Moves the payload of `input` into `output` (same dtype and shape) and
// returns where its elements now are.
void* MovePayload(bool float_data, v1::Tensor* input, v1::Tensor* output) {
  MoveMetadata(input, output);
  if (float_data) {
    output->mutable_float_data()->Swap(input->mutable_float_data());
    return output->mutable_float_data()->mutable_data();
  }
  output->mutable_raw_data()->swap(*input->mutable_raw_data());
  return output->mutable_raw_data()->data();
}

// Runs `compute` (the engine on `count` elements of `op`), filling `stats`
// when it is not null.
absl::Status Timed(const core::ReluOp& op, uint64_t count, ComputeStats* stats,
                   absl::FunctionRef<absl::Status()> compute) {
  if (stats == nullptr) return compute();
  const absl::Time start = absl::Now();
  absl::Status status = compute();
  stats->dtype = op.dtype();
  stats->elements = count;
  stats->duration = absl::Now() - start;
  stats->ran = true;
  return status;
}

}  // namespace

absl::Status ComputeInPlace(const core::Engine& engine, const core::ReluOp& op,
                            void* data, uint64_t count,
                            const core::Engine::CancelCheck& cancelled,
                            ComputeStats* stats) {
  return Timed(op, count, stats,
               [&] { return engine.Relu(op, data, data, count, cancelled); });
}

absl::Status ComputeSplit(const core::Engine& engine, const core::ReluOp& op,
                          SplitPayload* split, uint64_t count,
                          const core::Engine::CancelCheck& cancelled,
                          ComputeStats* stats) {
  split->output.reset(new uint8_t[split->size]);  // not zeroed: all written
  return Timed(op, count, stats, [&] {
    return engine.Relu(op, split->input, split->output.get(), count, cancelled);
  });
}

absl::Status ReluHandler::Relu(v1::ReluRequest* request, SplitPayload* split,
                               v1::ReluResponse* response,
                               const core::Engine::CancelCheck& cancelled,
                               ComputeStats* stats) const {
  const uint64_t split_bytes = split == nullptr ? 0 : split->size;
  absl::StatusOr<DecodedRequest> decoded =
      DecodeRequest(*request, max_elements_, max_rank_, split_bytes);
  if (!decoded.ok()) return decoded.status();
  if (split_bytes == 0) {
    void* data = MovePayload(decoded->float_data, request->mutable_input(),
                             response->mutable_output());
    return ComputeInPlace(*engine_, decoded->op, data, decoded->count,
                          cancelled, stats);
  }
  MoveMetadata(request->mutable_input(), response->mutable_output());
  return ComputeSplit(*engine_, decoded->op, split, decoded->count, cancelled,
                      stats);
}

}  // namespace activation::server
