// The life of one served call, the same for every method of every service:
// admission (CallGate), metrics (CallRecord), compute with cancellation, and
// the status to send. Handlers decode, compute and encode through it; a
// reactor only moves messages.

#ifndef ACTIVATION_SERVER_CALL_H_
#define ACTIVATION_SERVER_CALL_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "activation/v1/activation.pb.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"
#include "server/call_context.h"
#include "server/call_gate.h"
#include "server/call_registry.h"
#include "server/metrics.h"
#include "server/relu_handler.h"

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace activation::server {

// One call from its start to its status. Its events come one at a time (a
// unary handler, or a reactor's serialized reactions): not thread-safe.
class Call {
 public:
  // Computes one request: runs the engine, polling `cancelled`, and fills
  // `stats` when it is not null (see ReluHandler::Relu).
  using ComputeFn = absl::FunctionRef<absl::Status(
      const core::Engine::CancelCheck& cancelled, ComputeStats* stats)>;

  // A gRPC call. `metrics` may be null; it and `context` must outlive *this.
  Call(Metrics* metrics, Metrics::Rpc rpc, grpc::ServerContextBase& context)
      : grpc_context_(std::in_place, context),
        context_(*grpc_context_),
        rpc_(rpc),
        record_(metrics, rpc) {}
  // A call of another transport (HTTP); as above.
  Call(Metrics* metrics, Metrics::Rpc rpc, CallContext& context)
      : context_(context), rpc_(rpc), record_(metrics, rpc) {}

  // Not copyable.
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // Lets the call in or says why not (see CallGate::Authorize); a refusal
  // is recorded, and one for draining carries the gate's retry pushback.
  absl::Status Authorize(const CallGate& gate);

  // Takes a slot and `bytes` of the memory budget for one computation, or
  // says why not (see CallGate::Admit); a refusal is recorded. Relu frees
  // the slot when the computation ends; the bytes stay until Release or the
  // end of the call (the answer is memory until it is sent).
  absl::Status Admit(CallGate& gate, uint64_t bytes);
  void Release() { ticket_.Reset(); }

  // One message each way; `payload_bytes` is its tensor payload, if any.
  void Received(uint64_t payload_bytes = 0) {
    record_.Received(payload_bytes);
    received_bytes_ += payload_bytes;
  }
  void Sent(uint64_t payload_bytes = 0) {
    record_.Sent(payload_bytes);
    sent_bytes_ += payload_bytes;
  }

  // Runs `compute` on one request (received and admitted already), polling
  // the call for cancellation and recording engine time; frees the slot
  // when it returns. A cancellation after the deadline has passed is
  // DeadlineExceeded. The caller records the response (Sent).
  absl::Status Compute(ComputeFn compute);

  // Runs `handler` on one request as Compute, and records the response.
  // `split` is the request's payload if it was split off (see
  // ReluHandler::Relu), or null.
  absl::Status Relu(const ReluHandler& handler, v1::ReluRequest* request,
                    SplitPayload* split, v1::ReluResponse* response);

  // Records `status` and returns the status to send.
  grpc::Status Finish(const absl::Status& status);

  // The call is over; `cancelled` is the context's IsCancelled(), reliable
  // now. Records a call that Finish did not (a stream whose reads ended):
  // OK when the client half-closed, else CANCELLED or, near the deadline,
  // DEADLINE_EXCEEDED.
  void Done(bool cancelled);

 private:
  // Records a refusal; one for draining tells the client when to retry.
  void Refused(const CallGate& gate, const absl::Status& status);

  // The call's status is decided: logs the access line (--access_log) and,
  // rate-limited, a warning for a refusal or failure. Once.
  void Ended(const absl::Status& status);

  std::optional<GrpcCallContext> grpc_context_;  // a gRPC call's
  CallContext& context_;                         // Not owned, or grpc_context_.
  const Metrics::Rpc rpc_;
  CallRecord record_;
  bool ended_ = false;
  uint64_t received_bytes_ = 0;
  uint64_t sent_bytes_ = 0;
  ComputeStats computed_;  // the last computation's, for the access log
  CallGate::Ticket ticket_;
  const std::chrono::system_clock::time_point start_ =
      std::chrono::system_clock::now();
};

// The reactor of a unary call. It owns the Call, so the call's admission
// lasts until gRPC is done with it (the answer sent, or the call
// cancelled), not merely until the status is decided. With a registry, an
// answer the client does not read is cancelled after the idle timeout.
// Owned by self_ until OnDone, and by the registry's callers meanwhile.
class UnaryReactor final : public grpc::ServerUnaryReactor,
                           public CallRegistry::WaitingCall {
 public:
  // `registry` may be null; it and `context` must outlive the call.
  static UnaryReactor* Start(Metrics* metrics, Metrics::Rpc rpc,
                             grpc::CallbackServerContext& context,
                             CallRegistry* registry);

  Call& call() { return call_; }

  // Finishes the call with `status` (see Call::Finish).
  void FinishCall(const absl::Status& status) ABSL_LOCKS_EXCLUDED(mu_);

  bool EndIfIdleSince(CallRegistry::Wait wait, absl::Time cutoff,
                      const absl::Status& status) override
      ABSL_LOCKS_EXCLUDED(mu_);

  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_);

  // OnDone records the call and frees it, taking no lock that gRPC's
  // threads wait on: gRPC may run it on the thread that completes the
  // call instead of handing it to its executor (12% more 16-element calls
  // per second, docs/BENCHMARKS.md). Not once EndIfIdleSince cancels the
  // call: with a poller that runs callbacks where events happen, its
  // TryCancel could run an inlineable OnDone on its own thread, under mu_.
  // (Also makes OnCancel inline; this reactor does nothing in it.)
  bool InternalInlineable() override {
    return on_done_inline_.load(std::memory_order_acquire);
  }

 private:
  UnaryReactor(Metrics* metrics, Metrics::Rpc rpc,
               grpc::CallbackServerContext& context, CallRegistry* registry)
      : call_(metrics, rpc, context), context_(context), registry_(registry) {}

  Call call_;
  grpc::CallbackServerContext& context_;  // Not owned.
  CallRegistry* const registry_;          // Not owned; may be null.
  std::shared_ptr<UnaryReactor> self_;
  absl::Mutex mu_;
  absl::Time finished_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> on_done_inline_{true};
};

