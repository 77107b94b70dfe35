// ActivationService on gRPC's callback API: handlers run on gRPC's threads.

#ifndef ACTIVATION_SERVER_CALLBACK_SERVICE_H_
#define ACTIVATION_SERVER_CALLBACK_SERVICE_H_

#include "activation/v1/activation.grpc.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/call.h"
#include "server/call_registry.h"
#include "server/oip_codec.h"

namespace activation::server {

// What serving the service needs. None owned; all must outlive the calls.
struct Backend {
  const ReluHandler* handler = nullptr;
  CallGate* gate = nullptr;
  Metrics* metrics = nullptr;     // null: no metrics
  CallRegistry* calls = nullptr;  // the calls that can wait on clients
  const v1::ServerInfo* info = nullptr;
  const InferHandler* infer = nullptr;  // the Open Inference Protocol's
};

// Serves a unary call of `rpc` whose request comes as bytes: the token is
// checked before the bytes are touched, a message that never arrived is
// CANCELLED, else `body(call, bytes)` (the bytes are the call's to move
// from) returns the status, having filled `response`.
template <typename Body>
grpc::ServerUnaryReactor* ServeRawUnary(const Backend& backend,
                                        Metrics::Rpc rpc,
                                        grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        Body&& body) {
  return ServeUnary(
      backend.metrics, rpc, context,
      [&](Call& call) {
        // The token before the bytes: a refused caller costs no parse.
        if (absl::Status s = call.Authorize(*backend.gate); !s.ok()) {
          call.Received();
          return s;
        }
        // gRPC runs a ByteBuffer handler even when the message never
        // arrived (the client cancelled or went away while sending it):
        // that is no invalid request.
        if (!request->Valid()) {
          return absl::CancelledError("the request message did not arrive");
        }
        return body(call, const_cast<grpc::ByteBuffer*>(request));
      },
      backend.calls);
}

// Relu and ReluStream take their messages as bytes and parse them
// themselves, so that bytes that are no ReluRequest get INVALID_ARGUMENT
// with a message (gRPC's own parse answers without one). Thread-safe.
class CallbackService final
    : public v1::ActivationService::WithRawCallbackMethod_Relu<
          v1::ActivationService::WithRawCallbackMethod_ReluStream<
              v1::ActivationService::WithCallbackMethod_GetServerInfo<
                  v1::ActivationService::Service>>> {
 public:
  explicit CallbackService(const Backend& backend) : backend_(backend) {}

  grpc::ServerUnaryReactor* Relu(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ReluStream(
      grpc::CallbackServerContext* context) override;

  grpc::ServerUnaryReactor* GetServerInfo(
      grpc::CallbackServerContext* context,
      const v1::GetServerInfoRequest* request,
      v1::ServerInfo* response) override;

 private:
  const Backend backend_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALLBACK_SERVICE_H_
