#include "server/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/support/status.h"
#include "prometheus/collectable.h"
#include "prometheus/gauge.h"
#include "prometheus/metric_family.h"
#include "prometheus/text_serializer.h"

namespace activation::server {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kCodeCount = 17;  // OK .. UNAUTHENTICATED

const char* CodeName(grpc::StatusCode code) {
  static constexpr const char* kNames[kCodeCount] = {"OK",
                                                     "CANCELLED",
                                                     "UNKNOWN",
                                                     "INVALID_ARGUMENT",
                                                     "DEADLINE_EXCEEDED",
                                                     "NOT_FOUND",
                                                     "ALREADY_EXISTS",
                                                     "PERMISSION_DENIED",
                                                     "RESOURCE_EXHAUSTED",
                                                     "FAILED_PRECONDITION",
                                                     "ABORTED",
                                                     "OUT_OF_RANGE",
                                                     "UNIMPLEMENTED",
                                                     "INTERNAL",
                                                     "UNAVAILABLE",
                                                     "DATA_LOSS",
                                                     "UNAUTHENTICATED"};
  const int index = static_cast<int>(code);
  return index >= 0 && index < kCodeCount ? kNames[index] : "UNKNOWN";
}

// `start`, `start * factor`, ... up to `end`, then `end`.
prometheus::Histogram::BucketBoundaries Geometric(double start, double factor,
                                                  double end) {
  prometheus::Histogram::BucketBoundaries bounds;
  for (double b = start; b < end; b *= factor) bounds.push_back(b);
  bounds.push_back(end);
  return bounds;
}

// Request latency: 25 us to 30 s in steps of 1.5x, fine enough to read the
// p50 and p99 of a 100 us call.
const prometheus::Histogram::BucketBoundaries& HandlingBuckets() {
  static const auto* buckets =
      new prometheus::Histogram::BucketBoundaries(Geometric(25e-6, 1.5, 30.0));
  return *buckets;
}

// Engine time: 1 us to 30 s in steps of 2x.
const prometheus::Histogram::BucketBoundaries& ComputeBuckets() {
  static const auto* buckets =
      new prometheus::Histogram::BucketBoundaries(Geometric(1e-6, 2.0, 30.0));
  return *buckets;
}

}  // namespace

// The series of one RPC, all created up front so that recording a call is
// a handful of atomic adds.
struct Metrics::Series {
  bool carries_tensors = false;  // Relu, ReluStream: count payload bytes
  prometheus::Counter* started = nullptr;
  prometheus::Counter* received = nullptr;
  prometheus::Counter* sent = nullptr;
  prometheus::Histogram* handling = nullptr;
  std::array<prometheus::Counter*, kCodeCount> handled{};
};

