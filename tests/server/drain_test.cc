// End to end, Server::Shutdown: health turns NOT_SERVING, new calls are
// refused saying why (for drain_delay at least), computations in flight
// finish (or are cancelled at the grace deadline), idle streams end at once,
// and every caller of Shutdown returns only once the server has stopped.
//
// A call "in flight" here is a stream message whose 16 MiB answer the client
// has not read: the answer holds its bytes of the memory budget until it is
// written, which flow control holds back until the client reads (see
// contract_test), and the drain waits for those bytes as for computations.

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "activation/v1/activation.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/http.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace activation::server {
namespace {

using ::activation::testing::CallRelu;
using ::activation::testing::Connect;
using ::activation::testing::Float32Request;
using ::activation::testing::Float32Values;
using ::activation::testing::HeldBytes;
using ::activation::testing::HttpGet;
using ::activation::testing::StartServer;
using ::activation::testing::StatusIs;
using ::activation::testing::WaitFor;
using ::activation::testing::WaitForUnsentAnswer;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::Each;
using ::testing::ElementsAre;
using Clock = std::chrono::steady_clock;

constexpr char kService[] = "activation.v1.ActivationService";
constexpr int kUnreadFloats = 4
                              << 20;  // 16 MiB: more than flow control lets by

using Stream = grpc::ClientReaderWriter<v1::ReluRequest, v1::ReluResponse>;

class DrainTest : public ::testing::Test {
 protected:
  // With `metrics`, tests can read the in-flight gauge; but stopping the
  // metrics endpoint (civetweb) can take up to its 2 s poll quantum, so tests
  // that time Shutdown run without.
  void Start(absl::Duration shutdown_grace = absl::Seconds(20),
             bool metrics = true,
             absl::Duration drain_delay = absl::ZeroDuration()) {
    ServerOptions options;
    options.shutdown_grace = shutdown_grace;
    options.drain_delay = drain_delay;
    if (metrics) options.metrics_address = "127.0.0.1:0";
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->port());
    stub_ = v1::ActivationService::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  // Opens a ReluStream and has one message answered: the stream is open and
  // idle, holding no admission.
  std::unique_ptr<Stream> OpenIdleStream(grpc::ClientContext& context) {
    auto stream = stub_->ReluStream(&context);
    v1::ReluResponse response;
    EXPECT_TRUE(stream->Write(Float32Request({-1.0f})));
    EXPECT_TRUE(stream->Read(&response));
    EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f));
    return stream;
  }

  // Opens a ReluStream with a message in flight: computed, its answer not
  // read, so it holds its bytes until ReadBigAnswer.
  std::unique_ptr<Stream> OpenStreamMidMessage(grpc::ClientContext& context) {
    auto stream = stub_->ReluStream(&context);
    EXPECT_TRUE(
        stream->Write(Float32Request(std::vector<float>(kUnreadFloats, 5.0f))));
    EXPECT_TRUE(WaitForUnsentAnswer(*server_));
    return stream;
  }

  // Reads the answer OpenStreamMidMessage's message gets; true if it came
  // whole and right.
  static bool ReadBigAnswer(Stream& stream) {
    v1::ReluResponse response;
    if (!stream.Read(&response)) return false;
    EXPECT_EQ(response.output().raw_data().size(),
              sizeof(float) * kUnreadFloats);
    EXPECT_THAT(Float32Values(response.output()), Each(5.0f));
    return true;
  }

  // Returns what a health Check of `service` says; fails the test if the
  // call fails.
  HealthCheckResponse::ServingStatus Check(const std::string& service) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    const grpc::Status status = health_->Check(&context, request, &response);
    EXPECT_TRUE(status.ok()) << service << ": " << status.error_message();
    return response.status();
  }

  std::future<void> ShutdownInBackground() {
    return std::async(std::launch::async, [this] { server_->Shutdown(); });
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ActivationService::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(DrainTest, DrainTurnsHealthNotServingLetsInflightFinishRefusesNew) {
  Start();
  grpc::ClientContext watch_context;
  HealthCheckRequest watch_request;
  watch_request.set_service(kService);
  auto watch = health_->Watch(&watch_context, watch_request);
  HealthCheckResponse update;
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);

  // A stream mid-message when the drain starts.
  grpc::ClientContext stream_context;
  auto stream = OpenStreamMidMessage(stream_context);

  std::future<void> drained = ShutdownInBackground();
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&update));
  EXPECT_TRUE(watch->Finish().ok());

  // While the message is in flight, new calls are refused saying why, and a
  // health Check (a Kubernetes probe) answers NOT_SERVING.
  v1::ReluResponse response;
  grpc::Status refused = CallRelu(*stub_, Float32Request({1.0f}), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(refused.error_message(), "server is shutting down");
  for (const char* service : {"", kService}) {
    EXPECT_EQ(Check(service), HealthCheckResponse::NOT_SERVING) << service;
  }
  // Shutdown waits for the message in flight.
  EXPECT_EQ(drained.wait_for(std::chrono::milliseconds(200)),
            std::future_status::timeout);

  // The message in flight gets its whole answer; then the stream ends,
  // saying why (no more messages are taken from a draining stream).
  ASSERT_TRUE(ReadBigAnswer(*stream));
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "server is shutting down");
  EXPECT_EQ(drained.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
}

