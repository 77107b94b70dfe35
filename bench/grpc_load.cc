// A closed-loop load generator for comparing server configurations: keeps
// --concurrency unary Relu calls in flight over --connections connections
// for --duration, from one client thread, and prints calls/s and latency.
//
//   build/bench/grpc_load --target=127.0.0.1:50051 --duration=5s
//
// (activation_client bench is the full-featured tool; this one is small and
// fixed so that runs compare the server, not the client.)

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/time/time.h"
#include "activation/v1/activation.grpc.pb.h"
#include "grpcpp/grpcpp.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "server address");
ABSL_FLAG(int, concurrency, 32, "calls in flight");
ABSL_FLAG(int, connections, 2, "TCP connections");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(5), "how long to run");
ABSL_FLAG(int, elements, 16, "FLOAT32 elements per request");
ABSL_FLAG(int64_t, calls, 0,
          "stop after this many calls (0: run for --duration instead)");

namespace {

using Clock = std::chrono::steady_clock;

struct Call {
  grpc::ClientContext context;
  activation::v1::ReluResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReader<activation::v1::ReluResponse>>
      reader;
  Clock::time_point start;
  int connection = 0;
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int connections = absl::GetFlag(FLAGS_connections);
  std::vector<std::unique_ptr<activation::v1::ActivationService::Stub>> stubs;
  for (int i = 0; i < connections; ++i) {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // own connection
    stubs.push_back(activation::v1::ActivationService::NewStub(
        grpc::CreateCustomChannel(absl::GetFlag(FLAGS_target),
                                  grpc::InsecureChannelCredentials(), args)));
  }
  activation::v1::ReluRequest request;
  request.mutable_input()->set_dtype(activation::v1::DATA_TYPE_FLOAT32);
  const int elements = absl::GetFlag(FLAGS_elements);
  request.mutable_input()->add_shape(elements);
  std::vector<float> values(elements);
  for (int i = 0; i < elements; ++i) values[i] = static_cast<float>(i % 7) - 3;
  request.mutable_input()->set_raw_data(values.data(), values.size() * 4);

  grpc::CompletionQueue cq;
  auto start_call = [&](int connection) {
    auto* call = new Call;
    call->connection = connection;
    call->start = Clock::now();
    call->reader = stubs[connection]->AsyncRelu(&call->context, request, &cq);
    call->reader->Finish(&call->response, &call->status, call);
  };
  const int64_t max_calls = absl::GetFlag(FLAGS_calls);
  const auto end = max_calls > 0
                       ? Clock::time_point::max()
                       : Clock::now() + absl::ToChronoNanoseconds(
                                            absl::GetFlag(FLAGS_duration));
  int64_t started = absl::GetFlag(FLAGS_concurrency);
  // Warm up the connections, then measure.
  for (int i = 0; i < absl::GetFlag(FLAGS_concurrency); ++i) {
    start_call(i % connections);
  }
  std::vector<double> latencies_us;
  int64_t errors = 0;
  int in_flight = absl::GetFlag(FLAGS_concurrency);
  const auto measure_start = Clock::now();
  void* tag;
  bool ok;
  while (in_flight > 0 && cq.Next(&tag, &ok)) {
    auto* call = static_cast<Call*>(tag);
    const auto now = Clock::now();
    if (call->status.ok()) {
      latencies_us.push_back(
          std::chrono::duration<double, std::micro>(now - call->start).count());
    } else {
      ++errors;
    }
    const int connection = call->connection;
    delete call;
    --in_flight;
    if (now < end && (max_calls == 0 || started < max_calls)) {
      start_call(connection);
      ++in_flight;
      ++started;
    }
  }
  const double seconds =
      std::chrono::duration<double>(Clock::now() - measure_start).count();
  std::sort(latencies_us.begin(), latencies_us.end());
  auto pct = [&](double p) {
    return latencies_us.empty() ? 0.0
                                : latencies_us[static_cast<size_t>(
                                      p * (latencies_us.size() - 1))];
  };
  std::printf(
      "calls %zu errors %lld seconds %.2f calls_per_s %.0f p50_us %.0f "
      "p90_us %.0f p99_us %.0f\n",
      latencies_us.size(), static_cast<long long>(errors), seconds,
      latencies_us.size() / seconds, pct(0.5), pct(0.9), pct(0.99));
  return errors == 0 ? 0 : 1;
}
