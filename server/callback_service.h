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
