// The load generator against a real server on loopback: its counts and
// status names agree with the server's metrics.

#include "client/cli/bench.h"

#include <algorithm>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "activation/v1/activation.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/server.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace activation::cli {
namespace {

using ::activation::testing::ParseSamples;
using ::activation::testing::StartServer;
using ::activation::testing::StatusIs;
using ::testing::HasSubstr;

TEST(BenchTest, CountsAndStatusesEqualTheServersMetrics) {
  server::ServerOptions server_options;
  server_options.metrics_address = "127.0.0.1:0";
  server_options.max_inflight = 2;  // some calls get RESOURCE_EXHAUSTED
  auto server = StartServer(server_options);
  ASSERT_NE(server, nullptr);
  BenchOptions options;
  options.concurrency = 8;
  options.total = 400;
  options.shape = {256};
  options.verify_every = 1;
  ClientOptions client_options;
  client_options.retry_unavailable = false;  // count every refusal
  absl::StatusOr<BenchReport> report = RunBench(
      absl::StrCat("127.0.0.1:", server->port()), client_options, options);

  ASSERT_OK(report);
  EXPECT_EQ(report->count, 400);
  EXPECT_EQ(report->mismatches, 0);
  const int64_t ok = report->status_codes["OK"];
  EXPECT_EQ(report->verified, ok);
  std::map<std::string, double> m = ParseSamples(server->metrics()->Scrape());
  auto handled = [&](const char* code) {
    return m[absl::StrCat("grpc_server_handled_total{grpc_code=\"", code,
                          "\",grpc_method=\"Relu\",grpc_service=\"activation."
                          "v1.ActivationService\",grpc_type=\"unary\"}")];
  };
  EXPECT_EQ(handled("OK"), ok);
  EXPECT_EQ(handled("ResourceExhausted"),
            report->status_codes["ResourceExhausted"]);
  EXPECT_EQ(ok + report->status_codes["ResourceExhausted"], 400);
  const std::string summary = report->Summary();
  for (const char* part :
       {"Summary:", "Count:\t400", "Requests/sec:", "Latency distribution:",
        "99.9 % in", "Status code distribution:", "[OK]"}) {
    EXPECT_THAT(summary, HasSubstr(part));
  }
  EXPECT_THAT(report->Json(), HasSubstr("\"count\":400"));
}

TEST(BenchTest, StreamModeCountsEveryMessage) {
  server::ServerOptions server_options;
  server_options.metrics_address = "127.0.0.1:0";
  auto server = StartServer(server_options);
  ASSERT_NE(server, nullptr);
  int64_t received = 0;
  for (int window : {1, 8}) {
    SCOPED_TRACE(absl::StrCat("window ", window));
    BenchOptions options;
    options.concurrency = 4;
    options.total = 203;
    options.stream = true;
    options.stream_window = window;
    options.float_data = true;
    options.verify_every = 1;
    absl::StatusOr<BenchReport> report = RunBench(
        absl::StrCat("127.0.0.1:", server->port()), ClientOptions(), options);
    ASSERT_OK(report);
    EXPECT_EQ(report->count, 203);
    EXPECT_EQ(report->status_codes["OK"], 203);
    EXPECT_EQ(report->verified, 203);
    EXPECT_EQ(report->mismatches, 0);
    received += 203;
    std::map<std::string, double> m = ParseSamples(server->metrics()->Scrape());
    EXPECT_EQ(m["grpc_server_msg_received_total{grpc_method=\"ReluStream\","
                "grpc_service=\"activation.v1.ActivationService\",grpc_type="
                "\"bidi_stream\"}"],
              received);
  }
}

// A ReluStream that answers only once kBatch messages (or the client's
// half-close) have arrived, echoing each request's tensor, and records the
// most messages it ever held unanswered.
class BatchingService final : public v1::ActivationService::Service {
 public:
  static constexpr int kBatch = 8;

  grpc::Status ReluStream(
      grpc::ServerContext* /*context*/,
      grpc::ServerReaderWriter<v1::ReluResponse, v1::ReluRequest>* stream)
      override {
    std::vector<v1::ReluRequest> held;
    v1::ReluRequest request;
    bool open = true;
    while (open) {
      open = stream->Read(&request);
      if (open) held.push_back(request);
      {
        absl::MutexLock lock(&mu_);
        most_held_ = std::max(most_held_, static_cast<int>(held.size()));
      }
      if (open && held.size() < kBatch) continue;
      for (const v1::ReluRequest& r : held) {
        v1::ReluResponse response;
        *response.mutable_output() = r.input();
        if (!stream->Write(response)) return grpc::Status::OK;
      }
      held.clear();
    }
    return grpc::Status::OK;
  }

  int most_held() {
    absl::MutexLock lock(&mu_);
    return most_held_;
  }

