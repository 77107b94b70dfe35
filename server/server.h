// activation_server: the ActivationService, health and reflection on one
// port, with the limits, TLS, auth and drain of a production service.

#ifndef ACTIVATION_SERVER_SERVER_H_
#define ACTIVATION_SERVER_SERVER_H_

#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "activation/v1/activation.pb.h"
#include "core/engine.h"
#include "grpcpp/server.h"
#include "server/call_registry.h"
#include "server/options.h"

namespace activation::server {

class CallGate;
class CallbackService;
class HealthService;
class HttpFront;
class InferHandler;
class Metrics;
class OipService;
class ReluHandler;

// Thread-safe.
class Server {
 public:
  // Validates `options` (see ValidateServerOptions), builds the engine and
  // services and starts serving. Returns InvalidArgument naming the bad
  // option, or Unavailable when an address cannot be bound (e.g. it is in
  // use: the port is exclusive).
  static absl::StatusOr<std::unique_ptr<Server>> Create(
      const ServerOptions& options);

  // Not copyable.
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  // Shuts down (see Shutdown) if not done yet.
  ~Server();

  // The port bound.
  int port() const { return port_; }
  // The metrics port bound, or 0 without metrics.
  int metrics_port() const { return metrics_port_; }
  // The HTTP/REST port bound, or 0 without http_address.
  int http_port() const { return http_port_; }
  // Null without metrics.
  Metrics* metrics() const { return metrics_.get(); }
  const v1::ServerInfo& info() const { return info_; }

  // The options in force, machine defaults filled in.
  const ServerOptions& options() const { return options_; }

  // Drains: health turns NOT_SERVING (HTTP readiness 503), new calls and
  // streams waiting for a message get UNAVAILABLE (HTTP 503) for
  // drain_delay at least, so that clients and load balancers move away,
  // computations in flight finish (within shutdown_grace; cancelled after
  // it); then stops HTTP, gRPC and the metrics endpoint. Returns when the
  // server has stopped, in every thread that calls it. Idempotent.
  void Shutdown() ABSL_LOCKS_EXCLUDED(shutdown_mu_);

 private:
  explicit Server(const ServerOptions& options);

  // Makes the engine, metrics, gate, handler and health service.
  absl::Status BuildParts();
  // Builds and starts the gRPC server, the metrics endpoint and the reaper
  // of calls left waiting on their clients.
  absl::Status Start();
  // Ends calls waiting on their clients for stream_idle_timeout, until
  // `stop_reaper_`.
  void ReapIdleCalls();

  const ServerOptions options_;
  v1::ServerInfo info_;
  int port_ = 0;
  int metrics_port_ = 0;
  int http_port_ = 0;
  std::unique_ptr<core::Engine> engine_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<CallGate> gate_;
  std::unique_ptr<ReluHandler> handler_;
  std::unique_ptr<InferHandler> infer_;
  std::unique_ptr<HealthService> health_;
  CallRegistry waiting_calls_;
  std::unique_ptr<CallbackService> service_;
  std::unique_ptr<OipService> oip_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpFront> http_;
  absl::Notification stop_reaper_;
  std::thread reaper_;

  // Held for the whole of Shutdown: a second caller waits for the first.
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_SERVER_H_
