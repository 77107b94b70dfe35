// What the server reports about calls beyond what an interceptor can see:
// admission refusals and engine time. Implemented by Metrics.

#ifndef ACTIVATION_SERVER_OBSERVER_H_
#define ACTIVATION_SERVER_OBSERVER_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/dtype.h"

namespace activation::server {

// Implementations must be thread-safe and cheap: they run on every call.
class ServerObserver {
 public:
  virtual ~ServerObserver() = default;

  // CallGate refused a call; `reason` is "max_inflight", "unauthenticated"
  // or "draining".
  virtual void OnRejected(absl::string_view reason) = 0;

  // The engine computed (or tried to compute) `elements` of `dtype` in
  // `duration`; `ok` is false when it stopped for a cancellation.
  virtual void OnComputed(core::DataType dtype, uint64_t elements,
                          absl::Duration duration, bool ok) = 0;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_OBSERVER_H_