 private:
  absl::Mutex mu_;
  int most_held_ ABSL_GUARDED_BY(mu_) = 0;
};

// With --stream_window 8 a stream has 8 messages in flight, never more: a
// server that answers only in batches of 8 serves the whole run.
TEST(BenchTest, StreamWindowKeepsThatManyMessagesInFlight) {
  BatchingService service;
  int port = 0;
  std::unique_ptr<grpc::Server> server =
      grpc::ServerBuilder()
          .AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                            &port)
          .RegisterService(&service)
          .BuildAndStart();
  ASSERT_NE(server, nullptr);
  BenchOptions options;
  options.concurrency = 2;
  options.total = 160;  // 10 batches per stream
  options.stream = true;
  options.stream_window = BatchingService::kBatch;
  options.verify_every = 0;
  auto run = std::async(std::launch::async, [&] {
    return RunBench(absl::StrCat("127.0.0.1:", port), ClientOptions(), options);
  });
  // A client that kept fewer in flight would wait for answers forever: end
  // the streams then, so that the test fails rather than hangs.
  if (run.wait_for(std::chrono::seconds(30)) != std::future_status::ready) {
    ADD_FAILURE() << "the run stalled: fewer than " << BatchingService::kBatch
                  << " messages in flight";
    server->Shutdown(std::chrono::system_clock::now());
  }
  absl::StatusOr<BenchReport> report = run.get();
  ASSERT_OK(report);
  EXPECT_EQ(report->status_codes,
            (std::map<std::string, int64_t>{{"OK", 160}}));
  EXPECT_EQ(service.most_held(), BatchingService::kBatch);
  server->Shutdown();
}

TEST(BenchTest, StreamWindowMustBePositive) {
  BenchOptions options;
  options.stream = true;
  options.stream_window = 0;
  EXPECT_THAT(RunBench("127.0.0.1:1", ClientOptions(), options).status(),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "--stream_window must be > 0, got 0"));
}

TEST(BenchTest, OipProtocolCallsModelInferAndModelStreamInfer) {
  server::ServerOptions server_options;
  server_options.metrics_address = "127.0.0.1:0";
  auto server = StartServer(server_options);
  ASSERT_NE(server, nullptr);
  BenchOptions options;
  options.protocol = BenchOptions::Protocol::kOip;
  options.concurrency = 4;
  options.total = 100;
  options.dtype = core::DataType::kBFloat16;
  options.shape = {8, 8};
  options.params.max_value = 1.5;
  options.params.negative_slope = 0.25;
  options.verify_every = 1;
  for (bool stream : {false, true}) {
    options.stream = stream;
    absl::StatusOr<BenchReport> report = RunBench(
        absl::StrCat("127.0.0.1:", server->port()), ClientOptions(), options);
    ASSERT_OK(report);
    EXPECT_EQ(report->status_codes["OK"], 100) << stream;
    EXPECT_EQ(report->verified, 100) << stream;
    EXPECT_EQ(report->mismatches, 0) << stream;
  }
  std::map<std::string, double> m = ParseSamples(server->metrics()->Scrape());
  EXPECT_EQ(m["grpc_server_handled_total{grpc_code=\"OK\",grpc_method="
              "\"ModelInfer\",grpc_service=\"inference.GRPCInferenceService"
              "\",grpc_type=\"unary\"}"],
            100);
  EXPECT_EQ(m["grpc_server_msg_received_total{grpc_method="
              "\"ModelStreamInfer\",grpc_service=\"inference."
              "GRPCInferenceService\",grpc_type=\"bidi_stream\"}"],
            100);
  EXPECT_EQ(m["activation_elements_total{dtype=\"BFLOAT16\"}"], 200 * 64);
}

// Failed calls, and the messages of a refused stream (each counted with
// the stream's status, the worker opening another until the run is over).
TEST(BenchTest, FailedCallsAreNamedAsGhzNamesThem) {
  server::ServerOptions server_options;
  server_options.auth_token = "s3cret";
  server_options.allow_insecure_token = true;  // plaintext loopback
  auto server = StartServer(server_options);
  ASSERT_NE(server, nullptr);
  for (bool stream : {false, true}) {
    SCOPED_TRACE(stream ? "stream" : "unary");
    BenchOptions options;
    options.concurrency = 2;
    options.total = 10;
    options.stream = stream;
    options.stream_window = 4;
    ClientOptions client_options;
    client_options.retry_unavailable = false;
    client_options.token = "wrong";
    absl::StatusOr<BenchReport> report = RunBench(
        absl::StrCat("127.0.0.1:", server->port()), client_options, options);
    ASSERT_OK(report);
    EXPECT_EQ(report->count, 10);
    EXPECT_EQ(report->status_codes,
              (std::map<std::string, int64_t>{{"Unauthenticated", 10}}));
    ASSERT_EQ(report->errors.size(), 1u);
    EXPECT_THAT(
        report->errors.begin()->first,
        ::testing::StartsWith("rpc error: code = Unauthenticated desc = "));
    EXPECT_EQ(report->errors.begin()->second, 10);
  }
}

}  // namespace
}  // namespace activation::cli
