// End to end, the service's contract: a real server on a loopback port chosen
// by the OS, called through the generated stubs. Relu and ReluStream compute
// what the engine computes and answer bad requests naming the field;
// GetServerInfo, health and reflection say what the server is.

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <future>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "activation/v1/activation.grpc.pb.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpc/reflection/v1alpha/reflection.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/options.h"
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
using ::activation::testing::Inflight;
using ::activation::testing::StartServer;
using ::activation::testing::WaitForInflight;
using ::activation::testing::WaitForUnsentAnswer;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::Each;
using ::testing::ElementsAre;
using Clock = std::chrono::steady_clock;

// A response this big (16 MiB) does not fit the client's flow-control
// windows: a stream message whose answer the client does not read keeps its
// write, and so the answer's bytes of the memory budget, pending until the
// client reads. Measured: 4 MiB already stays pending, 1 MiB does not.
constexpr int kUnreadFloats = 4 << 20;

// Calls `method` with `bytes` as the request message, as they are; returns
// the status.
grpc::Status RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                          const std::string& method, const std::string& bytes,
                          grpc::ByteBuffer* response) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  std::promise<grpc::Status> done;
  stub.UnaryCall(&context, method, grpc::StubOptions(), &request, response,
                 [&done](grpc::Status status) { done.set_value(status); });
  return done.get_future().get();
}

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

// A computation that lasts: 256 MiB of INT16 -1 with a negative slope,
// ~120 ms on one engine thread (see cancellation_test). Servers for it run
// one engine thread and take its size.
constexpr int64_t kLongElements = int64_t{128} << 20;
constexpr int kLongMessageBytes = 2 * kLongElements + (1 << 20);

// Runs a Relu of kLongElements in the background and returns once the
// server is computing it (holding a slot), having uploaded it for ~1 s.
class LongComputation {
 public:
  LongComputation(int port, const Server& server) {
    stub_ = v1::ActivationService::NewStub(
        Connect(port, grpc::InsecureChannelCredentials(), kLongMessageBytes));
    request_.mutable_input()->set_dtype(v1::DATA_TYPE_INT16);
    request_.mutable_input()->add_shape(kLongElements);
    request_.mutable_input()->set_raw_data(
        std::string(2 * kLongElements, '\xff'));
    request_.mutable_params()->set_negative_slope(0.5);
    thread_ = std::thread(
        [this] { status_ = stub_->Relu(&context_, request_, &response_); });
    started_ = WaitForInflight(server, 1);
  }
  ~LongComputation() { Join(); }

  bool started() const { return started_; }
  grpc::Status Join() {
    if (thread_.joinable()) thread_.join();
    return status_;
  }

 private:
  std::unique_ptr<v1::ActivationService::Stub> stub_;
  v1::ReluRequest request_;
  grpc::ClientContext context_;
  v1::ReluResponse response_;
  grpc::Status status_;
  std::thread thread_;
  bool started_ = false;
};

// A computation holds its slot while it computes: a Relu meanwhile is
// refused at once, and served once the slot is free.
TEST_F(ContractTest, MaxInflightRejectsAtOnceAndRecovers) {
  ServerOptions options;
  options.max_inflight = 1;
  options.engine_threads = 1;
  options.max_message_bytes = kLongMessageBytes;
  options.metrics_address = "127.0.0.1:0";  // for the in-flight gauge
  Start(options);
  v1::ReluResponse response;
  {
    LongComputation computing(server_->port(), *server_);
    ASSERT_TRUE(computing.started());
    const Clock::time_point start = Clock::now();
    grpc::Status status = Call(Float32Request({1.0f}), &response);
    EXPECT_LT(Clock::now() - start, std::chrono::seconds(2));  // at once
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_EQ(status.error_message(),
              "server is at its limit of 1 calls in flight (--max_inflight); "
              "retry later");
    EXPECT_TRUE(computing.Join().ok());
  }
  // The slot is freed as the computation ends; wait on the gauge (bounded)
  // rather than assume it is free the instant the client has its answer.
  ASSERT_TRUE(WaitForInflight(*server_, 0, std::chrono::seconds(5)));
  EXPECT_TRUE(Call(Float32Request({1.0f}), &response).ok());
}

