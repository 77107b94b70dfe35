// End to end, the service's contract: a real server on a loopback port chosen
// by the OS, called through the generated stubs. Relu and ReluStream compute
// what the engine computes and answer bad requests naming the field;
// GetServerInfo, health and reflection say what the server is.

#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "activation/v1/activation.grpc.pb.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/server.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"

namespace activation::server {
namespace {

using ::activation::testing::CallRelu;
using ::activation::testing::Connect;
using ::activation::testing::Float32Request;
using ::activation::testing::Float32Tensor;
using ::activation::testing::Float32Values;
using ::activation::testing::StartServer;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;

class ContractTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = ServerOptions()) {
    options.shutdown_grace = absl::Seconds(5);
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->port());
    stub_ = v1::ActivationService::NewStub(channel_);
  }

  grpc::Status Call(const v1::ReluRequest& request,
                    v1::ReluResponse* response) {
    return CallRelu(*stub_, request, response);
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ActivationService::Stub> stub_;
};

TEST_F(ContractTest, ReluComputesEveryDtypeLikeTheEngine) {
  Start();
  std::mt19937 rng(17);
  for (core::DataType dtype : core::kAllDataTypes) {
    v1::ReluRequest request;
    v1::Tensor* input = request.mutable_input();
    input->set_dtype(static_cast<v1::DataType>(static_cast<int>(dtype)));
    input->add_shape(3);
    input->add_shape(37);
    std::string bytes(3 * 37 * core::ItemSize(dtype), '\0');
    for (char& b : bytes) b = static_cast<char>(rng());
    input->set_raw_data(bytes);
    request.mutable_params()->set_max_value(4.0);
    request.mutable_params()->set_negative_slope(0.5);
    request.mutable_params()->set_threshold(-1.0);

    core::ReluParams params;
    params.max_value = 4.0;
    params.negative_slope = 0.5;
    params.threshold = -1.0;
    std::string expected(bytes.size(), '\0');
    ASSERT_OK(core::Relu(params, dtype, bytes.data(), expected.data(), 3 * 37));

    v1::ReluResponse response;
    ASSERT_TRUE(Call(request, &response).ok()) << core::DataTypeName(dtype);
    EXPECT_EQ(response.output().dtype(), input->dtype());
    EXPECT_THAT(response.output().shape(), ElementsAre(3, 37));
    EXPECT_EQ(response.output().raw_data(), expected)
        << core::DataTypeName(dtype);
    EXPECT_EQ(response.output().float_data_size(), 0);
  }
}

TEST_F(ContractTest, FloatDataInGivesFloatDataOut) {
  Start();
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
  request.mutable_input()->add_shape(4);
  for (float v : {-2.0f, 0.5f, 7.0f, -0.0f}) {
    request.mutable_input()->add_float_data(v);
  }
  request.mutable_params()->set_max_value(6.0);
  v1::ReluResponse response;
  ASSERT_TRUE(Call(request, &response).ok());
  EXPECT_THAT(response.output().float_data(),
              ElementsAre(0.0f, 0.5f, 6.0f, 0.0f));
  EXPECT_TRUE(response.output().raw_data().empty());
  EXPECT_TRUE(std::signbit(response.output().float_data(3)));  // -0 stays
}

TEST_F(ContractTest, ScalarAndEmptyTensors) {
  Start();
  v1::ReluRequest scalar;
  *scalar.mutable_input() = Float32Tensor({-3.0f});
  scalar.mutable_input()->clear_shape();
  v1::ReluResponse response;
  ASSERT_TRUE(Call(scalar, &response).ok());
  EXPECT_TRUE(response.output().shape().empty());
  EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f));

  v1::ReluRequest empty;
  *empty.mutable_input() = Float32Tensor({}, {4, 0});
  ASSERT_TRUE(Call(empty, &response).ok());
  EXPECT_THAT(response.output().shape(), ElementsAre(4, 0));
  EXPECT_TRUE(response.output().raw_data().empty());
}

