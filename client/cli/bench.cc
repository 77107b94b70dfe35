#include "client/cli/bench.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "core/relu.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "wire/convert.h"

namespace activation::cli {
namespace {

using Clock = std::chrono::steady_clock;

// Returns ghz's name of `code` ("OK", "Canceled", "InvalidArgument", ...).
std::string GhzCodeName(grpc::StatusCode code) {
  return std::string(wire::CodeName(static_cast<absl::StatusCode>(code)));
}

// What one worker saw; merged at the end.
struct Tally {
  std::vector<absl::Duration> latencies;
  std::map<std::string, int64_t> codes;
  std::map<std::string, int64_t> errors;
  int64_t verified = 0;
  int64_t mismatches = 0;
};

// The request every call sends, and the answer it must get.
struct Payload {
  v1::ReluRequest request;
  inference::ModelInferRequest oip_request;  // the same, for --protocol=oip
  std::string expected;                      // raw_data of the answer
  std::vector<float> expected_floats;        // or its float_data
  uint64_t bytes = 0;
};

// The same tensor and parameters as an Open Inference Protocol request.
inference::ModelInferRequest OipRequest(const v1::ReluRequest& request,
                                        core::DataType dtype,
                                        const ReluParams& params) {
  inference::ModelInferRequest oip;
  oip.set_model_name("relu");
  auto* input = oip.add_inputs();
  input->set_name("input");
  input->set_datatype(std::string(wire::OipDataTypeName(dtype)));
  input->mutable_shape()->CopyFrom(request.input().shape());
  if (request.input().float_data_size() > 0) {
    input->mutable_contents()->mutable_fp32_contents()->CopyFrom(
        request.input().float_data());
  } else {
    oip.add_raw_input_contents(request.input().raw_data());
  }
  auto& parameters = *oip.mutable_parameters();
  if (params.max_value.has_value()) {
    parameters["max_value"].set_double_param(*params.max_value);
  }
  parameters["negative_slope"].set_double_param(params.negative_slope);
  parameters["threshold"].set_double_param(params.threshold);
  parameters["mode"].set_string_param(
      params.mode == core::Mode::kKeras ? "keras" : "documented");
  return oip;
}

absl::StatusOr<Payload> MakePayload(const BenchOptions& o) {
  Tensor tensor;
  tensor.dtype = o.dtype;
  tensor.shape = o.shape;
  absl::StatusOr<uint64_t> bytes = ByteSize(tensor);
  if (!bytes.ok()) return bytes.status();
  const uint64_t n = tensor.elements();
  tensor.data.resize(*bytes);
  std::mt19937 rng(42);
  if (o.dtype == core::DataType::kFloat32) {
    std::uniform_real_distribution<float> dist(-10, 10);
    for (uint64_t i = 0; i < n; ++i) {
      const float v = dist(rng);
      std::memcpy(&tensor.data[i * 4], &v, 4);
    }
  } else {
    for (char& c : tensor.data) c = static_cast<char>(rng());
  }
  Payload payload;
  payload.bytes = tensor.data.size();
  payload.expected.resize(tensor.data.size());
  if (absl::Status s = core::Relu(o.params, o.dtype, tensor.data.data(),
                                  payload.expected.data(), n);
      !s.ok()) {
    return s;
  }
  v1::Tensor* input = payload.request.mutable_input();
  input->set_dtype(wire::DataTypeToProto(o.dtype));
  for (int64_t dim : o.shape) input->add_shape(dim);
  if (o.float_data) {
    if (o.dtype != core::DataType::kFloat32) {
      return absl::InvalidArgumentError("--encoding=float_data needs FLOAT32");
    }
    const std::vector<float> values = tensor.As<float>();
    input->mutable_float_data()->Add(values.begin(), values.end());
    payload.expected_floats.resize(n);
    std::memcpy(payload.expected_floats.data(), payload.expected.data(),
                payload.expected.size());
  } else {
    input->set_raw_data(std::move(tensor.data));
  }
  *payload.request.mutable_params() = wire::ParamsToProto(o.params);
  if (o.protocol == BenchOptions::Protocol::kOip) {
    payload.oip_request = OipRequest(payload.request, o.dtype, o.params);
  }
  return payload;
}

// Returns true when `floats` holds the payload's expected floats.
bool FloatsMatch(const Payload& payload,
                 const google::protobuf::RepeatedField<float>& floats) {
  return floats.size() == static_cast<int>(payload.expected_floats.size()) &&
         std::memcmp(floats.data(), payload.expected_floats.data(),
                     payload.expected_floats.size() * 4) == 0;
}

// What the workers need of a protocol: its stub, request, calls and the
// check of an answer.
struct ActivationV1 {
  using Stub = v1::ActivationService::Stub;
  using Response = v1::ReluResponse;
  using StreamResponse = v1::ReluResponse;