// Neither an idle stream nor an answer the client leaves unread holds a
// compute slot: with max_inflight 1, Relu is served meanwhile.
TEST_F(ContractTest, IdleStreamsAndUnreadAnswersHoldNoSlot) {
  ServerOptions options;
  options.max_inflight = 1;
  options.metrics_address = "127.0.0.1:0";
  Start(options);
  grpc::ClientContext idle_context;
  auto idle = stub_->ReluStream(&idle_context);
  v1::ReluResponse response;
  ASSERT_TRUE(idle->Write(Float32Request({-2.0f, 3.0f})));
  ASSERT_TRUE(idle->Read(&response));
  grpc::ClientContext unread_context;
  auto unread = stub_->ReluStream(&unread_context);
  ASSERT_TRUE(
      unread->Write(Float32Request(std::vector<float>(kUnreadFloats, -1.0f))));
  ASSERT_TRUE(WaitForUnsentAnswer(*server_));
  grpc::Status status = Call(Float32Request({-1.0f, 2.0f}), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f, 2.0f));
  ASSERT_TRUE(WaitForInflight(*server_, 0, std::chrono::seconds(5)));
  // Both streams are served on.
  v1::ReluResponse big;
  ASSERT_TRUE(unread->Read(&big));
  EXPECT_EQ(big.output().raw_data().size(), sizeof(float) * kUnreadFloats);
  EXPECT_THAT(Float32Values(big.output()), Each(0.0f));
  ASSERT_TRUE(WaitForInflight(*server_, 0, std::chrono::seconds(5)));
  ASSERT_TRUE(idle->Write(Float32Request({-2.0f, 3.0f})));
  ASSERT_TRUE(idle->Read(&response));
  EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f, 3.0f));
  for (auto* stream : {idle.get(), unread.get()}) {
    stream->WritesDone();
    EXPECT_TRUE(stream->Finish().ok());
  }
}

// An answer the client does not read holds its bytes of the memory budget
// (twice the payload and 16 KiB) until it is sent: a second call that does
// not fit beside it is refused, and fits once the first is read.
// max_memory 96 MiB: calls get 48 MiB; 16 MiB of payload needs 32 MiB+16 KiB.
TEST_F(ContractTest, UnreadAnswerHoldsItsBytesUntilSent) {
  ServerOptions options;
  options.max_message_bytes = 20 << 20;
  options.max_memory_bytes = 96 << 20;
  options.metrics_address = "127.0.0.1:0";
  Start(options);
  constexpr uint64_t kNeeds = 2 * (uint64_t{kUnreadFloats} * 4) + (16 << 10);
  grpc::ClientContext unread_context;
  auto unread = stub_->ReluStream(&unread_context);
  ASSERT_TRUE(
      unread->Write(Float32Request(std::vector<float>(kUnreadFloats, 2.0f))));
  ASSERT_TRUE(WaitForUnsentAnswer(*server_));
  EXPECT_EQ(testing::HeldBytes(*server_), kNeeds);
  v1::ReluResponse response;
  const v1::ReluRequest second =
      Float32Request(std::vector<float>(kUnreadFloats, -3.0f));
  grpc::Status status = Call(second, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            absl::StrCat("server memory for calls is in use (50331648 bytes, "
                         "--max_memory); this call needs ",
                         kNeeds, "; retry later"));
  ASSERT_TRUE(unread->Read(&response));
  EXPECT_THAT(Float32Values(response.output()), Each(2.0f));
  // The bytes are freed when gRPC reports the write done: wait on the gauge.
  ASSERT_TRUE(testing::WaitFor(
      *server_, [](const Server& s) { return testing::HeldBytes(s) == 0; },
      std::chrono::seconds(5)));
  status = Call(second, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(Float32Values(response.output()), Each(0.0f));
  unread->WritesDone();
  EXPECT_TRUE(unread->Finish().ok());
}

// GetServerInfo and health take no compute slot: they are answered while the
// only slot is held by a computation.
TEST_F(ContractTest, GetServerInfoAndHealthAreServedWhileEverySlotIsHeld) {
  ServerOptions options;
  options.max_inflight = 1;
  options.engine_threads = 1;
  options.max_message_bytes = kLongMessageBytes;
  options.metrics_address = "127.0.0.1:0";
  Start(options);
  LongComputation computing(server_->port(), *server_);
  ASSERT_TRUE(computing.started());
  grpc::ClientContext info_context;
  info_context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::seconds(5));
  v1::ServerInfo info;
  grpc::Status status =
      stub_->GetServerInfo(&info_context, v1::GetServerInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(info.max_inflight(), 1);
  auto health = grpc::health::v1::Health::NewStub(channel_);
  grpc::ClientContext health_context;
  health_context.set_deadline(std::chrono::system_clock::now() +
                              std::chrono::seconds(5));
  HealthCheckRequest request;
  request.set_service("activation.v1.ActivationService");
  HealthCheckResponse health_response;
  status = health->Check(&health_context, request, &health_response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(health_response.status(), HealthCheckResponse::SERVING);
  // The slot was held throughout (the gauge is read after both answered).
  EXPECT_EQ(Inflight(*server_), 1);
  EXPECT_TRUE(computing.Join().ok());
}

TEST_F(ContractTest, GetServerInfoReportsLimits) {
  ServerOptions options;
  options.max_elements = 12345;
  options.max_inflight = 7;
  options.max_rank = 9;
  options.max_memory_bytes = uint64_t{3} << 30;
  options.stream_idle_timeout = absl::Seconds(90);
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
  EXPECT_EQ(info.max_rank(), 9);
  EXPECT_EQ(info.max_memory_bytes(), int64_t{3} << 30);
  EXPECT_EQ(info.stream_idle_timeout_ms(), 90000);
}

TEST_F(ContractTest, GetServerInfoReportsTheDefaultLimits) {
  Start();
  grpc::ClientContext context;
  v1::ServerInfo info;
  ASSERT_TRUE(
      stub_->GetServerInfo(&context, v1::GetServerInfoRequest(), &info).ok());
  EXPECT_EQ(info.max_rank(), 64);
  // max_memory 0: half of what the process may use.
  EXPECT_EQ(info.max_memory_bytes(),
            static_cast<int64_t>(MemoryAvailable() / 2));
  EXPECT_EQ(info.stream_idle_timeout_ms(), 60000);
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
                   "inference.GRPCInferenceService",
                   "grpc.reflection.v1alpha.ServerReflection"}));
  // What grpcurl asks next: the file that defines the service.
  request.set_file_containing_symbol("inference.GRPCInferenceService");
  ASSERT_TRUE(stream->Write(request));
  ASSERT_TRUE(stream->Read(&response));
  ASSERT_EQ(response.file_descriptor_response().file_descriptor_proto_size(),
            1);
  google::protobuf::FileDescriptorProto file;
  ASSERT_TRUE(file.ParseFromString(
      response.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(file.name(), "inference/grpc_predict_v2.proto");
  EXPECT_EQ(file.package(), "inference");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

// A tensor of `rank` dimensions of 1, FLOAT32, one element.
v1::ReluRequest RankRequest(int rank) {
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
  for (int i = 0; i < rank; ++i) request.mutable_input()->add_shape(1);
  const float value = -1.0f;
  request.mutable_input()->set_raw_data(&value, sizeof(value));
  return request;
}

TEST_F(ContractTest, MoreDimensionsThanMaxRankAreResourceExhausted) {
  Start();
  v1::ReluResponse response;
  ASSERT_TRUE(Call(RankRequest(64), &response).ok());
  EXPECT_EQ(response.output().shape_size(), 64);
  EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f));
  grpc::Status status = Call(RankRequest(65), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "input.shape has 65 dimensions; this server accepts at most 64 "
            "(--max_rank)");
}

