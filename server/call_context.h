// What a served call needs of its transport, so that every front (gRPC's
// services, the HTTP/REST front) goes through one Call and one CallGate.

#ifndef ACTIVATION_SERVER_CALL_CONTEXT_H_
#define ACTIVATION_SERVER_CALL_CONTEXT_H_

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace activation::server {

// One call's transport. Called from the call's own thread of the moment;
// implementations need only be as thread-safe as IsCancelled, which the
// engine polls from any of its threads.
class CallContext {
 public:
  virtual ~CallContext() = default;

  // Returns the client's address, e.g. "ipv4:127.0.0.1:40000".
  virtual std::string Peer() const = 0;
  // Returns true once the client cancelled or went away. Thread-safe.
  virtual bool IsCancelled() const = 0;
  // Returns when the call must end; time_point::max() for never.
  virtual std::chrono::system_clock::time_point Deadline() const = 0;
  // Returns OK when the call carries "Bearer <token>" as its authorization,
  // else CheckBearerToken's Unauthenticated.
  virtual absl::Status CheckToken(absl::string_view token) const = 0;
  // Tells the client to retry no sooner than `delay` from now.
  virtual void SetRetryPushback(absl::Duration delay) = 0;
};

// A gRPC call's context.
class GrpcCallContext final : public CallContext {
 public:
  // `context` is not owned and must outlive *this.
  explicit GrpcCallContext(grpc::ServerContextBase& context)
      : context_(context) {}

  std::string Peer() const override { return context_.peer(); }
  bool IsCancelled() const override { return context_.IsCancelled(); }
  std::chrono::system_clock::time_point Deadline() const override {
    return context_.deadline();
  }
  absl::Status CheckToken(absl::string_view token) const override;
  // Adds the grpc-retry-pushback-ms trailer that gRPC retry policies obey.
  void SetRetryPushback(absl::Duration delay) override;

 private:
  grpc::ServerContextBase& context_;  // Not owned.
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_CONTEXT_H_
