// The Relu logic every front calls: decode, compute, encode. Knows no
// threads, no transport and no metrics.

#ifndef ACTIVATION_SERVER_RELU_HANDLER_H_
#define ACTIVATION_SERVER_RELU_HANDLER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "activation/v1/activation.pb.h"
#include "core/dtype.h"
#include "core/engine.h"
#include "server/split_payload.h"

namespace activation::server {

// What one Relu computed, for whoever records it.
struct ComputeStats {
  core::DataType dtype = core::DataType::kFloat32;
  uint64_t elements = 0;
  absl::Duration duration;  // engine time
  bool ran = false;         // false: the request was refused before compute
};

// Runs `op` on the `count` elements at `data`, in place, on `engine`,
// polling `cancelled` (see core::Engine::Relu). With `stats`, fills it (and
// reads the clock twice; without, never).
absl::Status ComputeInPlace(const core::Engine& engine, const core::ReluOp& op,
                            void* data, uint64_t count,
                            const core::Engine::CancelCheck& cancelled,
                            ComputeStats* stats);

// As ComputeInPlace, out of place: from split->input into split->output,
// allocated here (split->size bytes).
absl::Status ComputeSplit(const core::Engine& engine, const core::ReluOp& op,
                          SplitPayload* split, uint64_t count,
                          const core::Engine::CancelCheck& cancelled,
                          ComputeStats* stats);

// Thread-safe; holds no per-call state.
class ReluHandler {
 public:
  // `engine` is not owned and must outlive *this.
  ReluHandler(const core::Engine* engine, uint64_t max_elements,
              int max_rank = 64)
      : engine_(engine), max_elements_(max_elements), max_rank_(max_rank) {}

  // Computes ReLU of `request`'s input into `response`. The payload is moved,
  // not copied, from the request into the response and computed in place
  // there, so `request` is left without its input. Returns the codec's errors
  // (see DecodeRequest) or Cancelled when `cancelled` says so mid-compute.
  // With `stats`, fills it (and reads the clock twice; without, never).
  absl::Status Relu(v1::ReluRequest* request, v1::ReluResponse* response,
                    const core::Engine::CancelCheck& cancelled,
                    ComputeStats* stats = nullptr) const {
    return Relu(request, nullptr, response, cancelled, stats);
  }

  // As above, for a request whose input.raw_data may be in `split` (when
  // its size is not 0): computed from there into split->output, and
  // `response` gets the output tensor without its raw_data.
  absl::Status Relu(v1::ReluRequest* request, SplitPayload* split,
                    v1::ReluResponse* response,
                    const core::Engine::CancelCheck& cancelled,
                    ComputeStats* stats = nullptr) const;

 private:
  const core::Engine* engine_;  // Not owned.
  const uint64_t max_elements_;
  const int max_rank_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_RELU_HANDLER_H_
