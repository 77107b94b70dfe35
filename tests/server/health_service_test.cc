// HealthService behind a bare gRPC server (127.0.0.1:0, nothing else
// registered), called through the standard grpc.health.v1 stub.

#include "server/health_service.h"

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
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

  HealthService health_{
      {kService}, /*metrics=*/nullptr, HealthService::Limits()};
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

// A name over the limit (256 bytes) is refused without being echoed: a 4 MB
// name gets a short message.
TEST_F(HealthServiceTest, CheckOfAHugeNameIsInvalidArgumentWithAShortMessage) {
  grpc::Status status;
  Check(std::string(4'000'000, 'x'), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "service name has 4000000 bytes; at most 256");
  EXPECT_LT(status.error_message().size(), 100u);
}

TEST_F(HealthServiceTest, NameOfExactlyTheLimitIsLookedUpOneOverIsNot) {
  grpc::Status status;
  Check(std::string(256, 'n'), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  Check(std::string(257, 'n'), &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "service name has 257 bytes; at most 256");
}

// An unknown name is quoted up to 128 bytes, then its size is said.
TEST_F(HealthServiceTest, UnknownLongNameIsQuotedTo128BytesWithItsSize) {
  std::string name;
  for (int i = 0; i < 200; ++i) name.push_back(static_cast<char>('a' + i % 26));
  grpc::Status status;
  Check(name, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("unknown service \"", name.substr(0, 128),
                         "...\" (200 bytes)"));
  // 128 bytes exactly are quoted whole.
  Check(name.substr(0, 128), &status);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("unknown service \"", name.substr(0, 128), "\""));
}

TEST_F(HealthServiceTest, WatchOfAHugeNameIsInvalidArgument) {
  Watch watch(*stub_, std::string(1 << 20, 'w'));
  HealthCheckResponse update;
  EXPECT_FALSE(watch.stream->Read(&update));
  const grpc::Status status = watch.stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "service name has 1048576 bytes; at most 256");
}

// 100 Watch streams at once (the default limit) are served; the 101st is
// refused at once; once one ends, a new one is served again.
TEST_F(HealthServiceTest,
       WatchOverTheLimitIsResourceExhaustedWhileTheOthersRun) {
  constexpr int kLimit = 100;
  std::vector<std::unique_ptr<Watch>> watches;
  HealthCheckResponse update;
  for (int i = 0; i < kLimit; ++i) {
    watches.push_back(std::make_unique<Watch>(*stub_, kService));
    // Its first message says it is registered.
    ASSERT_TRUE(watches.back()->stream->Read(&update)) << i;
    ASSERT_EQ(update.status(), HealthCheckResponse::SERVING);
  }
  const Clock::time_point start = Clock::now();
  {
    Watch refused(*stub_, kService);
    EXPECT_FALSE(refused.stream->Read(&update));
    const grpc::Status status = refused.stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(status.error_message(),
              "server is at its limit of 100 Watch streams; poll with Check");
  }
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));
  // Check still answers.
  grpc::Status status;
  EXPECT_EQ(Check(kService, &status), HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();

  // One ends (cancelled); its place is free once the server has seen it go,
  // which is after the client sees the cancellation: retried, bounded.
  watches.front()->context.TryCancel();
  EXPECT_EQ(watches.front()->stream->Finish().error_code(),
            grpc::StatusCode::CANCELLED);
  bool served = false;
  for (int attempt = 0; attempt < 100 && !served; ++attempt) {
    Watch again(*stub_, kService);
    served = again.stream->Read(&update);
    if (!served) {
      EXPECT_EQ(again.stream->Finish().error_code(),
                grpc::StatusCode::RESOURCE_EXHAUSTED);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    } else {
      EXPECT_EQ(update.status(), HealthCheckResponse::SERVING);
      again.context.TryCancel();
      again.stream->Finish();
    }
  }
  EXPECT_TRUE(served) << "no Watch served within 2 s of one ending";
  health_.Shutdown();
  for (size_t i = 1; i < watches.size(); ++i) {
    ASSERT_TRUE(watches[i]->stream->Read(&update));
    EXPECT_EQ(update.status(), HealthCheckResponse::NOT_SERVING);
    EXPECT_FALSE(watches[i]->stream->Read(&update));
    EXPECT_TRUE(watches[i]->stream->Finish().ok());
  }
}

}  // namespace
}  // namespace activation::server
