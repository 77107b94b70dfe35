// Scrapes /metrics over HTTP after a known mix of calls and checks exact
// values: every path (OK, each error, rejection, auth failure, deadline,
// cancellation) counted once, in one place.

#include "server/metrics.h"

#include <chrono>
#include <future>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "activation/v1/activation.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
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
using ::activation::testing::WaitForInflight;

constexpr char kToken[] = "t0ken";

std::string Series(const std::string& name, const std::string& method,
                   const std::string& type, const std::string& code = "") {
  std::string labels;
  if (!code.empty()) labels = "grpc_code=\"" + code + "\",";
  return name + "{" + labels + "grpc_method=\"" + method +
         "\",grpc_service=\"activation.v1.ActivationService\",grpc_type=\"" +
         type + "\"}";
}

// INT16 -1s, `elements` of them, with a negative slope: one of the engine's
// slower paths (see cancellation_test), ~120 ms for kHeld on one engine
// thread.
v1::ReluRequest Int16Request(size_t elements) {
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_INT16);
  request.mutable_input()->add_shape(static_cast<int64_t>(elements));
  request.mutable_input()->set_raw_data(std::string(2 * elements, '\xff'));
  request.mutable_params()->set_negative_slope(0.5);
  return request;
}

constexpr size_t kHeld = size_t{128} << 20;  // 256 MiB

// One server for the test: metrics on, a token, and one call in flight at most.
class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.metrics_address = "127.0.0.1:0";
    options.auth_token = kToken;
    options.allow_insecure_token = true;  // plaintext loopback
    options.max_inflight = 1;
    // One engine thread and room for kHeld: a computation that lasts.
    options.engine_threads = 1;
    options.max_message_bytes = 2 * kHeld + (1 << 20);
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(server_->metrics_port(), 0);
    stub_ = v1::ActivationService::NewStub(
        Connect(server_->port(), grpc::InsecureChannelCredentials(),
                2 * kHeld + (1 << 20)));
  }

  void Authorize(grpc::ClientContext& context) {
    context.AddMetadata("authorization", std::string("Bearer ") + kToken);
  }

  // Calls Relu once the one slot is free: a call's admission lasts until
  // gRPC is done with it, which can be a moment after its client has the
  // answer, so a call right after another could find the slot still held.
  // Waiting on the gauge (bounded) keeps the counts exact; a retry would add
  // a refusal to them.
  grpc::StatusCode Relu(const v1::ReluRequest& request, bool token = true) {
    EXPECT_TRUE(WaitForInflight(*server_, 0, std::chrono::seconds(5)));
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
  // and a bad third; and below, one of an INT16 message of kHeld elements.
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
  // Over --max_inflight=1 while a stream's message holds the slot: the
  // computation of kHeld elements, which lasts ~120 ms; the refused call
  // comes within a few ms of the gauge showing it.
  {
    grpc::ClientContext context;
    Authorize(context);
    auto stream = stub_->ReluStream(&context);
    v1::ReluResponse response;
    ASSERT_TRUE(stream->Write(Int16Request(kHeld)));
    ASSERT_TRUE(WaitForInflight(*server_, 1));
    grpc::ClientContext refused_context;
    Authorize(refused_context);
    ASSERT_EQ(stub_->Relu(&refused_context, Request(4), &response).error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
    ASSERT_TRUE(stream->Read(&response));
    ASSERT_EQ(response.output().raw_data().size(), 2 * kHeld);
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

  // Elements computed and returned: 3*4 unary + (4+2)*2 in streams, and the
  // INT16 message.
  EXPECT_EQ(m["activation_elements_total{dtype=\"FLOAT32\"}"], 24);
  EXPECT_EQ(m["activation_elements_total{dtype=\"INT16\"}"], kHeld);
  // Engine runs, including the failed compute-free ones? No: only decoded
  // requests reach the engine: 3 unary + 6 FLOAT32 stream messages, and the
  // INT16 one.
  EXPECT_EQ(m["activation_compute_seconds_count{dtype=\"FLOAT32\"}"], 9);
  EXPECT_EQ(m["activation_compute_seconds_count{dtype=\"INT16\"}"], 1);
  // Payload bytes: received = every decoded message's tensor, 4 bytes each
  // FLOAT32 element: unary 3*4 + 2*5 + 1*4 (rejected) and streams 4*2 +
  // 3*2; plus the INT16 message, 2 bytes each. The unauthenticated call is
  // refused before its message is parsed: none of its bytes.
  EXPECT_EQ(m["activation_payload_bytes_total{direction=\"received\"}"],
            4 * (12 + 10 + 4 + 8 + 6) + 2 * kHeld);
  EXPECT_EQ(m["activation_payload_bytes_total{direction=\"sent\"}"],
            4 * (12 + 8 + 4) + 2 * kHeld);
  EXPECT_EQ(m["activation_rejected_total{reason=\"unauthenticated\"}"], 1);
  EXPECT_EQ(m["activation_rejected_total{reason=\"max_inflight\"}"], 1);
  EXPECT_EQ(m["activation_rejected_total{reason=\"draining\"}"], 0);
  EXPECT_EQ(m["activation_rejected_total{reason=\"max_memory\"}"], 0);
  // The last stream's slot is freed when its answer's write is done.
  m = ScrapeUntil([](std::map<std::string, double>& m) {
    return m["activation_inflight_requests"] == 0;
  });
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

// Bytes that are not a ReluRequest are answered INVALID_ARGUMENT and
// counted as such (received, no payload, no compute).
TEST_F(MetricsTest, MalformedBytesAreCountedAsInvalidArgument) {
  grpc::GenericStub stub(Connect(server_->port()));
  grpc::ClientContext context;
  Authorize(context);
  grpc::Slice slice(std::string("\xff\xff\xff", 3));
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, "/activation.v1.ActivationService/Relu",
                 grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(status); });
  const grpc::Status status = done.get_future().get();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "the message (3 bytes) is not an activation.v1.ReluRequest");
  const std::string unary = "unary";
  std::map<std::string, double> m = Scrape();
  EXPECT_EQ(m[Series("grpc_server_started_total", "Relu", unary)], 1);
  EXPECT_EQ(
      m[Series("grpc_server_handled_total", "Relu", unary, "InvalidArgument")],
      1);
  EXPECT_EQ(m[Series("grpc_server_msg_received_total", "Relu", unary)], 1);
  EXPECT_EQ(m[Series("grpc_server_msg_sent_total", "Relu", unary)], 0);
  EXPECT_EQ(m["activation_payload_bytes_total{direction=\"received\"}"], 0);
}

