// HealthService behind a bare gRPC server (127.0.0.1:0, nothing else
// registered), called through the standard grpc.health.v1 stub.

#include "server/health_service.h"

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace activation::server {
namespace {

using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using Clock = std::chrono::steady_clock;

constexpr char kService[] = "example.v1.Service";

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&health_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port, 0);
    stub_ = Health::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() +
                        std::chrono::seconds(5));
    }
  }

  // Returns the status Check reports for `service`; `status` gets the call's.
  HealthCheckResponse::ServingStatus Check(const std::string& service,
                                           grpc::Status* status) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(10));
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    *status = stub_->Check(&context, request, &response);
    return response.status();
  }

  HealthService health_{{kService}, /*metrics=*/nullptr};
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Health::Stub> stub_;
};

// A Watch stream on one service.
struct Watch {
  Watch(Health::Stub& stub, const std::string& service) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(30));
    HealthCheckRequest request;
    request.set_service(service);
    stream = stub.Watch(&context, request);
  }

  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> stream;
};

TEST_F(HealthServiceTest, CheckOfTheServerAndTheServiceIsServing) {
  for (const char* service : {"", kService}) {
    grpc::Status status;
    EXPECT_EQ(Check(service, &status), HealthCheckResponse::SERVING) << service;
    EXPECT_TRUE(status.ok()) << service << ": " << status.error_message();
  }
}

TEST_F(HealthServiceTest, CheckOfAnUnknownServiceIsNotFound) {
  grpc::Status status;
  Check("no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown service \"no.such.Service\"");
}

TEST_F(HealthServiceTest,
       AfterShutdownCheckIsNotServingAndUnknownStillNotFound) {
  health_.Shutdown();
  for (const char* service : {"", kService}) {
    grpc::Status status;
    EXPECT_EQ(Check(service, &status), HealthCheckResponse::NOT_SERVING)
        << service;
    EXPECT_TRUE(status.ok()) << service << ": " << status.error_message();
  }
  grpc::Status status;
  Check("no.such.Service", &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown service \"no.such.Service\"");
}

TEST_F(HealthServiceTest, WatchGetsServingThenNotServingAtShutdownAndEnds) {
  Watch server_watch(*stub_, "");
  Watch service_watch(*stub_, kService);
  HealthCheckResponse update;
  // The first message is the current status; once it has come, the watch is
  // registered and Shutdown will reach it.
  for (Watch* watch : {&server_watch, &service_watch}) {
    ASSERT_TRUE(watch->stream->Read(&update));
    EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);
  }
  const Clock::time_point shutdown = Clock::now();
  health_.Shutdown();
  for (Watch* watch : {&server_watch, &service_watch}) {
    ASSERT_TRUE(watch->stream->Read(&update));
    EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
    EXPECT_FALSE(watch->stream->Read(&update));
    const grpc::Status status = watch->stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
  }
  EXPECT_LT(Clock::now() - shutdown, std::chrono::seconds(1));
}

TEST_F(HealthServiceTest, WatchAfterShutdownGetsNotServingAndEnds) {
  health_.Shutdown();
  Watch watch(*stub_, kService);
  HealthCheckResponse update;
  ASSERT_TRUE(watch.stream->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch.stream->Read(&update));
  const grpc::Status status = watch.stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

// As the health protocol asks: an unknown service is watched (it might be
// registered later), not refused.
TEST_F(HealthServiceTest,
       WatchOfAnUnknownServiceSaysServiceUnknownAndEndsAtShutdown) {
  Watch watch(*stub_, "no.such.Service");
  HealthCheckResponse update;
  ASSERT_TRUE(watch.stream->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::SERVICE_UNKNOWN);
  health_.Shutdown();
  EXPECT_FALSE(watch.stream->Read(&update));
  const grpc::Status status = watch.stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(HealthServiceTest, ShutdownAfterAWatchWasCancelledTellsTheOthers) {
  Watch cancelled(*stub_, kService);
  Watch kept(*stub_, kService);
  HealthCheckResponse update;
  ASSERT_TRUE(cancelled.stream->Read(&update));
  ASSERT_TRUE(kept.stream->Read(&update));
  cancelled.context.TryCancel();
  EXPECT_FALSE(cancelled.stream->Read(&update));
  EXPECT_EQ(cancelled.stream->Finish().error_code(),
            grpc::StatusCode::CANCELLED);
  // The cancelled watcher may or may not be gone yet (ASan checks that it
  // is not used after it is); the other is told either way.
  health_.Shutdown();
  ASSERT_TRUE(kept.stream->Read(&update));
  EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(kept.stream->Read(&update));
  EXPECT_TRUE(kept.stream->Finish().ok());
}

}  // namespace
}  // namespace activation::server