namespace {

// Reads a whole small file, or "" if it cannot.
std::string Slurp(const char* path) {
  std::ifstream file(path);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

prometheus::MetricFamily Family(const std::string& name,
                                const std::string& help,
                                prometheus::MetricType type, double value,
                                prometheus::ClientMetric::Label label = {}) {
  prometheus::ClientMetric metric;
  if (!label.name.empty()) metric.label.push_back(std::move(label));
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{name, help, type, {std::move(metric)}};
}

}  // namespace

// The values read at scrape time: process metrics from /proc, the in-flight
// gauge and build info.
class Metrics::ProcessCollector final : public prometheus::Collectable {
 public:
  explicit ProcessCollector(const Options* options) : options_(options) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    using prometheus::MetricType;
    std::vector<prometheus::MetricFamily> families;
    AddProcStat(families);
    families.push_back(Family("process_open_fds",
                              "Number of open file descriptors.",
                              MetricType::Gauge, CountOpenFds()));
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
      families.push_back(
          Family("process_max_fds", "Maximum number of open file descriptors.",
                 MetricType::Gauge, static_cast<double>(limit.rlim_cur)));
    }
    families.push_back(Family(
        "activation_inflight_requests",
        "ActivationService calls admitted and not yet finished.",
        MetricType::Gauge,
        options_->inflight ? static_cast<double>(options_->inflight()) : 0.0));
    prometheus::MetricFamily build =
        Family("activation_build_info", "Always 1; the labels name the build.",
               MetricType::Gauge, 1.0, {"git_sha", options_->git_sha});
    build.metric[0].label.push_back({"version", options_->version});
    families.push_back(std::move(build));
    return families;
  }

 private:
  static double CountOpenFds() {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return 0;
    int count = 0;
    while (dirent* entry = readdir(dir)) {
      if (entry->d_name[0] != '.') ++count;
    }
    closedir(dir);
    return count - 1;  // not the descriptor opendir itself holds
  }

  // CPU time, memory and start time from /proc/self/stat and /proc/stat.
  static void AddProcStat(std::vector<prometheus::MetricFamily>& families) {
    using prometheus::MetricType;
    const std::string stat = Slurp("/proc/self/stat");
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) return;
    // Fields after "pid (comm)": state is field 3; utime 14, stime 15,
    // starttime 22, vsize 23, rss 24.
    const std::vector<std::string> fields =
        absl::StrSplit(stat.substr(paren + 2), ' ');
    auto field = [&](int number) {
      const size_t index = static_cast<size_t>(number - 3);
      return index < fields.size() ? std::strtod(fields[index].c_str(), nullptr)
                                   : 0.0;
    };
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
    families.push_back(Family("process_cpu_seconds_total",
                              "User and system CPU time spent in seconds.",
                              MetricType::Counter,
                              (field(14) + field(15)) / ticks));
    families.push_back(Family("process_resident_memory_bytes",
                              "Resident memory size in bytes.",
                              MetricType::Gauge, field(24) * page));
    families.push_back(Family("process_virtual_memory_bytes",
                              "Virtual memory size in bytes.",
                              MetricType::Gauge, field(23)));
    double boot_time = 0;
    for (absl::string_view line : absl::StrSplit(Slurp("/proc/stat"), '\n')) {
      if (absl::ConsumePrefix(&line, "btime ")) {
        boot_time = std::strtod(std::string(line).c_str(), nullptr);
      }
    }
    families.push_back(
        Family("process_start_time_seconds",
               "Start time of the process since unix epoch in seconds.",
               MetricType::Gauge, boot_time + field(22) / ticks));
  }

  const Options* const options_;  // Not owned.
};

Metrics::Metrics(Options options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      process_(std::make_shared<ProcessCollector>(&options_)) {
  auto& started = prometheus::BuildCounter()
                      .Name("grpc_server_started_total")
                      .Help("Total number of RPCs started on the server.")
                      .Register(*registry_);
  auto& handled = prometheus::BuildCounter()
                      .Name("grpc_server_handled_total")
                      .Help(
                          "Total number of RPCs completed on the server, "
                          "regardless of success or failure.")
                      .Register(*registry_);
  auto& received = prometheus::BuildCounter()
                       .Name("grpc_server_msg_received_total")
                       .Help(
                           "Total number of RPC stream messages received "
                           "on the server.")
                       .Register(*registry_);
  auto& sent =
      prometheus::BuildCounter()
          .Name("grpc_server_msg_sent_total")
          .Help("Total number of gRPC stream messages sent by the server.")
          .Register(*registry_);
  auto& handling =
      prometheus::BuildHistogram()
          .Name("grpc_server_handling_seconds")
          .Help(
              "Histogram of response latency (seconds) of gRPC that had "
              "been application-level handled by the server.")
          .Register(*registry_);
  struct RpcInfo {
    Rpc rpc;
    const char* service;
    const char* method;
    const char* type;
  };
  constexpr char kActivation[] = "activation.v1.ActivationService";
  constexpr char kHealth[] = "grpc.health.v1.Health";
  for (const RpcInfo& info :
       {RpcInfo{Rpc::kRelu, kActivation, "Relu", "unary"},
        RpcInfo{Rpc::kReluStream, kActivation, "ReluStream", "bidi_stream"},
        RpcInfo{Rpc::kGetServerInfo, kActivation, "GetServerInfo", "unary"},
        RpcInfo{Rpc::kHealthCheck, kHealth, "Check", "unary"},
        RpcInfo{Rpc::kHealthWatch, kHealth, "Watch", "server_stream"}}) {
    const prometheus::Labels labels = {{"grpc_service", info.service},
                                       {"grpc_method", info.method},
                                       {"grpc_type", info.type}};
    auto series = std::make_unique<Series>();
    series->carries_tensors =
        info.rpc == Rpc::kRelu || info.rpc == Rpc::kReluStream;
    series->started = &started.Add(labels);
    series->received = &received.Add(labels);
    series->sent = &sent.Add(labels);
    series->handling = &handling.Add(labels, HandlingBuckets());
    for (int code = 0; code < kCodeCount; ++code) {
      prometheus::Labels with_code = labels;
      with_code["grpc_code"] = CodeName(static_cast<grpc::StatusCode>(code));
      series->handled[code] = &handled.Add(with_code);
    }
    rpcs_[static_cast<int>(info.rpc)] = std::move(series);
  }
  auto& compute = prometheus::BuildHistogram()
                      .Name("activation_compute_seconds")
                      .Help("Engine time per tensor, in seconds.")
                      .Register(*registry_);
  auto& elements = prometheus::BuildCounter()
                       .Name("activation_elements_total")
                       .Help("Tensor elements computed and returned.")
                       .Register(*registry_);
  for (size_t i = 0; i < core::kAllDataTypes.size(); ++i) {
    const prometheus::Labels labels = {
        {"dtype", std::string(core::DataTypeName(core::kAllDataTypes[i]))}};
    compute_[i] = &compute.Add(labels, ComputeBuckets());
    elements_[i] = &elements.Add(labels);
  }
  auto& payload = prometheus::BuildCounter()
                      .Name("activation_payload_bytes_total")
                      .Help(
                          "Tensor payload bytes (raw_data or float_data) "
                          "received and sent.")
                      .Register(*registry_);
  payload_received_ = &payload.Add({{"direction", "received"}});
  payload_sent_ = &payload.Add({{"direction", "sent"}});
  rejected_ = &prometheus::BuildCounter()
                   .Name("activation_rejected_total")
                   .Help(
                       "ActivationService calls refused before compute, by "
                       "reason: max_inflight, unauthenticated, draining.")
                   .Register(*registry_);
  for (const char* reason : {"max_inflight", "unauthenticated", "draining"}) {
    rejected_->Add({{"reason", reason}});
  }
}

Metrics::~Metrics() = default;

absl::Status Metrics::Serve(const std::string& address) {
  try {
    exposer_ = std::make_unique<prometheus::Exposer>(address);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("metrics: cannot listen on ",
                                               address, " (", e.what(), ")"));
  }
  exposer_->RegisterCollectable(registry_);
  exposer_->RegisterCollectable(process_);
  return absl::OkStatus();
}