  static std::unique_ptr<Stub> NewStub(std::shared_ptr<grpc::Channel> c) {
    return v1::ActivationService::NewStub(c);
  }
  static const v1::ReluRequest& Request(const Payload& p) { return p.request; }
  static grpc::Status Call(Stub& stub, grpc::ClientContext* context,
                           const Payload& p, Response* response) {
    return stub.Relu(context, p.request, response);
  }
  static auto Stream(Stub& stub, grpc::ClientContext* context) {
    return stub.ReluStream(context);
  }
  // An answer on a stream: OK, or the error it carries.
  static grpc::Status StreamStatus(const StreamResponse&) {
    return grpc::Status::OK;
  }
  static bool Matches(const Payload& p, const Response& response) {
    if (!p.expected_floats.empty()) {
      return FloatsMatch(p, response.output().float_data());
    }
    return response.output().raw_data() == p.expected;
  }
};

struct Oip {
  using Stub = inference::GRPCInferenceService::Stub;
  using Response = inference::ModelInferResponse;
  using StreamResponse = inference::ModelStreamInferResponse;

  static std::unique_ptr<Stub> NewStub(std::shared_ptr<grpc::Channel> c) {
    return inference::GRPCInferenceService::NewStub(c);
  }
  static const inference::ModelInferRequest& Request(const Payload& p) {
    return p.oip_request;
  }
  static grpc::Status Call(Stub& stub, grpc::ClientContext* context,
                           const Payload& p, Response* response) {
    return stub.ModelInfer(context, p.oip_request, response);
  }
  static auto Stream(Stub& stub, grpc::ClientContext* context) {
    return stub.ModelStreamInfer(context);
  }
  static grpc::Status StreamStatus(const StreamResponse& response) {
    if (response.error_message().empty()) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNKNOWN, response.error_message());
  }
  static bool Matches(const Payload& p, const Response& response) {
    if (response.outputs_size() != 1) return false;
    if (!p.expected_floats.empty()) {
      return FloatsMatch(p, response.outputs(0).contents().fp32_contents());
    }
    return response.raw_output_contents_size() == 1 &&
           response.raw_output_contents(0) == p.expected;
  }
  static bool Matches(const Payload& p, const StreamResponse& response) {
    return Matches(p, response.infer_response());
  }
};

// Hands out call slots: by count, by deadline, and paced to --rps.
class Dispatcher {
 public:
  Dispatcher(const BenchOptions& o)
      : total_(o.total),
        end_(o.total > 0
                 ? Clock::time_point::max()
                 : Clock::now() + absl::ToChronoNanoseconds(o.duration)),
        interval_(o.rps > 0 ? std::chrono::duration<double>(1.0 / o.rps)
                            : std::chrono::duration<double>(0)),
        start_(Clock::now()) {}

  // Returns false when the run is over, else true with the call's 0-based
  // index over all workers; sleeps to keep the rate.
  bool Next(int64_t* index) {
    const int64_t k = issued_.fetch_add(1);
    if (total_ > 0 && k >= total_) return false;
    if (Clock::now() >= end_) return false;
    if (interval_.count() > 0) {
      std::this_thread::sleep_until(
          start_ + std::chrono::duration_cast<Clock::duration>(interval_ * k));
    }
    *index = k;
    return total_ > 0 || Clock::now() < end_;
  }
  int64_t issued() const {
    return std::min<int64_t>(issued_.load(),
                             total_ > 0 ? total_ : issued_.load());
  }

