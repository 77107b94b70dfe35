// Scrapes /metrics over HTTP after a known mix of calls and checks exact
// values: every path (OK, each error, rejection, auth failure, deadline,
// cancellation) counted once, in one place.

#include "server/metrics.h"

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "activation/v1/activation.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/http.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/test_server.h"

namespace activation::server {
namespace {

using ::activation::testing::Connect;
using ::activation::testing::Float32Tensor;
using ::activation::testing::HttpGet;
using ::activation::testing::ParseSamples;
using ::activation::testing::StartServer;

constexpr char kToken[] = "t0ken";

std::string Series(const std::string& name, const std::string& method,
                   const std::string& type, const std::string& code = "") {
  std::string labels;
  if (!code.empty()) labels = "grpc_code=\"" + code + "\",";
  return name + "{" + labels + "grpc_method=\"" + method +
         "\",grpc_service=\"activation.v1.ActivationService\",grpc_type=\"" +
         type + "\"}";
}

// One server for the test: metrics on, a token, and one call in flight at most.
class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.metrics_address = "127.0.0.1:0";
    options.auth_token = kToken;
    options.max_inflight = 1;
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(server_->metrics_port(), 0);
    stub_ = v1::ActivationService::NewStub(Connect(server_->port()));
  }

  void Authorize(grpc::ClientContext& context) {
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  }

  grpc::StatusCode Relu(const v1::ReluRequest& request, bool token = true) {
    grpc::ClientContext context;
    if (token) Authorize(context);
    v1::ReluResponse response;
    return stub_->Relu(&context, request, &response).error_code();
  }

  // Scrapes until `done` holds for the samples or 5 s pass. The server
  // records a stream's end when gRPC reports the call done, which can be
  // after the client has seen it end, and a scrape can fall between the
  // updates of two families.
  template <typename Predicate>
  std::map<std::string, double> ScrapeUntil(const Predicate& done) {
    std::map<std::string, double> m = Scrape();
    for (int i = 0; i < 100 && !done(m); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      m = Scrape();
    }
    return m;
  }

