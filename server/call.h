// The life of one served call, the same for every method of every service:
// admission (CallGate), metrics (CallRecord), compute with cancellation, and
// the status to send. Handlers decode, compute and encode through it; a
// reactor only moves messages.

#ifndef ACTIVATION_SERVER_CALL_H_
#define ACTIVATION_SERVER_CALL_H_

#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "activation/v1/activation.pb.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"
#include "server/call_gate.h"
#include "server/metrics.h"
#include "server/relu_handler.h"

namespace activation::server {

// What serving calls needs. None owned; all must outlive the calls.
struct Backend {
  const ReluHandler* handler = nullptr;
  CallGate* gate = nullptr;
  Metrics* metrics = nullptr;  // null: no metrics
  const v1::ServerInfo* info = nullptr;
};

// One call from its start to its status. Its events come one at a time (a
// unary handler, or a reactor's serialized reactions): not thread-safe.
class Call {
 public:
  // `metrics` may be null; it and `context` must outlive *this.
  Call(Metrics* metrics, Metrics::Rpc rpc,
       const grpc::ServerContextBase& context)
      : context_(context), record_(metrics, rpc) {}

  // Not copyable.
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  // Takes an in-flight slot from `gate` until Finish or EndReads, or says
  // why not (see CallGate::Admit); a refusal is recorded.
  absl::Status Admit(CallGate& gate);

  // One message each way; `payload_bytes` is its tensor payload, if any.
  void Received(uint64_t payload_bytes = 0) { record_.Received(payload_bytes); }
  void Sent(uint64_t payload_bytes = 0) { record_.Sent(payload_bytes); }

  // Runs `handler` on one request (received already), polling the call for
  // cancellation and recording engine time and the response. A cancellation
  // after the deadline has passed is DeadlineExceeded.
  absl::Status Relu(const ReluHandler& handler, v1::ReluRequest* request,
                    v1::ReluResponse* response);

  // Records `status`, frees the slot and returns the status to send. Call it
  // before sending, so that a client starting its next call on seeing the
  // status finds the slot free.
  grpc::Status Finish(const absl::Status& status);

  // For streams whose reads failed (the client half-closed or went away):
  // frees the slot now; Done records the outcome once gRPC knows it.
  void EndReads() { ticket_.Reset(); }
  // The call is over; `cancelled` is the context's IsCancelled(), reliable
  // now. Records a stream that EndReads ended: OK when the client
  // half-closed, else CANCELLED or, near the deadline, DEADLINE_EXCEEDED.
  void Done(bool cancelled);

 private:
  const grpc::ServerContextBase& context_;  // Not owned.
  CallRecord record_;
  CallGate::Ticket ticket_;
  const std::chrono::system_clock::time_point start_ =
      std::chrono::system_clock::now();
};

// Serves a unary call of `rpc`: `body(call)` returns the status, having
// filled the response when it is OK. Finishes and returns the context's
// default reactor.
template <typename Body>
grpc::ServerUnaryReactor* ServeUnary(Metrics* metrics, Metrics::Rpc rpc,
                                     grpc::CallbackServerContext* context,
                                     Body&& body) {
  Call call(metrics, rpc, *context);
  const absl::Status status = std::forward<Body>(body)(call);
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(call.Finish(status));
  return reactor;
}

// Returns the payload bytes a tensor carries (raw_data or float_data).
uint64_t PayloadBytes(const v1::Tensor& tensor);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_H_
