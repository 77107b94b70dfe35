// Prometheus metrics for the server. Request metrics are recorded through
// one wrapper, CallRecord, that every served call goes through (a gRPC
// interceptor would do too, but in gRPC 1.51 merely having one costs ~15%
// more instructions per call: docs/BENCHMARKS.md); engine time and admission
// refusals come through ServerObserver. Names follow go-grpc-prometheus so
// existing gRPC dashboards work. docs/metrics.md lists them all.

#ifndef ACTIVATION_SERVER_METRICS_H_
#define ACTIVATION_SERVER_METRICS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
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
  // The methods whose calls are recorded.
  enum class Rpc {
    kRelu,
    kReluStream,
    kGetServerInfo,
    kHealthCheck,
    kHealthWatch,
  };
  static constexpr int kRpcCount = 5;

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

  // ServerObserver:
  void OnRejected(absl::string_view reason) override;
  void OnComputed(core::DataType dtype, uint64_t elements,
                  absl::Duration duration, bool ok) override;

  // The text /metrics would serve now (for tests and debugging).
  std::string Scrape() const;

 private:
  friend class CallRecord;
  struct Series;
  class ProcessCollector;

  const Options options_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_;
  std::unique_ptr<prometheus::Exposer> exposer_;

  std::array<std::unique_ptr<Series>, kRpcCount> rpcs_;
  std::array<prometheus::Histogram*, core::kAllDataTypes.size()> compute_{};
  std::array<prometheus::Counter*, core::kAllDataTypes.size()> elements_{};
  prometheus::Counter* payload_received_;
  prometheus::Counter* payload_sent_;
  prometheus::Family<prometheus::Counter>* rejected_;
};

// Records one call from its start to its status: started at construction,
// each message, then the status code and latency at Finish. Does nothing
// with null metrics. One call's events come one at a time; not thread-safe.
class CallRecord {
 public:
  // `metrics` is not owned, may be null, and must outlive *this.
  CallRecord(Metrics* metrics, Metrics::Rpc rpc);
  // A call that ends without Finish (the stream broke) counts as CANCELLED.
  ~CallRecord();

  // Not copyable.
  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;

  // One message each way; `payload_bytes` is its tensor payload, if any.
  void Received(uint64_t payload_bytes = 0);
  void Sent(uint64_t payload_bytes = 0);

  // Records the call's status and latency. Once; later calls do nothing.
  void Finish(absl::StatusCode code);

 private:
  Metrics* const metrics_;         // Not owned; may be null.
  Metrics::Series* const series_;  // Owned by metrics_.
  const std::chrono::steady_clock::time_point start_;
  bool finished_ = false;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_METRICS_H_
