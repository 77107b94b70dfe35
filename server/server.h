// activation_server: the ActivationService, health and reflection on one
// port, with the limits, TLS, auth and drain of a production service.

#ifndef ACTIVATION_SERVER_SERVER_H_
#define ACTIVATION_SERVER_SERVER_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "activation/v1/activation.pb.h"
#include "core/engine.h"
#include "grpcpp/server.h"

namespace activation::server {

class AsyncService;
class CallGate;
class CallbackService;
class HealthService;
class Metrics;
class ReluHandler;

// How ActivationService calls reach the handler. docs/BENCHMARKS.md compares
// the two: on the reference machine kCallback served 1.13x the calls/s of
// kAsync at 0.79x the server CPU time per call.

enum class ThreadingModel {
  kCallback,  // gRPC's callback API (the default)
  kAsync,     // completion queues polled by our own threads
};

struct ServerOptions {
  // host:port to listen on; port 0 picks a free one (see Server::port()).
  std::string address = "0.0.0.0:50051";
  // Engine threads for one large tensor; 0 means one per core.
  int engine_threads = 0;
  // Largest request or response message, both directions.
  int64_t max_message_bytes = int64_t{64} << 20;
  // Largest tensor, in elements.
  uint64_t max_elements = uint64_t{1} << 28;
  // ActivationService calls at once; more get RESOURCE_EXHAUSTED at once.
  int max_inflight = 1024;
  // PEM files. Both cert and key: TLS. With client_ca too: mutual TLS.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Non-empty: ActivationService calls need "authorization: Bearer <token>".
  std::string auth_token;
  // Connections are closed (gracefully) after this long, so clients
  // reconnect and rebalance across replicas. Infinite: never.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  // On Shutdown, how long in-flight calls may run before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(20);
  ThreadingModel model = ThreadingModel::kCallback;
  // host:port serving Prometheus metrics at /metrics (port 0 picks one);
  // empty: no metrics at all (not even recorded).
  std::string metrics_address;
  // kAsync: completion queues (0: one per core) and threads polling each.
  int completion_queues = 0;
  int threads_per_queue = 2;
};

// Thread-safe.
class Server {
 public:
  // Validates `options`, builds the engine and services and starts serving.
  // Returns InvalidArgument naming the bad option, or Unavailable when the
  // address cannot be bound (e.g. it is in use: the port is exclusive).
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
  int metrics_port() const;
  // Null without metrics.
  Metrics* metrics() const { return metrics_.get(); }
  const v1::ServerInfo& info() const { return info_; }

  // Drains: health turns NOT_SERVING, new calls get UNAVAILABLE, in-flight
  // calls may finish within shutdown_grace and are cancelled after it.
  // Returns when the server has stopped. Idempotent.
  void Shutdown();

 private:
  explicit Server(const ServerOptions& options);
  // Makes the engine, metrics, gate, handler and health service.
  absl::Status BuildParts();
  absl::Status Start();

  const ServerOptions options_;
  v1::ServerInfo info_;
  int port_ = 0;
  std::unique_ptr<core::Engine> engine_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<ReluHandler> handler_;
  std::unique_ptr<CallGate> gate_;
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<AsyncService> async_service_;
  std::unique_ptr<CallbackService> callback_service_;
  std::unique_ptr<grpc::Server> server_;
  std::atomic<bool> shut_down_{false};
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_SERVER_H_