TEST_F(ContractTest, KerasModeDiffersFromDocumentedWhereKerasDoes) {
  Start();
  v1::ReluRequest request = Float32Request({0.5f, -1.0f});
  request.mutable_params()->set_threshold(0.5);
  v1::ReluResponse documented;
  ASSERT_TRUE(Call(request, &documented).ok());
  request.mutable_params()->set_mode(v1::MODE_KERAS);
  v1::ReluResponse keras;
  ASSERT_TRUE(Call(request, &keras).ok());
  EXPECT_THAT(Float32Values(documented.output()), ElementsAre(0.5f, 0.0f));
  const std::vector<float> k = Float32Values(keras.output());
  EXPECT_EQ(k[0], 0.0f);            // strict x > threshold
  EXPECT_TRUE(std::signbit(k[1]));  // -1 * 0 = -0
}

TEST_F(ContractTest, ErrorsNameTheFieldExpectedAndActual) {
  Start();
  v1::ReluRequest request = Float32Request({1, 2, 3, 4});
  request.mutable_input()->clear_shape();
  request.mutable_input()->add_shape(2);
  request.mutable_input()->add_shape(2);
  request.mutable_input()->mutable_raw_data()->resize(12);
  v1::ReluResponse response;
  grpc::Status status = Call(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input.raw_data has 12 bytes; shape [2,2] of FLOAT32 needs 16");

  request = Float32Request({1});
  request.mutable_params()->set_negative_slope(-0.5);
  status = Call(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "params.negative_slope must be >= 0, got -0.5");

  request = Float32Request({1});
  request.mutable_input()->set_dtype(v1::DATA_TYPE_UNSPECIFIED);
  status = Call(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input.dtype must be set, got DATA_TYPE_UNSPECIFIED");
}

TEST_F(ContractTest, OverMaxElementsIsResourceExhausted) {
  ServerOptions options;
  options.max_elements = 10;
  Start(options);
  v1::ReluResponse response;
  grpc::Status status =
      Call(Float32Request(std::vector<float>(11, 1.0f)), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "input.shape [11] has 11 elements; this server accepts at most 10 "
            "(--max_elements)");
  EXPECT_TRUE(
      Call(Float32Request(std::vector<float>(10, 1.0f)), &response).ok());
}

TEST_F(ContractTest, OversizedMessageIsRejectedWithoutHarm) {
  ServerOptions options;
  options.max_message_bytes = 1 << 20;
  Start(options);
  const v1::ReluRequest request =
      Float32Request(std::vector<float>(300'000, -1.0f));
  v1::ReluResponse response;
  grpc::Status status = Call(request, &response);
  // gRPC's own check, before any handler runs.
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("Received message larger than max (",
                         request.ByteSizeLong(), " vs. 1048576)"));
  ASSERT_TRUE(Call(Float32Request({-1.0f, 2.0f}), &response).ok());
  EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f, 2.0f));
}

TEST_F(ContractTest, StreamAnswersEveryMessageInOrder) {
  Start();
  grpc::ClientContext context;
  auto stream = stub_->ReluStream(&context);
  for (int i = 0; i < 20; ++i) {
    std::vector<float> values(1 + i * 7);
    for (size_t j = 0; j < values.size(); ++j) {
      values[j] = static_cast<float>(j) - i;
    }
    ASSERT_TRUE(stream->Write(Float32Request(values)));
    v1::ReluResponse response;
    ASSERT_TRUE(stream->Read(&response));
    const std::vector<float> out = Float32Values(response.output());
    ASSERT_EQ(out.size(), values.size());
    for (size_t j = 0; j < values.size(); ++j) {
      ASSERT_EQ(out[j], std::max(values[j], 0.0f)) << i << " " << j;
    }
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ContractTest, PipelinedStreamKeepsOrder) {
  Start();
  grpc::ClientContext context;
  auto stream = stub_->ReluStream(&context);
  std::thread writer([&] {
    for (int i = 0; i < 50; ++i) stream->Write(Float32Request({float(i)}));
    stream->WritesDone();
  });
  v1::ReluResponse response;
  int received = 0;
  while (stream->Read(&response)) {
    EXPECT_THAT(Float32Values(response.output()),
                ElementsAre(static_cast<float>(received)));
    ++received;
  }
  writer.join();
  EXPECT_EQ(received, 50);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ContractTest, BadStreamMessageEndsStreamNamingItsIndex) {
  Start();
  grpc::ClientContext context;
  auto stream = stub_->ReluStream(&context);
  v1::ReluResponse response;
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(stream->Write(Float32Request({1.0f})));
    ASSERT_TRUE(stream->Read(&response));
  }
  v1::ReluRequest bad = Float32Request({1.0f});
  bad.mutable_params()->set_max_value(-1);
  stream->Write(bad);
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "message 2: params.max_value must be >= 0, got -1");
}