TEST_F(DrainTest, SecondShutdownCallerBlocksUntilTheServerHasStopped) {
  Start(absl::Seconds(20));
  const int metrics_port = server_->metrics_port();
  grpc::ClientContext stream_context;
  auto stream = OpenStreamMidMessage(stream_context);

  std::future<void> first = ShutdownInBackground();
  // The first caller is draining once health says so.
  HealthCheckResponse::ServingStatus status = Check(kService);
  for (int i = 0; i < 100 && status != HealthCheckResponse::NOT_SERVING; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    status = Check(kService);
  }
  ASSERT_EQ(status, HealthCheckResponse::NOT_SERVING);
  std::future<void> second = ShutdownInBackground();
  // Neither returns while the stream's message is in flight...
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(300)),
            std::future_status::timeout);
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(0)),
            std::future_status::timeout);

  // ...and once it is answered (and the stream so ended), the second returns
  // only with the server stopped: gRPC no longer answers and /metrics
  // (stopped last) is closed.
  ASSERT_TRUE(ReadBigAnswer(*stream));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  ASSERT_EQ(second.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
  EXPECT_THAT(HttpGet(metrics_port, "/metrics"),
              StatusIs(absl::StatusCode::kUnavailable,
                       absl::StrCat("cannot connect to port ", metrics_port)));
  auto fresh = v1::ActivationService::NewStub(Connect(server_->port()));
  v1::ReluResponse response;
  EXPECT_EQ(CallRelu(*fresh, Float32Request({1.0f}), &response).error_code(),
            grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(first.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
}

TEST_F(DrainTest, IdleServerShutsDownWithoutWaitingForTheGrace) {
  Start(absl::Seconds(20), /*metrics=*/false);
  v1::ReluResponse response;
  ASSERT_TRUE(CallRelu(*stub_, Float32Request({1.0f}), &response).ok());
  const Clock::time_point start = Clock::now();
  server_->Shutdown();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

// The grace is timed by the held-bytes gauge (the answer's bytes are freed
// when gRPC cancels the call), not by Shutdown's return, which then stops
// /metrics (up to 2 s more); nor by the client, whose reading would let the
// answer through.
TEST_F(DrainTest, CallStillInFlightAtTheGraceDeadlineIsCancelled) {
  Start(absl::Milliseconds(300));
  grpc::ClientContext stream_context;
  auto stream = OpenStreamMidMessage(stream_context);
  const Clock::time_point start = Clock::now();
  std::future<void> drained = ShutdownInBackground();
  ASSERT_TRUE(WaitFor(
      *server_, [](const Server& s) { return HeldBytes(s) == 0; },
      std::chrono::seconds(10)));
  const Clock::duration took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::milliseconds(2300));
  EXPECT_EQ(drained.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
  // The answer was cut off: it never comes whole.
  v1::ReluResponse response;
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  // gRPC's cancellation of what is left when the server stops: UNAVAILABLE,
  // which clients may retry elsewhere.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "Cancelling all calls");
}

// Streams waiting for a message hold up nothing: Shutdown ends them at once
// with UNAVAILABLE, whatever the grace.
TEST_F(DrainTest, IdleStreamsEndUnavailableAtOnceAtShutdown) {
  Start(absl::Seconds(10), /*metrics=*/false);
  grpc::ClientContext answered_context;
  auto answered = OpenIdleStream(answered_context);
  grpc::ClientContext silent_context;
  auto silent = stub_->ReluStream(&silent_context);
  // The silent stream has reached the server once a later call is answered
  // on the same connection.
  v1::ReluResponse response;
  ASSERT_TRUE(CallRelu(*stub_, Float32Request({1.0f}), &response).ok());
  const Clock::time_point start = Clock::now();
  server_->Shutdown();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  for (Stream* stream : {answered.get(), silent.get()}) {
    EXPECT_FALSE(stream->Read(&response));
    const grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(), "server is shutting down");
  }
}

// For drain_delay the server keeps answering, refusing new calls with
// UNAVAILABLE (retryable elsewhere) rather than a closed port; then it stops.
TEST_F(DrainTest, DrainDelayKeepsRefusingNewCallsThenStops) {
  Start(absl::Seconds(10), /*metrics=*/false,
        /*drain_delay=*/absl::Milliseconds(1000));
  v1::ReluResponse response;
  ASSERT_TRUE(CallRelu(*stub_, Float32Request({1.0f}), &response).ok());
  const Clock::time_point start = Clock::now();
  std::future<void> drained = ShutdownInBackground();
  int refused = 0;
  while (Clock::now() - start < std::chrono::milliseconds(700)) {
    const grpc::Status status =
        CallRelu(*stub_, Float32Request({1.0f}), &response);
    if (status.ok()) continue;  // sent before the drain began
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
    EXPECT_EQ(status.error_message(), "server is shutting down");
    ++refused;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_GE(refused, 5);
  EXPECT_EQ(Check(kService), HealthCheckResponse::NOT_SERVING);
  ASSERT_EQ(drained.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
  const Clock::duration took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(1000));
  EXPECT_LT(took, std::chrono::milliseconds(4000));
}

}  // namespace
}  // namespace activation::server
