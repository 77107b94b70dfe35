// Prometheus metrics for the server. Every call is recorded through one
// wrapper, CallRecord, which server/call.h's Call holds (a gRPC interceptor
// would do too, but in gRPC 1.51 merely having one costs ~15% more
// instructions per call: docs/BENCHMARKS.md). Names follow go-grpc-prometheus
// so existing gRPC dashboards work. docs/metrics.md lists them all.

#ifndef ACTIVATION_SERVER_METRICS_H_
#define ACTIVATION_SERVER_METRICS_H_

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "core/dtype.h"
#include "prometheus/exposer.h"
#include "prometheus/registry.h"

namespace activation::server {

// Thread-safe.
class Metrics {
 public:
  // The methods whose calls are recorded.
  enum class Rpc {
    kRelu,
    kReluStream,
    kGetServerInfo,
    kHealthCheck,
    kHealthWatch,
    kServerLive,  // inference.GRPCInferenceService
    kServerReady,
    kModelReady,
    kServerMetadata,
    kModelMetadata,
    kModelInfer,
    kModelStreamInfer,
    kHttpServerLive,  // the Open Inference Protocol over HTTP/REST
    kHttpServerReady,
    kHttpModelReady,
    kHttpServerMetadata,
    kHttpModelMetadata,
    kHttpModelInfer,
  };
  static constexpr int kRpcCount = 18;

  // Returns "service/method" of a gRPC `rpc`, e.g.
  // "activation.v1.ActivationService/Relu", or "METHOD path" of an HTTP
  // route, e.g. "POST /v2/models/{model}/infer".
  static absl::string_view MethodName(Rpc rpc);

  struct Options {
    std::string version;
    std::string git_sha;
    // Read at scrape time for activation_inflight_requests and
    // activation_memory_held_bytes.
    std::function<int()> inflight;
    std::function<uint64_t()> held_bytes;
  };

  explicit Metrics(Options options);
  ~Metrics();

  // Not copyable.
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Serves GET /metrics on `address` (host:port; port 0 picks one) from
  // `threads` threads, each request read and written within
  // `request_timeout`, so that slow or half-open clients hold a thread for
  // that long at most. Returns Unavailable when it cannot listen.
  absl::Status Serve(const std::string& address, int threads,
                     absl::Duration request_timeout);
  // Stops serving, waiting for scrapes in progress: after it returns, the
  // `inflight` callback is not called again. Idempotent.
  void StopServing();
  // The port Serve bound, or 0.
  int port() const;

  // The text /metrics would serve now (for tests and debugging).
  std::string Scrape() const;

  // Records an HTTP request that reached no route's call: an unknown path
  // (`path` "other") or a method the route does not take (405), answered
  // with `code` after `duration`. `method` is kept when it is one of HTTP's
  // usual methods, else recorded as "other", so that clients cannot grow
  // the series.
  void RecordHttpUnrouted(absl::string_view method, absl::string_view path,
                          int code, absl::Duration duration);

 private:
  friend class CallRecord;
  struct RpcSeries;
  struct HttpFamilies;
  struct EngineSeries;
  struct AdmissionSeries;
  class ScrapeCollector;

  const Options options_;
  const std::shared_ptr<prometheus::Registry> registry_;
  std::unique_ptr<HttpFamilies> http_;
  std::array<std::unique_ptr<RpcSeries>, kRpcCount> rpcs_;
  std::unique_ptr<EngineSeries> engine_;
  std::unique_ptr<AdmissionSeries> admission_;
  std::shared_ptr<prometheus::Collectable> process_;
  std::shared_ptr<ScrapeCollector> scrape_time_;
  std::unique_ptr<prometheus::Exposer> exposer_;
};

// Records one call from its start to its status: started at construction,
// each message, engine time, an admission refusal, then the status code and
// latency at Finish. Does nothing with null metrics. One call's events come
// one at a time; not thread-safe.
class CallRecord {
 public:
  // `metrics` is not owned, may be null, and must outlive *this.
  CallRecord(Metrics* metrics, Metrics::Rpc rpc);
  // A call that ends without Finish (the stream broke) counts as CANCELLED.
  ~CallRecord();

  // Not copyable.
  CallRecord(const CallRecord&) = delete;
  CallRecord& operator=(const CallRecord&) = delete;

  // False with null metrics: nothing is recorded, so nothing need be
  // measured for it.
  bool enabled() const { return series_ != nullptr; }

  // One message each way; `payload_bytes` is its tensor payload, if any.
  void Received(uint64_t payload_bytes = 0);
  void Sent(uint64_t payload_bytes = 0);

  // The engine ran on `elements` of `dtype` for `duration`; `ok` is false
  // when it stopped for a cancellation.
  void Computed(core::DataType dtype, uint64_t elements,
                absl::Duration duration, bool ok);

  // Admission refused the call with `status`, whose CallGate::kReasonPayload
  // names the reason.
  void Rejected(const absl::Status& status);

  // Records the call's status and latency: its code for gRPC, its HTTP
  // status (ToHttpStatus) for an HTTP route. Once; later calls do nothing.
  void Finish(const absl::Status& status);
  void Finish(absl::StatusCode code) { Finish(absl::Status(code, "")); }

 private:
  Metrics* const metrics_;            // Not owned; may be null.
  Metrics::RpcSeries* const series_;  // Owned by metrics_.
  const std::chrono::steady_clock::time_point start_;
  bool finished_ = false;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_METRICS_H_