int Metrics::port() const {
  if (exposer_ == nullptr) return 0;
  const std::vector<int> ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

void Metrics::OnRejected(absl::string_view reason) {
  rejected_->Add({{"reason", std::string(reason)}}).Increment();
}

void Metrics::OnComputed(core::DataType dtype, uint64_t elements,
                         absl::Duration duration, bool ok) {
  const size_t index = static_cast<size_t>(dtype) - 1;
  if (index >= compute_.size()) return;
  compute_[index]->Observe(absl::ToDoubleSeconds(duration));
  if (ok) elements_[index]->Increment(static_cast<double>(elements));
}

std::string Metrics::Scrape() const {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (auto& family : process_->Collect())
    families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

CallRecord::CallRecord(Metrics* metrics, Metrics::Rpc rpc)
    : metrics_(metrics),
      series_(metrics == nullptr ? nullptr
                                 : metrics->rpcs_[static_cast<int>(rpc)].get()),
      start_(Clock::now()) {
  if (series_ != nullptr) series_->started->Increment();
}

CallRecord::~CallRecord() { Finish(absl::StatusCode::kCancelled); }

void CallRecord::Received(uint64_t payload_bytes) {
  if (series_ == nullptr) return;
  series_->received->Increment();
  if (series_->carries_tensors) {
    metrics_->payload_received_->Increment(static_cast<double>(payload_bytes));
  }
}

void CallRecord::Sent(uint64_t payload_bytes) {
  if (series_ == nullptr) return;
  series_->sent->Increment();
  if (series_->carries_tensors) {
    metrics_->payload_sent_->Increment(static_cast<double>(payload_bytes));
  }
}

void CallRecord::Finish(absl::StatusCode code) {
  if (series_ == nullptr || finished_) return;
  finished_ = true;
  const int index = static_cast<int>(code);
  series_->handled[index >= 0 && index < kCodeCount ? index : 2]->Increment();
  series_->handling->Observe(
      std::chrono::duration<double>(Clock::now() - start_).count());
}

}  // namespace activation::server