 private:
  const int64_t total_;
  const Clock::time_point end_;
  const std::chrono::duration<double> interval_;
  const Clock::time_point start_;
  std::atomic<int64_t> issued_{0};
};

template <typename Protocol, typename Response>
void Record(Tally& tally, const grpc::Status& status, absl::Duration latency,
            const Payload& payload, const Response& response, int64_t index,
            int verify_every) {
  tally.latencies.push_back(latency);
  const std::string code = GhzCodeName(status.error_code());
  ++tally.codes[code];
  if (!status.ok()) {
    ++tally.errors[absl::StrCat("rpc error: code = ", code,
                                " desc = ", status.error_message())];
    return;
  }
  if (verify_every > 0 && index % verify_every == 0) {
    ++tally.verified;
    if (!Protocol::Matches(payload, response)) ++tally.mismatches;
  }
}

// A context with `deadline` and the bearer token `connection` asks for.
std::unique_ptr<grpc::ClientContext> NewContext(const ClientOptions& connection,
                                                absl::Duration deadline) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!connection.token.empty()) {
    context->AddMetadata("authorization", "Bearer " + connection.token);
  }
  return context;
}

// One worker's calls, each with the connection's deadline.
template <typename Protocol>
struct Worker {
  typename Protocol::Stub& stub;
  const ClientOptions& connection;
  const Payload& payload;
  const BenchOptions& options;
  Dispatcher& dispatcher;
  Tally& tally;
};

template <typename Protocol>
void UnaryWorker(const Worker<Protocol>& w) {
  typename Protocol::Response response;
  for (int64_t i = 0; w.dispatcher.Next(&i);) {
    std::unique_ptr<grpc::ClientContext> context =
        NewContext(w.connection, w.connection.deadline);
    const auto start = Clock::now();
    const grpc::Status status =
        Protocol::Call(w.stub, context.get(), w.payload, &response);
    Record<Protocol>(w.tally, status, absl::FromChrono(Clock::now() - start),
                     w.payload, response, i, w.options.verify_every);
  }
}

// One stream of a worker: up to `stream_window` messages in flight,
// written from the worker's thread and read from a second one (gRPC's
// synchronous streams allow one Write and one Read at a time, each from its
// own thread). Answers come in order, so the oldest message in flight is
// the one answered. A message is written with a buffer hint (not flushed)
// while the next one may follow at once.
template <typename Protocol>
class PipelinedStream {
 public:
  explicit PipelinedStream(const Worker<Protocol>& w)
      : w_(w),
        context_(NewContext(w.connection, absl::Hours(24))),
        stream_(Protocol::Stream(w.stub, context_.get())) {}

  // Sends messages until the run is over (returns true) or the stream
  // breaks (false), then ends the stream and counts each message it left
  // unanswered as failed, with the stream's status.
  bool Run() {
    std::thread reader([this] { ReadAnswers(); });
    const bool over = WriteMessages();
    stream_->WritesDone();
    reader.join();
    const grpc::Status status = stream_->Finish();
    const grpc::Status lost =
        status.ok()
            ? grpc::Status(grpc::StatusCode::UNKNOWN, "stream ended early")
            : status;
    typename Protocol::StreamResponse none;
    for (const Sent& sent : in_flight_) {  // the reader has joined
      Record<Protocol>(w_.tally, lost,
                       absl::FromChrono(Clock::now() - sent.start), w_.payload,
                       none, sent.index, w_.options.verify_every);
    }
    return over;
  }

 private:
  struct Sent {
    int64_t index;
    Clock::time_point start;
  };

  // Returns true when the run is over, false when the stream broke.
  bool WriteMessages() ABSL_LOCKS_EXCLUDED(mu_) {
    const int window = w_.options.stream_window;
    const auto has_room = [&] {
      mu_.AssertReaderHeld();
      return broken_ || static_cast<int>(in_flight_.size()) < window;
    };
    for (int64_t i = 0; w_.dispatcher.Next(&i);) {
      bool more_room;
      {
        absl::MutexLock lock(&mu_);
        mu_.Await(absl::Condition(&has_room));
        in_flight_.push_back({i, Clock::now()});
        if (broken_) return false;  // counted by Run as lost
        more_room = static_cast<int>(in_flight_.size()) < window;
      }
      grpc::WriteOptions options;
      if (more_room && w_.options.rps == 0) options.set_buffer_hint();
      if (!stream_->Write(Protocol::Request(w_.payload), options)) {
        return false;
      }
    }
    return true;
  }