// A call bigger than the whole memory budget is refused, counted under
// reason "max_memory". With max_message_bytes 128 KiB and the smallest
// max_memory (2 * 128 KiB + 16 KiB), calls get half: 139264 bytes; 16384
// FLOAT32 elements need 2 * 65536 + 16 KiB = 147456.
TEST(MetricsMemoryTest, CallOverTheMemoryBudgetIsCountedAsMaxMemory) {
  ServerOptions options;
  options.metrics_address = "127.0.0.1:0";
  options.max_message_bytes = 128 << 10;
  options.max_memory_bytes = 2 * (128 << 10) + (16 << 10);
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  auto stub = v1::ActivationService::NewStub(Connect(server->port()));
  grpc::ClientContext context;
  v1::ReluResponse response;
  const grpc::Status status = stub->Relu(&context, Request(16384), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "this call needs 147456 bytes of server memory, more than all "
            "139264 the server has for calls (--max_memory)");
  grpc::ClientContext small_context;
  EXPECT_TRUE(stub->Relu(&small_context, Request(1000), &response).ok());
  std::map<std::string, double> m = ParseSamples(server->metrics()->Scrape());
  EXPECT_EQ(m["activation_rejected_total{reason=\"max_memory\"}"], 1);
  EXPECT_EQ(m["activation_rejected_total{reason=\"max_inflight\"}"], 0);
  EXPECT_EQ(m[Series("grpc_server_handled_total", "Relu", "unary",
                     "ResourceExhausted")],
            1);
}

TEST(MetricsOffTest, NoMetricsAddressMeansNoMetrics) {
  auto server = StartServer(ServerOptions());
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->metrics(), nullptr);
  EXPECT_EQ(server->metrics_port(), 0);
}

}  // namespace
}  // namespace activation::server
