// inference.GRPCInferenceService, the Open Inference Protocol (KServe v2)
// over gRPC, on gRPC's callback API: the same calls, admission, memory
// budget, auth and metrics as activation.v1's (server/call.h).

#ifndef ACTIVATION_SERVER_OIP_SERVICE_H_
#define ACTIVATION_SERVER_OIP_SERVICE_H_

#include "grpcpp/support/byte_buffer.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/callback_service.h"

namespace activation::server {

// ModelInfer and ModelStreamInfer take their messages as bytes and parse
// them themselves, so that bytes that are no ModelInferRequest get
// INVALID_ARGUMENT with a message. Liveness and readiness need no token
// (probes carry none); the rest do when the server has one. Thread-safe.
class OipService final
    : public inference::GRPCInferenceService::WithCallbackMethod_ServerLive<
          inference::GRPCInferenceService::WithCallbackMethod_ServerReady<
              inference::GRPCInferenceService::WithCallbackMethod_ModelReady<
                  inference::GRPCInferenceService::
                      WithCallbackMethod_ServerMetadata<
                          inference::GRPCInferenceService::
                              WithCallbackMethod_ModelMetadata<
                                  inference::GRPCInferenceService::
                                      WithRawCallbackMethod_ModelInfer<
                                          inference::GRPCInferenceService::
                                              WithRawCallbackMethod_ModelStreamInfer<
                                                  inference::
                                                      GRPCInferenceService::
                                                          Service>>>>>>> {
 public:
  // `backend.infer` must be set.
  explicit OipService(const Backend& backend) : backend_(backend) {}

  grpc::ServerUnaryReactor* ServerLive(
      grpc::CallbackServerContext* context,
      const inference::ServerLiveRequest* request,
      inference::ServerLiveResponse* response) override;
  grpc::ServerUnaryReactor* ServerReady(
      grpc::CallbackServerContext* context,
      const inference::ServerReadyRequest* request,
      inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(
      grpc::CallbackServerContext* context,
      const inference::ModelReadyRequest* request,
      inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(
      grpc::CallbackServerContext* context,
      const inference::ServerMetadataRequest* request,
      inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(
      grpc::CallbackServerContext* context,
      const inference::ModelMetadataRequest* request,
      inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ModelStreamInfer(
      grpc::CallbackServerContext* context) override;

 private:
  const Backend backend_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_OIP_SERVICE_H_