// A shape of 4,000,000 dimensions (a 4 MB message) gets a short answer.
TEST_F(ContractTest, HugeRankIsRefusedWithAShortMessage) {
  Start();
  v1::ReluResponse response;
  const grpc::Status status = Call(RankRequest(4'000'000), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(status.error_message(),
            "input.shape has 4000000 dimensions; this server accepts at most "
            "64 (--max_rank)");
  EXPECT_LT(status.error_message().size(), 400u);
}

// Within a larger --max_rank, an error that names the shape shows its first
// 16 dimensions and the rank.
TEST_F(ContractTest, LongShapeIsSummarisedInErrors) {
  ServerOptions options;
  options.max_rank = 1024;
  Start(options);
  v1::ReluRequest request = RankRequest(1000);
  request.mutable_input()->mutable_raw_data()->resize(3);
  v1::ReluResponse response;
  const grpc::Status status = Call(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "input.raw_data has 3 bytes; shape "
            "[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,...] (1000 dimensions) of "
            "FLOAT32 needs 4");
}

TEST_F(ContractTest, BytesThatAreNoReluRequestAreInvalidArgument) {
  Start();
  grpc::ByteBuffer response;
  const grpc::Status status =
      RawUnaryCall(channel_, "/activation.v1.ActivationService/Relu",
                   std::string("\xff\xff\xff", 3), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "the message (3 bytes) is not an activation.v1.ReluRequest");
  // A well-formed request's bytes, sent the same way, are computed.
  std::string bytes;
  ASSERT_TRUE(Float32Request({-1.0f, 2.0f}).SerializeToString(&bytes));
  ASSERT_TRUE(RawUnaryCall(channel_, "/activation.v1.ActivationService/Relu",
                           bytes, &response)
                  .ok());
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  v1::ReluResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(out));
  EXPECT_THAT(Float32Values(parsed.output()), ElementsAre(0.0f, 2.0f));
}