  // The reader thread: records each answer against the oldest message in
  // flight until the stream ends.
  void ReadAnswers() ABSL_LOCKS_EXCLUDED(mu_) {
    typename Protocol::StreamResponse response;
    while (stream_->Read(&response)) {
      Sent sent;
      {
        absl::MutexLock lock(&mu_);
        if (in_flight_.empty()) {  // an answer to no message: give up
          context_->TryCancel();
          break;
        }
        sent = in_flight_.front();
        in_flight_.pop_front();
      }
      Record<Protocol>(w_.tally, Protocol::StreamStatus(response),
                       absl::FromChrono(Clock::now() - sent.start), w_.payload,
                       response, sent.index, w_.options.verify_every);
    }
    absl::MutexLock lock(&mu_);
    broken_ = true;
  }

  const Worker<Protocol>& w_;
  const std::unique_ptr<grpc::ClientContext> context_;
  const decltype(Protocol::Stream(w_.stub, nullptr)) stream_;
  absl::Mutex mu_;
  std::deque<Sent> in_flight_ ABSL_GUARDED_BY(mu_);
  bool broken_ ABSL_GUARDED_BY(mu_) = false;  // the reader saw the end
};

// One worker's messages over streams: a stream that breaks is replaced
// until the run is over.
template <typename Protocol>
void StreamWorker(const Worker<Protocol>& w) {
  while (!PipelinedStream<Protocol>(w).Run()) {
  }
}

std::string Ms(absl::Duration d) {
  return absl::StrFormat("%.2f ms", absl::ToDoubleMilliseconds(d));
}

