#include "server/metrics.h"

#include <atomic>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/histogram.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"
#include "server/call_gate.h"
#include "server/civetweb_listener.h"
#include "server/process_metrics.h"
#include "server/status.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCodeCount = 17;  // OK .. UNAUTHENTICATED

// `start`, `start * factor`, ... up to `end`, then `end`.
prometheus::Histogram::BucketBoundaries Geometric(double start, double factor,
                                                  double end) {
  prometheus::Histogram::BucketBoundaries bounds;
  for (double b = start; b < end; b *= factor) bounds.push_back(b);
  bounds.push_back(end);
  return bounds;
}

prometheus::Family<prometheus::Counter>& Counter(prometheus::Registry& registry,
                                                 const std::string& name,
                                                 const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& Histogram(
    prometheus::Registry& registry, const std::string& name,
    const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

// A gRPC method, or an HTTP route: then `service` is the HTTP method,
// `method` the route's path template and `type` "http".
struct RpcName {
  Metrics::Rpc rpc;
  const char* service;
  const char* method;
  const char* type;
  bool carries_tensors;  // count payload bytes
  bool http() const { return type[0] == 'h'; }
};

constexpr char kActivation[] = "activation.v1.ActivationService";
constexpr char kHealth[] = "grpc.health.v1.Health";
constexpr char kInference[] = "inference.GRPCInferenceService";
constexpr RpcName kRpcNames[Metrics::kRpcCount] = {
    {Metrics::Rpc::kRelu, kActivation, "Relu", "unary", true},
    {Metrics::Rpc::kReluStream, kActivation, "ReluStream", "bidi_stream", true},
    {Metrics::Rpc::kGetServerInfo, kActivation, "GetServerInfo", "unary",
     false},
    {Metrics::Rpc::kHealthCheck, kHealth, "Check", "unary", false},
    {Metrics::Rpc::kHealthWatch, kHealth, "Watch", "server_stream", false},
    {Metrics::Rpc::kServerLive, kInference, "ServerLive", "unary", false},
    {Metrics::Rpc::kServerReady, kInference, "ServerReady", "unary", false},
    {Metrics::Rpc::kModelReady, kInference, "ModelReady", "unary", false},
    {Metrics::Rpc::kServerMetadata, kInference, "ServerMetadata", "unary",
     false},
    {Metrics::Rpc::kModelMetadata, kInference, "ModelMetadata", "unary", false},
    {Metrics::Rpc::kModelInfer, kInference, "ModelInfer", "unary", true},
    {Metrics::Rpc::kModelStreamInfer, kInference, "ModelStreamInfer",
     "bidi_stream", true},
    {Metrics::Rpc::kHttpServerLive, "GET", "/v2/health/live", "http", false},
    {Metrics::Rpc::kHttpServerReady, "GET", "/v2/health/ready", "http", false},
    {Metrics::Rpc::kHttpModelReady, "GET", "/v2/models/{model}/ready", "http",
     false},
    {Metrics::Rpc::kHttpServerMetadata, "GET", "/v2", "http", false},
    {Metrics::Rpc::kHttpModelMetadata, "GET", "/v2/models/{model}", "http",
     false},
    {Metrics::Rpc::kHttpModelInfer, "POST", "/v2/models/{model}/infer", "http",
     true},
};

// The HTTP statuses ToHttpStatus gives, whose series exist from the start.
constexpr int kHttpCodes[] = {200, 400, 401, 404, 413, 429,
                              499, 500, 501, 503, 504};

// Latency: 25 us to 30 s in steps of 1.5x, fine enough to read the p50 and
// p99 of a 100 us call; the same for gRPC and HTTP.
prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return Geometric(25e-6, 1.5, 30.0);
}

}  // namespace

// The HTTP front's families.
struct Metrics::HttpFamilies {
  explicit HttpFamilies(prometheus::Registry& registry)
      : requests(&Counter(registry, "http_server_requests_total",
                          "HTTP requests answered, by method, route (path "
                          "template; \"other\" for no route) and status.")),
        duration(&Histogram(registry, "http_server_request_duration_seconds",
                            "Histogram of HTTP response latency (seconds), "
                            "from the request's headers to its answer.")) {}

  prometheus::Family<prometheus::Counter>* requests;
  prometheus::Family<prometheus::Histogram>* duration;
};