// On a stream, the bad message is named by its index and ends the stream.
TEST_F(ContractTest, BytesThatAreNoReluRequestEndAStreamNamingTheMessage) {
  Start();
  grpc::GenericStub stub(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  // Runs one operation to its completion; returns its ok.
  auto await = [&cq](void* tag) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok));
    EXPECT_EQ(got, tag);
    return ok;
  };
  auto call = stub.PrepareCall(
      &context, "/activation.v1.ActivationService/ReluStream", &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  ASSERT_TRUE(await(reinterpret_cast<void*>(1)));
  std::string good;
  ASSERT_TRUE(Float32Request({-1.0f}).SerializeToString(&good));
  grpc::Slice good_slice(good);
  grpc::ByteBuffer good_message(&good_slice, 1);
  call->Write(good_message, reinterpret_cast<void*>(2));
  ASSERT_TRUE(await(reinterpret_cast<void*>(2)));
  grpc::ByteBuffer answer;
  call->Read(&answer, reinterpret_cast<void*>(3));
  ASSERT_TRUE(await(reinterpret_cast<void*>(3)));
  grpc::Slice bad_slice(std::string("\xff\xff\xff", 3));
  grpc::ByteBuffer bad_message(&bad_slice, 1);
  call->Write(bad_message, reinterpret_cast<void*>(4));
  await(reinterpret_cast<void*>(4));  // may fail: the server may end first
  call->Read(&answer, reinterpret_cast<void*>(5));
  EXPECT_FALSE(await(reinterpret_cast<void*>(5)));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(6));
  ASSERT_TRUE(await(reinterpret_cast<void*>(6)));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "message 1: the message (3 bytes) is not an "
            "activation.v1.ReluRequest");
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

// A stream that sends nothing for --stream_idle_timeout is ended with
// DEADLINE_EXCEEDED, saying why, no sooner and not much later (the server
// looks every quarter of the timeout).
TEST_F(ContractTest, IdleStreamIsEndedAfterTheIdleTimeout) {
  ServerOptions options;
  options.stream_idle_timeout = absl::Milliseconds(300);
  Start(options);
  // Connected first, so that connecting is not timed.
  v1::ReluResponse response;
  ASSERT_TRUE(Call(Float32Request({1.0f}), &response).ok());
  for (const bool answered_first : {false, true}) {
    SCOPED_TRACE(answered_first ? "idle after one answer" : "never sent");
    grpc::ClientContext context;
    // Taken before the stream starts (or the message is sent), so no later
    // than the server's idle clock starts.
    Clock::time_point idle_since = Clock::now();
    auto stream = stub_->ReluStream(&context);
    if (answered_first) {
      idle_since = Clock::now();
      ASSERT_TRUE(stream->Write(Float32Request({-1.0f})));
      ASSERT_TRUE(stream->Read(&response));
      EXPECT_THAT(Float32Values(response.output()), ElementsAre(0.0f));
    }
    EXPECT_FALSE(stream->Read(&response));
    const grpc::Status status = stream->Finish();
    const Clock::duration idle = Clock::now() - idle_since;
    EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
    EXPECT_EQ(status.error_message(),
              "no message for 300ms (--stream_idle_timeout); the stream is "
              "closed");
    EXPECT_GE(idle, std::chrono::milliseconds(300));
    EXPECT_LE(idle, std::chrono::milliseconds(1800));
  }
}

// A stream that sends a message every 100 ms is never idle for 300 ms: it
// lives through four timeouts' worth and ends when the client ends it.
TEST_F(ContractTest, StreamSendingMessagesIsNotEndedByTheIdleTimeout) {
  ServerOptions options;
  options.stream_idle_timeout = absl::Milliseconds(300);
  Start(options);
  grpc::ClientContext context;
  auto stream = stub_->ReluStream(&context);
  const Clock::time_point start = Clock::now();
  int answered = 0;
  while (Clock::now() - start < std::chrono::milliseconds(1200)) {
    ASSERT_TRUE(stream->Write(Float32Request({-1.0f, float(answered)})))
        << answered;
    v1::ReluResponse response;
    ASSERT_TRUE(stream->Read(&response)) << answered;
    EXPECT_THAT(Float32Values(response.output()),
                ElementsAre(0.0f, float(answered)));
    ++answered;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_GE(answered, 8);
  stream->WritesDone();
  const grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
}

}  // namespace
}  // namespace activation::server
