// The life of an ActivationService call, the same under every threading
// model: admission (CallGate), metrics (CallRecord), compute (ReluHandler),
// and the status to send. A transport only moves messages and threads.

#ifndef ACTIVATION_SERVER_CALL_H_
#define ACTIVATION_SERVER_CALL_H_

#include <chrono>
#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "activation/v1/activation.pb.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/server_callback.h"
#include "grpcpp/support/status.h"
#include "server/call_gate.h"
#include "server/metrics.h"
#include "server/relu_handler.h"

namespace activation::server {

// What serving a call needs. None owned; all must outlive the calls.
struct Backend {
  const ReluHandler* handler = nullptr;
  CallGate* gate = nullptr;
  Metrics* metrics = nullptr;  // null: no metrics
  const v1::ServerInfo* info = nullptr;
};

// Serves one Relu call from start to status. The request's payload is moved
// into `response` (see ReluHandler). Returns the status to send; `response`
// holds the answer when it is OK.
grpc::Status ServeRelu(const Backend& backend,
                       const grpc::ServerContextBase& context,
                       v1::ReluRequest* request, v1::ReluResponse* response);

// Serves one GetServerInfo call, which both transports take on gRPC's
// callback API, and returns its finished reactor.
grpc::ServerUnaryReactor* ServeServerInfo(const Backend& backend,
                                          grpc::CallbackServerContext* context,
                                          v1::ServerInfo* response);

// One ReluStream call: admit, then compute each message in turn, then
// finish. The transport reads a message, calls Compute, writes the response
// if that returned OK, and otherwise (or when a write fails) sends Finish's
// status. When a read fails (the client half-closed or went away) it sends
// FinishReadsEnded's, and it calls Done when gRPC reports the call done.
class StreamSession {
 public:
  StreamSession(const Backend& backend, const grpc::ServerContextBase& context);

  // Not copyable.
  StreamSession(const StreamSession&) = delete;
  StreamSession& operator=(const StreamSession&) = delete;

  // OK when the call was admitted; else the status to finish with at once.
  const absl::Status& admission() const { return admission_; }

  // Computes the next message into `response`. On error the message names
  // the message's 0-based index, and the stream must end with it.
  absl::Status Compute(v1::ReluRequest* request, v1::ReluResponse* response);

  // Ends a stream whose reads failed: the client half-closed (OK) or went
  // away (CANCELLED, or DEADLINE_EXCEEDED once the deadline has passed).
  // Which, the transport may only know by the time the call is done, so this
  // frees the in-flight slot and returns the status to send (OK: a call that
  // went away gets nothing anyway), and leaves the record to Done.
  grpc::Status FinishReadsEnded();

  // The call is over, and `cancelled` is the context's IsCancelled(), which
  // is reliable now. Records a stream that FinishReadsEnded ended.
  void Done(bool cancelled);

  // Records `status`, frees the in-flight slot, and returns the status to
  // send. Call it before sending, so a client that starts its next call on
  // seeing the status finds the slot free.
  grpc::Status Finish(const absl::Status& status);

 private:
  const Backend backend_;
  const grpc::ServerContextBase& context_;
  CallRecord record_;
  CallGate::Ticket ticket_;
  absl::Status admission_;
  int64_t index_ = 0;
  const std::chrono::system_clock::time_point start_ =
      std::chrono::system_clock::now();

  void RecordReadsEnded(bool cancelled) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;  // FinishReadsEnded and Done may race (async model).
  bool reads_ended_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<bool> cancelled_ ABSL_GUARDED_BY(mu_);
};

// Returns the payload bytes a tensor carries (raw_data or float_data).
uint64_t PayloadBytes(const v1::Tensor& tensor);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_H_