  std::map<std::string, double> Scrape() {
    absl::StatusOr<std::string> text =
        HttpGet(server_->metrics_port(), "/metrics");
    EXPECT_TRUE(text.ok()) << text.status();
    return text.ok() ? ParseSamples(*text) : std::map<std::string, double>();
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::ActivationService::Stub> stub_;
};

v1::ReluRequest Request(int elements, bool valid = true) {
  v1::ReluRequest request;
  *request.mutable_input() = Float32Tensor(std::vector<float>(elements, -1.0f));
  if (!valid) request.mutable_params()->set_max_value(-1);
  return request;
}

TEST_F(MetricsTest, KnownMixOfCallsGivesExactCounts) {
  // Unary: 3 OK (4 elements each), 2 INVALID_ARGUMENT (5 elements each),
  // 1 UNAUTHENTICATED, and below 1 RESOURCE_EXHAUSTED.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Relu(Request(4)), grpc::StatusCode::OK);
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Relu(Request(5, false)), grpc::StatusCode::INVALID_ARGUMENT);
  }
  ASSERT_EQ(Relu(Request(4), /*token=*/false),
            grpc::StatusCode::UNAUTHENTICATED);

  // Streams: one of 4 OK messages (2 elements each); one of 2 OK messages
  // and a bad third.
  {
    grpc::ClientContext context;
    Authorize(context);
    auto stream = stub_->ReluStream(&context);
    v1::ReluResponse response;
    for (int i = 0; i < 4; ++i) {
      ASSERT_TRUE(stream->Write(Request(2)));
      ASSERT_TRUE(stream->Read(&response));
    }
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  {
    grpc::ClientContext context;
    Authorize(context);
    auto stream = stub_->ReluStream(&context);
    v1::ReluResponse response;
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(stream->Write(Request(2)));
      ASSERT_TRUE(stream->Read(&response));
    }
    stream->Write(Request(2, false));
    EXPECT_FALSE(stream->Read(&response));
    ASSERT_EQ(stream->Finish().error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Over --max_inflight=1 while a stream holds the slot.
  {
    grpc::ClientContext context;
    Authorize(context);
    auto stream = stub_->ReluStream(&context);
    v1::ReluResponse response;
    ASSERT_TRUE(stream->Write(Request(2)));
    ASSERT_TRUE(stream->Read(&response));
    ASSERT_EQ(Relu(Request(4)), grpc::StatusCode::RESOURCE_EXHAUSTED);
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }

  const std::string unary = "unary";
  const std::string bidi = "bidi_stream";
  // Unary calls are recorded before their status is sent; a stream that
  // ends by the client's half-close is recorded when gRPC reports it done.
  std::map<std::string, double> m =
      ScrapeUntil([&](std::map<std::string, double>& m) {
        return m[Series("grpc_server_handling_seconds_count", "ReluStream",
                        bidi)] >= 3 &&
               m[Series("grpc_server_handled_total", "ReluStream", bidi,
                        "OK")] >= 2;
      });
  EXPECT_EQ(m[Series("grpc_server_started_total", "Relu", unary)], 7);
  EXPECT_EQ(m[Series("grpc_server_handled_total", "Relu", unary, "OK")], 3);
  EXPECT_EQ(
      m[Series("grpc_server_handled_total", "Relu", unary, "InvalidArgument")],
      2);
  EXPECT_EQ(
      m[Series("grpc_server_handled_total", "Relu", unary, "Unauthenticated")],
      1);
  EXPECT_EQ(m[Series("grpc_server_handled_total", "Relu", unary,
                     "ResourceExhausted")],
            1);
  EXPECT_EQ(m[Series("grpc_server_handling_seconds_count", "Relu", unary)], 7);
  EXPECT_EQ(m[Series("grpc_server_msg_received_total", "Relu", unary)], 7);
  EXPECT_EQ(m[Series("grpc_server_msg_sent_total", "Relu", unary)], 3);

  EXPECT_EQ(m[Series("grpc_server_started_total", "ReluStream", bidi)], 3);
  EXPECT_EQ(m[Series("grpc_server_handled_total", "ReluStream", bidi, "OK")],
            2);
  EXPECT_EQ(m[Series("grpc_server_handled_total", "ReluStream", bidi,
                     "InvalidArgument")],
            1);
  EXPECT_EQ(m[Series("grpc_server_msg_received_total", "ReluStream", bidi)], 8);
  EXPECT_EQ(m[Series("grpc_server_msg_sent_total", "ReluStream", bidi)], 7);
  EXPECT_EQ(m[Series("grpc_server_handling_seconds_count", "ReluStream", bidi)],
            3);

  // Elements computed and returned: 3*4 unary + (4+2+1)*2 in streams.
  EXPECT_EQ(m["activation_elements_total{dtype=\"FLOAT32\"}"], 26);
  // Engine runs, including the failed compute-free ones? No: only decoded
  // requests reach the engine: 3 unary + 7 stream messages.
  EXPECT_EQ(m["activation_compute_seconds_count{dtype=\"FLOAT32\"}"], 10);
  // Payload bytes: received = every decoded message's tensor, 4 bytes each
  // element: unary 3*4 + 2*5 + 1*4 (unauthenticated) + 1*4 (rejected) and
  // streams 4*2 + 3*2 + 1*2.
  EXPECT_EQ(m["activation_payload_bytes_total{direction=\"received\"}"],
            4 * (12 + 10 + 4 + 4 + 8 + 6 + 2));
  EXPECT_EQ(m["activation_payload_bytes_total{direction=\"sent\"}"],
            4 * (12 + 8 + 4 + 2));
  EXPECT_EQ(m["activation_rejected_total{reason=\"unauthenticated\"}"], 1);
  EXPECT_EQ(m["activation_rejected_total{reason=\"max_inflight\"}"], 1);
  EXPECT_EQ(m["activation_rejected_total{reason=\"draining\"}"], 0);
  EXPECT_EQ(m["activation_inflight_requests"], 0);
  EXPECT_EQ(m["activation_build_info{git_sha=\"" + server_->info().git_sha() +
              "\",version=\"0.1.0\"}"],
            1);
  EXPECT_GT(m["process_resident_memory_bytes"], 1e6);
  EXPECT_GT(m["process_open_fds"], 3);
  EXPECT_GT(m["process_start_time_seconds"], 1.7e9);
  EXPECT_GE(m["process_cpu_seconds_total"], 0);
}

// Streams the client gives up on: one whose deadline passes while the server
// waits for its next message, one the client cancels. Each is counted once,
// as DEADLINE_EXCEEDED and CANCELLED, and frees its in-flight slot.
TEST_F(MetricsTest, StreamsEndedByDeadlineOrCancellationAreCountedOnce) {
  const std::string bidi = "bidi_stream";
  auto handled = [&](const std::map<std::string, double>& m,
                     const std::string& code) {
    auto it =
        m.find(Series("grpc_server_handled_total", "ReluStream", bidi, code));
    return it == m.end() ? 0.0 : it->second;
  };
  const std::string started =
      Series("grpc_server_started_total", "ReluStream", bidi);
  const std::string ended =
      Series("grpc_server_handling_seconds_count", "ReluStream", bidi);
  v1::ReluResponse response;
  // Connected first, so that the deadline below only has to cover the calls.
  ASSERT_EQ(Relu(Request(4)), grpc::StatusCode::OK);
  {
    grpc::ClientContext context;
    Authorize(context);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(1000));
    auto stream = stub_->ReluStream(&context);
    ASSERT_TRUE(stream->Write(Request(2)));
    ASSERT_TRUE(stream->Read(&response));
    EXPECT_FALSE(stream->Read(&response));  // waits out the deadline
    EXPECT_EQ(stream->Finish().error_code(),
              grpc::StatusCode::DEADLINE_EXCEEDED);
  }
  auto ended_with_code = [&](double n) {
    return [&, n](std::map<std::string, double>& m) {
      return m[ended] >= n && handled(m, "OK") + handled(m, "Canceled") +
                                      handled(m, "DeadlineExceeded") >=
                                  n;
    };
  };
  std::map<std::string, double> m = ScrapeUntil(ended_with_code(1));
  EXPECT_EQ(m[ended], 1);
  EXPECT_EQ(handled(m, "DeadlineExceeded"), 1);
  {
    grpc::ClientContext context;
    Authorize(context);
    auto stream = stub_->ReluStream(&context);
    ASSERT_TRUE(stream->Write(Request(2)));
    ASSERT_TRUE(stream->Read(&response));
    context.TryCancel();
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::CANCELLED);
  }
  m = ScrapeUntil(ended_with_code(2));
  EXPECT_EQ(m[started], 2);
  EXPECT_EQ(m[ended], 2);
  EXPECT_EQ(handled(m, "OK"), 0);
  EXPECT_EQ(handled(m, "DeadlineExceeded"), 1);
  EXPECT_EQ(handled(m, "Canceled"), 1);

  EXPECT_EQ(m["activation_inflight_requests"], 0);
  // The slot (--max_inflight=1) is free again.
  EXPECT_EQ(Relu(Request(4)), grpc::StatusCode::OK);
}

TEST_F(MetricsTest, HistogramBucketsSpan25MicrosecondsTo30Seconds) {
  ASSERT_EQ(Relu(Request(4)), grpc::StatusCode::OK);
  absl::StatusOr<std::string> text =
      HttpGet(server_->metrics_port(), "/metrics");
  ASSERT_TRUE(text.ok());
  const std::string first_bucket =
      "grpc_server_handling_seconds_bucket{grpc_method=\"Relu\",grpc_service="
      "\"activation.v1.ActivationService\",grpc_type=\"unary\",le=\"2.5e-05\"}";
  const std::string last_bucket =
      "grpc_server_handling_seconds_bucket{grpc_method=\"Relu\",grpc_service="
      "\"activation.v1.ActivationService\",grpc_type=\"unary\",le=\"30\"}";
  std::map<std::string, double> m = ParseSamples(*text);
  EXPECT_TRUE(m.count(first_bucket)) << *text;
  EXPECT_EQ(m[last_bucket], 1);
}

TEST(MetricsOffTest, NoMetricsAddressMeansNoMetrics) {
  auto server = StartServer(ServerOptions());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->metrics(), nullptr);
  EXPECT_EQ(server->metrics_port(), 0);
}

}  // namespace
}  // namespace activation::server