TEST_F(ContractTest, ExpiredDeadlineIsDeadlineExceeded) {
  Start();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() -
                       std::chrono::milliseconds(1));
  v1::ReluResponse response;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status =
      stub_->Relu(&context, Float32Request({1.0f}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));
}

TEST_F(ContractTest, MaxInflightRejectsAtOnceAndRecovers) {
  ServerOptions options;
  options.max_inflight = 1;
  Start(options);
  grpc::ClientContext stream_context;
  auto stream = stub_->ReluStream(&stream_context);  // holds the one slot
  ASSERT_TRUE(stream->Write(Float32Request({1.0f})));
  v1::ReluResponse response;
  ASSERT_TRUE(stream->Read(&response));
  grpc::Status status = Call(Float32Request({1.0f}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "server is at its limit of 1 calls in flight (--max_inflight); "
            "retry later");
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(Call(Float32Request({1.0f}), &response).ok());
}

TEST_F(ContractTest, GetServerInfoReportsLimits) {
  ServerOptions options;
  options.max_elements = 12345;
  options.max_inflight = 7;
  Start(options);
  grpc::ClientContext context;
  v1::ServerInfo info;
  ASSERT_TRUE(
      stub_->GetServerInfo(&context, v1::GetServerInfoRequest(), &info).ok());
  EXPECT_EQ(info.version(), "0.1.0");
  EXPECT_EQ(info.max_elements(), 12345);
  EXPECT_EQ(info.max_inflight(), 7);
  EXPECT_EQ(info.max_message_bytes(), 64 << 20);
  EXPECT_EQ(info.dtypes_size(), 12);
  EXPECT_THAT(info.modes(), ElementsAre(v1::MODE_DOCUMENTED, v1::MODE_KERAS));
  EXPECT_FALSE(info.auth_required());
}

TEST_F(ContractTest, HealthCheckKnowsTheService) {
  Start();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "activation.v1.ActivationService"}) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok());
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
  }
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("no.such.Service");
  HealthCheckResponse response;
  grpc::Status status = health->Check(&context, request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown service \"no.such.Service\"");
}

TEST_F(ContractTest, ReflectionListsTheServices) {
  Start();
  auto reflection =
      grpc::reflection::v1alpha::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  auto stream = reflection->ServerReflectionInfo(&context);
  grpc::reflection::v1alpha::ServerReflectionRequest request;
  request.set_list_services("");
  ASSERT_TRUE(stream->Write(request));
  grpc::reflection::v1alpha::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::vector<std::string> names;
  for (const auto& service : response.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names,
              ::testing::IsSupersetOf(
                  {"activation.v1.ActivationService", "grpc.health.v1.Health",
                   "grpc.reflection.v1alpha.ServerReflection"}));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

}  // namespace
}  // namespace activation::server