// The go-grpc-prometheus series of one method, all created up front so
// that recording a call is a handful of atomic adds.
struct Metrics::RpcSeries {
  static std::array<std::unique_ptr<RpcSeries>, kRpcCount> Create(
      prometheus::Registry& registry, const HttpFamilies& http) {
    auto& started = Counter(registry, "grpc_server_started_total",
                            "Total number of RPCs started on the server.");
    auto& handled = Counter(registry, "grpc_server_handled_total",
                            "Total number of RPCs completed on the server, "
                            "regardless of success or failure.");
    auto& received = Counter(registry, "grpc_server_msg_received_total",
                             "Total number of RPC stream messages received "
                             "on the server.");
    auto& sent =
        Counter(registry, "grpc_server_msg_sent_total",
                "Total number of gRPC stream messages sent by the server.");
    auto& handling = Histogram(registry, "grpc_server_handling_seconds",
                               "Histogram of response latency (seconds) of "
                               "gRPC that had been application-level handled "
                               "by the server.");
    const auto buckets = LatencyBuckets();
    std::array<std::unique_ptr<RpcSeries>, kRpcCount> all;
    for (const RpcName& name : kRpcNames) {
      if (name.http()) {
        all[static_cast<int>(name.rpc)] = ForHttp(name, http);
        continue;
      }
      const prometheus::Labels labels = {{"grpc_service", name.service},
                                         {"grpc_method", name.method},
                                         {"grpc_type", name.type}};
      auto series = std::make_unique<RpcSeries>();
      series->carries_tensors = name.carries_tensors;
      series->started = &started.Add(labels);
      series->received = &received.Add(labels);
      series->sent = &sent.Add(labels);
      series->handling = &handling.Add(labels, buckets);
      for (int code = 0; code < kCodeCount; ++code) {
        prometheus::Labels with_code = labels;
        with_code["grpc_code"] =
            std::string(wire::CodeName(static_cast<absl::StatusCode>(code)));
        series->handled[code] = &handled.Add(with_code);
      }
      all[static_cast<int>(name.rpc)] = std::move(series);
    }
    return all;
  }

  // An HTTP route's series: requests by status, and latency; no
  // started, received or sent counts.
  static std::unique_ptr<RpcSeries> ForHttp(const RpcName& name,
                                            const HttpFamilies& http) {
    const prometheus::Labels labels = {{"method", name.service},
                                       {"path", name.method}};
    auto series = std::make_unique<RpcSeries>();
    series->carries_tensors = name.carries_tensors;
    series->handling = &http.duration->Add(labels, LatencyBuckets());
    for (size_t i = 0; i < std::size(kHttpCodes); ++i) {
      prometheus::Labels with_code = labels;
      with_code["code"] = absl::StrCat(kHttpCodes[i]);
      series->http_handled[i] = &http.requests->Add(with_code);
    }
    return series;
  }

  // Returns the counter of `status`'s outcome.
  prometheus::Counter* Handled(const absl::Status& status) const {
    if (http_handled[0] == nullptr) {
      const int index = static_cast<int>(status.code());
      return handled[index >= 0 && index < kCodeCount ? index : 2];
    }
    const int code = ToHttpStatus(status);
    for (size_t i = 0; i < std::size(kHttpCodes); ++i) {
      if (kHttpCodes[i] == code) return http_handled[i];
    }
    static_assert(kHttpCodes[7] == 500);
    return http_handled[7];
  }

  bool carries_tensors = false;            // count payload bytes
  prometheus::Counter* started = nullptr;  // null for HTTP
  prometheus::Counter* received = nullptr;
  prometheus::Counter* sent = nullptr;
  prometheus::Histogram* handling = nullptr;
  std::array<prometheus::Counter*, kCodeCount> handled{};  // gRPC's
  std::array<prometheus::Counter*, std::size(kHttpCodes)> http_handled{};
};

