// End to end, Server::Shutdown: health turns NOT_SERVING, new calls are
// refused saying why, calls in flight finish (or are cancelled at the
// grace deadline), and every caller of Shutdown returns only once the server
// has stopped.

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
using ::activation::testing::HttpGet;
using ::activation::testing::StartServer;
using ::activation::testing::StatusIs;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;
using Clock = std::chrono::steady_clock;

constexpr char kService[] = "activation.v1.ActivationService";

class DrainTest : public ::testing::Test {
 protected:
  void Start(absl::Duration shutdown_grace = absl::Seconds(20),
             bool metrics = false) {
    ServerOptions options;
    options.shutdown_grace = shutdown_grace;
    if (metrics) options.metrics_address = "127.0.0.1:0";
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->port());
    stub_ = v1::ActivationService::NewStub(channel_);
    health_ = grpc::health::v1::Health::NewStub(channel_);
  }

  // Opens a ReluStream and has one message answered, so that the call is
  // admitted and in flight.
  std::unique_ptr<grpc::ClientReaderWriter<v1::ReluRequest, v1::ReluResponse>>
  OpenStream(grpc::ClientContext& context) {
    auto stream = stub_->ReluStream(&context);
    v1::ReluResponse response;
    EXPECT_TRUE(stream->Write(Float32Request({-1.0f})));
    EXPECT_TRUE(stream->Read(&response));
    EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f));
    return stream;
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

  // An in-flight stream, mid-conversation when the drain starts.
  grpc::ClientContext stream_context;
  auto stream = OpenStream(stream_context);

  std::future<void> drained = ShutdownInBackground();
  ASSERT_TRUE(watch->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&update));
  EXPECT_TRUE(watch->Finish().ok());

  // The in-flight stream still gets answers.
  v1::ReluResponse response;
  ASSERT_TRUE(stream->Write(Float32Request({5.0f})));
  ASSERT_TRUE(stream->Read(&response));
  EXPECT_THAT(Float32Values(response.output()), ElementsAre(5.0f));
  // While it is open, new calls are refused saying why, and a health Check
  // (a Kubernetes probe) answers NOT_SERVING.
  grpc::Status refused = CallRelu(*stub_, Float32Request({1.0f}), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(refused.error_message(), "server is shutting down");
  for (const char* service : {"", kService}) {
    EXPECT_EQ(Check(service), HealthCheckResponse::NOT_SERVING) << service;
  }
  // Shutdown waits for the stream.
  EXPECT_EQ(drained.wait_for(std::chrono::milliseconds(200)),
            std::future_status::timeout);

  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(drained.wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
}

TEST_F(DrainTest, SecondShutdownCallerBlocksUntilTheServerHasStopped) {
  Start(absl::Seconds(20), /*metrics=*/true);
  const int metrics_port = server_->metrics_port();
  grpc::ClientContext stream_context;
  auto stream = OpenStream(stream_context);

  std::future<void> first = ShutdownInBackground();
  // The first caller is draining once health says so.
  HealthCheckResponse::ServingStatus status = Check(kService);
  for (int i = 0; i < 100 && status != HealthCheckResponse::NOT_SERVING; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    status = Check(kService);
  }
  ASSERT_EQ(status, HealthCheckResponse::NOT_SERVING);
  std::future<void> second = ShutdownInBackground();
  // Neither returns while the stream is in flight...
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(300)),
            std::future_status::timeout);
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(0)),
            std::future_status::timeout);

  // ...and once it ends, the second returns only with the server stopped:
  // gRPC no longer answers and /metrics (stopped last) is closed.
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
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
  Start(absl::Seconds(20));
  v1::ReluResponse response;
  ASSERT_TRUE(CallRelu(*stub_, Float32Request({1.0f}), &response).ok());
  const Clock::time_point start = Clock::now();
  server_->Shutdown();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
}

TEST_F(DrainTest, CallStillInFlightAtTheGraceDeadlineIsCancelled) {
  Start(absl::Milliseconds(300));
  grpc::ClientContext stream_context;
  auto stream = OpenStream(stream_context);
  const Clock::time_point start = Clock::now();
  server_->Shutdown();
  const Clock::duration took = Clock::now() - start;
  EXPECT_GE(took, std::chrono::milliseconds(300));
  EXPECT_LT(took, std::chrono::milliseconds(2300));
  v1::ReluResponse response;
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  // gRPC's cancellation of what is left when the server stops: UNAVAILABLE,
  // which clients may retry elsewhere.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(status.error_message(), "Cancelling all calls");
}

}  // namespace
}  // namespace activation::server
