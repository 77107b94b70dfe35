// ActivationService on gRPC's callback API: handlers run on gRPC's threads.

#ifndef ACTIVATION_SERVER_CALLBACK_SERVICE_H_
#define ACTIVATION_SERVER_CALLBACK_SERVICE_H_

#include "activation/v1/activation.grpc.pb.h"
#include "server/call.h"

namespace activation::server {

// Serves all three methods on gRPC's callback threads. Thread-safe.
class CallbackService final : public v1::ActivationService::CallbackService {
 public:
  explicit CallbackService(const Backend& backend) : backend_(backend) {}

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
  const Backend backend_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALLBACK_SERVICE_H_