// Engine time and volume, per dtype, and payload bytes.
struct Metrics::EngineSeries {
  explicit EngineSeries(prometheus::Registry& registry) {
    auto& compute = Histogram(registry, "activation_compute_seconds",
                              "Engine time per tensor, in seconds.");
    auto& elements = Counter(registry, "activation_elements_total",
                             "Tensor elements computed and returned.");
    // 1 us to 30 s in steps of 2x.
    const auto buckets = Geometric(1e-6, 2.0, 30.0);
    for (size_t i = 0; i < core::kAllDataTypes.size(); ++i) {
      const prometheus::Labels labels = {
          {"dtype", std::string(core::DataTypeName(core::kAllDataTypes[i]))}};
      compute_seconds[i] = &compute.Add(labels, buckets);
      elements_total[i] = &elements.Add(labels);
    }
    auto& payload = Counter(registry, "activation_payload_bytes_total",
                            "Tensor payload bytes (raw_data or float_data) "
                            "received and sent.");
    payload_received = &payload.Add({{"direction", "received"}});
    payload_sent = &payload.Add({{"direction", "sent"}});
  }

  // Indexed by DataType - 1.
  std::array<prometheus::Histogram*, core::kAllDataTypes.size()>
      compute_seconds{};
  std::array<prometheus::Counter*, core::kAllDataTypes.size()> elements_total{};
  prometheus::Counter* payload_received;
  prometheus::Counter* payload_sent;
};

// Calls refused by admission, by reason: CallGate's reason payloads.
struct Metrics::AdmissionSeries {
  explicit AdmissionSeries(prometheus::Registry& registry) {
    auto& rejected = Counter(registry, "activation_rejected_total",
                             "Calls refused before compute, by reason: "
                             "max_inflight, max_memory, unauthenticated, "
                             "draining.");
    for (const char* reason :
         {"max_inflight", "max_memory", "unauthenticated", "draining"}) {
      by_reason.emplace(reason, &rejected.Add({{"reason", reason}}));
    }
  }

  // Returns the counter of the reason `status` carries, or null.
  prometheus::Counter* For(const absl::Status& status) const {
    const auto reason = status.GetPayload(CallGate::kReasonPayload);
    if (!reason.has_value()) return nullptr;
    const auto it = by_reason.find(std::string(*reason));
    return it == by_reason.end() ? nullptr : it->second;
  }

  absl::flat_hash_map<std::string, prometheus::Counter*> by_reason;
};

// The values read at scrape time: the in-flight gauge and build info.
class Metrics::ScrapeCollector final : public prometheus::Collectable {
 public:
  explicit ScrapeCollector(const Options* options) : options_(options) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> families;
    families.push_back(SingleValueFamily(
        "activation_inflight_requests",
        "Computations admitted and not yet finished.",
        prometheus::MetricType::Gauge,
        options_->inflight ? static_cast<double>(options_->inflight()) : 0.0));
    families.push_back(SingleValueFamily(
        "activation_memory_held_bytes",
        "Bytes of the memory budget (--max_memory) that computations and "
        "their unsent answers hold.",
        prometheus::MetricType::Gauge,
        options_->held_bytes ? static_cast<double>(options_->held_bytes())
                             : 0.0));
    prometheus::MetricFamily build = SingleValueFamily(
        "activation_build_info", "Always 1; the labels name the build.",
        prometheus::MetricType::Gauge, 1.0);
    build.metric[0].label = {{"git_sha", options_->git_sha},
                             {"version", options_->version}};
    families.push_back(std::move(build));
    return families;
  }

 private:
  const Options* const options_;  // Not owned.
};

absl::string_view Metrics::MethodName(Rpc rpc) {
  static const auto* const kNames = [] {
    auto* names = new std::array<std::string, kRpcCount>;
    for (const RpcName& name : kRpcNames) {
      (*names)[static_cast<int>(name.rpc)] =
          absl::StrCat(name.service, name.http() ? " " : "/", name.method);
    }
    return names;
  }();
  return (*kNames)[static_cast<int>(rpc)];
}

Metrics::Metrics(Options options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      http_(std::make_unique<HttpFamilies>(*registry_)),
      rpcs_(RpcSeries::Create(*registry_, *http_)),
      engine_(std::make_unique<EngineSeries>(*registry_)),
      admission_(std::make_unique<AdmissionSeries>(*registry_)),
      process_(std::make_shared<ProcessCollector>()),
      scrape_time_(std::make_shared<ScrapeCollector>(&options_)) {}

Metrics::~Metrics() { StopServing(); }

absl::Status Metrics::Serve(const std::string& address, int threads,
                            absl::Duration request_timeout) {
  // civetweb's options; keep-alive stays off (its default), so a thread is
  // free again once it has answered.
  std::vector<std::string> options = {
      "listening_ports",
      address,
      "num_threads",
      absl::StrCat(threads),
      "request_timeout_ms",
      absl::StrCat(absl::ToInt64Milliseconds(request_timeout)),
  };
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(std::move(options));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ",
                                               address, " (", e.what(), ")"));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(process_);
  exposer_->RegisterCollectable(scrape_time_);
  return absl::OkStatus();
}

