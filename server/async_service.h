// ActivationService on gRPC's completion-queue API: Relu and ReluStream are
// served by our own threads polling one completion queue per core, and
// GetServerInfo on the callback API.

#ifndef ACTIVATION_SERVER_ASYNC_SERVICE_H_
#define ACTIVATION_SERVER_ASYNC_SERVICE_H_

#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "activation/v1/activation.grpc.pb.h"
#include "grpcpp/server_builder.h"
#include "server/call.h"

namespace activation::server {

class AsyncService final
    : public v1::ActivationService::WithCallbackMethod_GetServerInfo<
          v1::ActivationService::WithAsyncMethod_Relu<
              v1::ActivationService::WithAsyncMethod_ReluStream<
                  v1::ActivationService::Service>>> {
 public:
  explicit AsyncService(const Backend& backend) : backend_(backend) {}
  ~AsyncService() override;

  // Adds `queues` completion queues to `builder`; call before BuildAndStart.
  void AddCompletionQueues(grpc::ServerBuilder& builder, int queues);

  // Posts the first calls and starts `threads_per_queue` polling threads per
  // queue; call after BuildAndStart.
  void Start(int threads_per_queue);

  // Shuts the queues down and joins the threads; call after the server's
  // Shutdown has returned.
  void Stop();

  grpc::ServerUnaryReactor* GetServerInfo(
      grpc::CallbackServerContext* context,
      const v1::GetServerInfoRequest* request,
      v1::ServerInfo* response) override;

  // For the calls: post a fresh call on `cq` unless stopping.
  void RequestUnary(grpc::ServerCompletionQueue* cq) ABSL_LOCKS_EXCLUDED(mu_);
  void RequestStream(grpc::ServerCompletionQueue* cq) ABSL_LOCKS_EXCLUDED(mu_);

  const Backend& backend() const { return backend_; }

 private:
  const Backend backend_;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues_;
  std::vector<std::thread> threads_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_ASYNC_SERVICE_H_
