// Prometheus metrics for the server, recorded in one place: a gRPC server
// interceptor for every call's count, latency and messages, plus the
// ServerObserver hooks for engine time and admission refusals. Names follow
// go-grpc-prometheus so existing gRPC dashboards work. docs/metrics.md lists
// them all.

#ifndef ACTIVATION_SERVER_METRICS_H_
#define ACTIVATION_SERVER_METRICS_H_

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "core/dtype.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/counter.h"
#include "prometheus/exposer.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "server/observer.h"

namespace activation::server {

// Thread-safe.
class Metrics final : public ServerObserver {
 public:
  // Request metrics of one gRPC method; owned by Metrics.
  struct Method;

  struct Options {
    std::string version;
    std::string git_sha;
    // Read at scrape time for activation_inflight_requests.
    std::function<int()> inflight;
  };

  explicit Metrics(Options options);
  ~Metrics() override;

  // Not copyable.
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves GET /metrics on `address` (host:port; port 0 picks one).
  // Returns Unavailable when it cannot listen.
  absl::Status Serve(const std::string& address);
  // The port Serve bound, or 0.
  int port() const;

  // A factory for the interceptor that records request metrics; install it
  // in the ServerBuilder. *this must outlive the server.
  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  NewInterceptorFactory();

  // ServerObserver:
  void OnRejected(absl::string_view reason) override;
  void OnComputed(core::DataType dtype, uint64_t elements,
                  absl::Duration duration, bool ok) override;

  // The metrics of `method` ("/pkg.Service/Method"), created on first use.
  Method* ForMethod(absl::string_view method,
                    grpc::experimental::ServerRpcInfo::Type type)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The text /metrics would serve now (for tests and debugging).
  std::string Scrape() const;

  prometheus::Counter& payload_received() { return *payload_received_; }
  prometheus::Counter& payload_sent() { return *payload_sent_; }

 private:
  class ProcessCollector;

  const Options options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  prometheus::Family<prometheus::Counter>* started_;
  prometheus::Family<prometheus::Counter>* handled_;
  prometheus::Family<prometheus::Counter>* received_;
  prometheus::Family<prometheus::Counter>* sent_;
  prometheus::Family<prometheus::Histogram>* handling_seconds_;
  std::array<prometheus::Histogram*, core::kAllDataTypes.size()> compute_{};
  std::array<prometheus::Counter*, core::kAllDataTypes.size()> elements_{};
  prometheus::Counter* payload_received_;
  prometheus::Counter* payload_sent_;
  prometheus::Family<prometheus::Counter>* rejected_;

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_METRICS_H_