void Metrics::StopServing() {
  if (exposer_ == nullptr) return;
  // civetweb joins its threads when the exposer is destroyed; its listener
  // notices the stop only when its poll returns, every 2 s, or when a
  // connection arrives. Connecting until it is gone makes the stop take
  // milliseconds instead of up to 2 s (every SIGTERM, every test).
  const int port = this->port();
  std::atomic<bool> stopped{false};
  std::thread waker([&stopped, port] {
    while (!stopped.load()) {
      WakeListener(port);
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  exposer_.reset();
  stopped.store(true);
  waker.join();
}

int Metrics::port() const {
  if (exposer_ == nullptr) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

std::string Metrics::Scrape() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const prometheus::Collectable* collectable :
       {static_cast<const prometheus::Collectable*>(process_.get()),
        static_cast<const prometheus::Collectable*>(scrape_time_.get())}) {
    for (auto& family : collectable->Collect()) {
      families.push_back(std::move(family));
    }
  }
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::RecordHttpUnrouted(absl::string_view method,
                                 absl::string_view path, int code,
                                 absl::Duration duration) {
  static constexpr absl::string_view kMethods[] = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  absl::string_view known = "other";
  for (absl::string_view m : kMethods) {
    if (m == method) known = m;
  }
  const prometheus::Labels labels = {{"method", std::string(known)},
                                     {"path", std::string(path)}};
  prometheus::Labels with_code = labels;
  with_code["code"] = absl::StrCat(code);
  http_->requests->Add(with_code).Increment();
  http_->duration->Add(labels, LatencyBuckets())
      .Observe(absl::ToDoubleSeconds(duration));
}

CallRecord::CallRecord(Metrics* metrics, Metrics::Rpc rpc)
    : metrics_(metrics),
      series_(metrics == nullptr ? nullptr
                                 : metrics->rpcs_[static_cast<int>(rpc)].get()),
      start_(Clock::now()) {
  if (series_ != nullptr && series_->started != nullptr) {
    series_->started->Increment();
  }
}

CallRecord::~CallRecord() { Finish(absl::StatusCode::kCancelled); }

void CallRecord::Received(uint64_t payload_bytes) {
  if (series_ == nullptr) return;
  if (series_->received != nullptr) series_->received->Increment();
  if (series_->carries_tensors) {
    metrics_->engine_->payload_received->Increment(
        static_cast<double>(payload_bytes));
  }
}

void CallRecord::Sent(uint64_t payload_bytes) {
  if (series_ == nullptr) return;
  if (series_->sent != nullptr) series_->sent->Increment();
  if (series_->carries_tensors) {
    metrics_->engine_->payload_sent->Increment(
        static_cast<double>(payload_bytes));
  }
}

void CallRecord::Computed(core::DataType dtype, uint64_t elements,
                          absl::Duration duration, bool ok) {
  if (series_ == nullptr) return;
  const size_t index = static_cast<size_t>(dtype) - 1;
  if (index >= core::kAllDataTypes.size()) return;
  metrics_->engine_->compute_seconds[index]->Observe(
      absl::ToDoubleSeconds(duration));
  if (ok) {
    metrics_->engine_->elements_total[index]->Increment(
        static_cast<double>(elements));
  }
}

void CallRecord::Rejected(const absl::Status& status) {
  if (series_ == nullptr) return;
  if (prometheus::Counter* counter = metrics_->admission_->For(status)) {
    counter->Increment();
  }
}

void CallRecord::Finish(const absl::Status& status) {
  if (series_ == nullptr || finished_) return;
  finished_ = true;
  series_->Handled(status)->Increment();
  series_->handling->Observe(
      std::chrono::duration<double>(Clock::now() - start_).count());
}

}  // namespace activation::server