// Serves a unary call of `rpc`: `body(call)` returns the status, having
// filled the response when it is OK. Returns the call's finished reactor.
// With `registry`, an unread answer is cancelled after the idle timeout.
template <typename Body>
grpc::ServerUnaryReactor* ServeUnary(Metrics* metrics, Metrics::Rpc rpc,
                                     grpc::CallbackServerContext* context,
                                     Body&& body,
                                     CallRegistry* registry = nullptr) {
  UnaryReactor* reactor = UnaryReactor::Start(metrics, rpc, *context, registry);
  reactor->FinishCall(std::forward<Body>(body)(reactor->call()));
  return reactor;
}

// Marks, for ThreadSanitizer builds, what gRPC guarantees but does out of
// TSan's sight: every other reaction of `reactor` happened before its OnDone
// (gRPC schedules OnDone through ServerCallbackCall::ScheduleOnDone, on its
// executor or, for an inlineable reactor, on the thread that ends the call;
// tests/tsan/grpc_annotations.cc marks the hand-off). Call first in OnDone.
// No-op in other builds.
inline void AfterEveryReaction(grpc::internal::ServerReactor* reactor) {
#if defined(__SANITIZE_THREAD__)
  __tsan_acquire(reactor);
#else
  (void)reactor;
#endif
}

// Returns the bytes of the memory budget a computation of a request with
// `payload_bytes` of tensor payload holds from admission until its answer
// is sent: the payload twice (a small one moved from request to response
// and copied into the serialized response; a large one held as received
// and computed into a buffer of its own, which is sent), and the call's own
// state.
inline uint64_t MemoryForPayload(uint64_t payload_bytes) {
  constexpr uint64_t kCallOverhead = 16 << 10;
  return 2 * payload_bytes + kCallOverhead;
}

// Returns the payload bytes a tensor carries (raw_data or float_data).
uint64_t PayloadBytes(const v1::Tensor& tensor);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_H_
