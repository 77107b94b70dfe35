// ActivationService on gRPC's callback API: handlers run on gRPC's threads.

#ifndef ACTIVATION_SERVER_CALLBACK_SERVICE_H_
#define ACTIVATION_SERVER_CALLBACK_SERVICE_H_

#include "activation/v1/activation.grpc.pb.h"
#include "server/call_gate.h"
#include "server/relu_handler.h"

namespace activation::server {

// Returns a CancelCheck for a call: true once the client cancelled it or
// its deadline passed. `context` must outlive the check.
core::Engine::CancelCheck CancelCheckFor(
    const grpc::ServerContextBase* context);

// Returns `status`, except that the engine's Cancelled becomes
// DeadlineExceeded when it was the deadline of `context` that passed.
absl::Status ExplainCancellation(absl::Status status,
                                 const grpc::ServerContextBase& context);

// Answers GetServerInfo with `info` on `reactor`, after admission by `gate`.
// Shared by both transports.
grpc::ServerUnaryReactor* ServeServerInfo(CallGate* gate,
                                          const v1::ServerInfo& info,
                                          grpc::CallbackServerContext* context,
                                          v1::ServerInfo* response);

// Serves all three methods on gRPC's callback threads. Thread-safe.
class CallbackService final : public v1::ActivationService::CallbackService {
 public:
  // None owned; all must outlive *this.
  CallbackService(const ReluHandler* handler, CallGate* gate,
                  const v1::ServerInfo* info)
      : handler_(handler), gate_(gate), info_(info) {}

  grpc::ServerUnaryReactor* Relu(grpc::CallbackServerContext* context,
                                 const v1::ReluRequest* request,
                                 v1::ReluResponse* response) override;

  grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse>* ReluStream(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* GetServerInfo(
      grpc::CallbackServerContext* context,
      const v1::GetServerInfoRequest* request,
      v1::ServerInfo* response) override;

 private:
  const ReluHandler* handler_;  // Not owned.
  CallGate* gate_;              // Not owned.
  const v1::ServerInfo* info_;  // Not owned.
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALLBACK_SERVICE_H_