absl::Duration Percentile(const std::vector<absl::Duration>& sorted, double p) {
  if (sorted.empty()) return absl::ZeroDuration();
  const size_t i = static_cast<size_t>(p / 100.0 * (sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

constexpr double kPercentiles[] = {10, 25, 50, 75, 90, 95, 99, 99.9};

absl::Status CheckOptions(const BenchOptions& o) {
  if (o.concurrency <= 0 || o.connections <= 0) {
    return absl::InvalidArgumentError("-c and --connections must be > 0");
  }
  if (o.stream_window <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stream_window must be > 0, got ", o.stream_window));
  }
  if ((o.total > 0) == (o.duration > absl::ZeroDuration())) {
    return absl::InvalidArgumentError(
        "give one of -n (count) or -z (duration)");
  }
  return absl::OkStatus();
}

// Returns `connections` stubs, each over a TCP connection of its own.
template <typename Protocol>
absl::StatusOr<std::vector<std::unique_ptr<typename Protocol::Stub>>>
ConnectStubs(const std::string& target, ClientOptions connection,
             int connections) {
  connection.dedicated_connection = true;
  std::vector<std::unique_ptr<typename Protocol::Stub>> stubs;
  for (int i = 0; i < connections; ++i) {
    absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
        CreateChannel(target, connection);
    if (!channel.ok()) return channel.status();
    stubs.push_back(Protocol::NewStub(*channel));
  }
  return stubs;
}

// A progress bar on stderr, redrawn every 100 ms from a thread of its own
// while it exists; `done` returns the fraction of the run that is over.
class ProgressBar {
 public:
  explicit ProgressBar(std::function<double()> done)
      : thread_([this, done = std::move(done)] {
          while (running_.load()) {
            Draw(done());
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
          std::fprintf(stderr, "\r%*s\r", 50, "");
        }) {}
  ~ProgressBar() {
    running_.store(false);
    thread_.join();
  }

 private:
  static void Draw(double done) {
    const int width = 40;
    const int filled = std::clamp(static_cast<int>(done * width), 0, width);
    std::fprintf(stderr, "\r[%s%s] %3d%%", std::string(filled, '=').c_str(),
                 std::string(width - filled, ' ').c_str(),
                 std::min(100, static_cast<int>(done * 100)));
  }

  std::atomic<bool> running_{true};
  std::thread thread_;  // last: starts once running_ is set
};

// Connects and runs the workers to the end of the run; returns each one's
// tally.
template <typename Protocol>
absl::StatusOr<std::vector<Tally>> RunWorkers(const std::string& target,
                                              const ClientOptions& connection,
                                              const Payload& payload,
                                              const BenchOptions& o,
                                              Dispatcher& dispatcher) {
  auto stubs = ConnectStubs<Protocol>(target, connection, o.connections);
  if (!stubs.ok()) return stubs.status();
  std::vector<Tally> tallies(static_cast<size_t>(o.concurrency));
  std::vector<std::thread> workers;
  for (int i = 0; i < o.concurrency; ++i) {
    workers.emplace_back([&, i] {
      const Worker<Protocol> worker{
          *(*stubs)[static_cast<size_t>(i % o.connections)],
          connection,
          payload,
          o,
          dispatcher,
          tallies[static_cast<size_t>(i)]};
      o.stream ? StreamWorker(worker) : UnaryWorker(worker);
    });
  }
  for (std::thread& worker : workers) worker.join();
  return tallies;
}

// Merges the workers' tallies into the report of a run of `total`.
BenchReport Summarize(const std::vector<Tally>& tallies, absl::Duration total,
                      uint64_t payload_bytes) {
  BenchReport report;
  for (const Tally& tally : tallies) {
    report.latencies.insert(report.latencies.end(), tally.latencies.begin(),
                            tally.latencies.end());
    for (const auto& [k, v] : tally.codes) report.status_codes[k] += v;
    for (const auto& [k, v] : tally.errors) report.errors[k] += v;
    report.verified += tally.verified;
    report.mismatches += tally.mismatches;
  }
  std::sort(report.latencies.begin(), report.latencies.end());
  report.count = static_cast<int64_t>(report.latencies.size());
  report.total = total;
  if (report.count > 0) {
    report.fastest = report.latencies.front();
    report.slowest = report.latencies.back();
    absl::Duration sum;
    for (absl::Duration d : report.latencies) sum += d;
    report.average = sum / report.count;
  }
  const double seconds = absl::ToDoubleSeconds(total);
  report.rps = seconds > 0 ? report.count / seconds : 0;
  report.mbps = seconds > 0 ? report.count * payload_bytes / seconds / 1e6 : 0;
  return report;
}

}  // namespace

absl::StatusOr<BenchReport> RunBench(const std::string& target,
                                     const ClientOptions& connection,
                                     const BenchOptions& o) {
  if (absl::Status s = CheckOptions(o); !s.ok()) return s;
  absl::StatusOr<Payload> payload = MakePayload(o);
  if (!payload.ok()) return payload.status();
  Dispatcher dispatcher(o);
  const auto start = Clock::now();
  std::optional<ProgressBar> progress;
  if (o.progress) {
    progress.emplace([&] {
      return o.total > 0 ? static_cast<double>(dispatcher.issued()) / o.total
                         : std::chrono::duration<double>(Clock::now() - start) /
                               absl::ToChronoNanoseconds(o.duration);
    });
  }
  const absl::StatusOr<std::vector<Tally>> tallies =
      o.protocol == BenchOptions::Protocol::kOip
          ? RunWorkers<Oip>(target, connection, *payload, o, dispatcher)
          : RunWorkers<ActivationV1>(target, connection, *payload, o,
                                     dispatcher);
  if (!tallies.ok()) return tallies.status();
  const absl::Duration total = absl::FromChrono(Clock::now() - start);
  progress.reset();
  return Summarize(*tallies, total, payload->bytes);
}

std::vector<BenchReport::Bucket> BenchReport::Histogram() const {
  if (latencies.empty()) return {};
  constexpr int kSteps = 10;
  const absl::Duration step = (slowest - fastest) / kSteps;
  std::vector<Bucket> buckets(kSteps + 1);
  for (int b = 0; b <= kSteps; ++b) buckets[b].mark = fastest + b * step;
  for (absl::Duration d : latencies) {
    // ghz's rule: the first bucket whose mark is at or above the latency.
    int b = 0;
    if (step > absl::ZeroDuration()) {
      b = std::min(
          kSteps,
          static_cast<int>(std::ceil(absl::FDivDuration(d - fastest, step))));
    }
    ++buckets[static_cast<size_t>(b)].count;
  }
  return buckets;
}

std::string BenchReport::Summary() const {
  std::string out = absl::StrFormat(
      "\nSummary:\n  Count:\t%d\n  Total:\t%.2f s\n  Slowest:\t%s\n"
      "  Fastest:\t%s\n  Average:\t%s\n  Requests/sec:\t%.2f\n"
      "  Payload MB/s:\t%.2f\n",
      count, absl::ToDoubleSeconds(total), Ms(slowest), Ms(fastest),
      Ms(average), rps, mbps);
  if (!latencies.empty()) {
    out += "\nResponse time histogram:\n";
    const std::vector<Bucket> buckets = Histogram();
    int64_t most = 0;
    for (const Bucket& bucket : buckets) most = std::max(most, bucket.count);
    for (const Bucket& bucket : buckets) {
      const int bar = most > 0 ? static_cast<int>(40 * bucket.count / most) : 0;
      std::string bars;
      for (int i = 0; i < bar; ++i) bars += "\xE2\x88\x8E";  // U+220E
      out += absl::StrFormat("  %.3f [%d]\t|%s\n",
                             absl::ToDoubleMilliseconds(bucket.mark),
                             bucket.count, bars);
    }
    out += "\nLatency distribution:\n";
    for (double p : kPercentiles) {
      out +=
          absl::StrFormat("  %g %% in %s \n", p, Ms(Percentile(latencies, p)));
    }
  }
  out += "\nStatus code distribution:\n";
  for (const auto& [code, n] : status_codes) {
    out += absl::StrFormat("  [%s]\t%d responses\n", code, n);
  }
  if (!errors.empty()) {
    out += "\nError distribution:\n";
    for (const auto& [message, n] : errors) {
      out += absl::StrFormat("  [%d]\t%s\n", n, message);
    }
  }
  out += absl::StrFormat("\nVerified %d answers against the engine: %d wrong\n",
                         verified, mismatches);
  return out;
}

std::string BenchReport::Json() const {
  auto ns = [](absl::Duration d) { return absl::ToInt64Nanoseconds(d); };
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) {
      if (c == '"' || c == '\\') q += '\\';
      if (static_cast<unsigned char>(c) < 0x20) {
        q += absl::StrFormat("\\u%04x", c);
        continue;
      }
      q += c;
    }
    return q + "\"";
  };
  std::vector<std::string> distribution;
  for (double p : kPercentiles) {
    distribution.push_back(absl::StrFormat("{\"percentage\":%g,\"latency\":%d}",
                                           p, ns(Percentile(latencies, p))));
  }
  std::vector<std::string> histogram;
  for (const Bucket& bucket : Histogram()) {
    histogram.push_back(
        absl::StrFormat("{\"mark\":%.9f,\"count\":%d,\"frequency\":%.6f}",
                        absl::ToDoubleSeconds(bucket.mark), bucket.count,
                        static_cast<double>(bucket.count) / count));
  }
  std::vector<std::string> codes, errs;
  for (const auto& [k, v] : status_codes)
    codes.push_back(quote(k) + ":" + absl::StrCat(v));
  for (const auto& [k, v] : errors)
    errs.push_back(quote(k) + ":" + absl::StrCat(v));
  return absl::StrFormat(
      "{\"count\":%d,\"total\":%d,\"average\":%d,\"fastest\":%d,"
      "\"slowest\":%d,\"rps\":%.3f,\"mbps\":%.3f,\"histogram\":[%s],"
      "\"latencyDistribution\":[%s],"
      "\"statusCodeDistribution\":{%s},\"errorDistribution\":{%s},"
      "\"verified\":%d,\"mismatches\":%d}",
      count, ns(total), ns(average), ns(fastest), ns(slowest), rps, mbps,
      absl::StrJoin(histogram, ","), absl::StrJoin(distribution, ","),
      absl::StrJoin(codes, ","), absl::StrJoin(errs, ","), verified,
      mismatches);
}

}  // namespace activation::cli
