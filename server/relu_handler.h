// The Relu logic every transport calls: decode, compute, encode. Knows no
// threading model.

#ifndef ACTIVATION_SERVER_RELU_HANDLER_H_
#define ACTIVATION_SERVER_RELU_HANDLER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "activation/v1/activation.pb.h"
#include "core/engine.h"
#include "server/observer.h"

namespace activation::server {

// Thread-safe; holds no per-call state.
class ReluHandler {
 public:
  // `engine` and `observer` (which may be null) are not owned and must
  // outlive *this.
  ReluHandler(const core::Engine* engine, uint64_t max_elements,
              ServerObserver* observer = nullptr)
      : engine_(engine), max_elements_(max_elements), observer_(observer) {}

  // Computes ReLU of `request`'s input into `response`. The payload is moved,
  // not copied, from the request into the response and computed in place
  // there, so `request` is left without its input. Returns the codec's errors
  // (see DecodeRequest) or Cancelled when `cancelled` says so mid-compute.
  absl::Status Relu(v1::ReluRequest* request, v1::ReluResponse* response,
                    const core::Engine::CancelCheck& cancelled) const;

 private:
  const core::Engine* engine_;  // Not owned.
  const uint64_t max_elements_;
  ServerObserver* const observer_;  // Not owned; may be null.
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_RELU_HANDLER_H_
