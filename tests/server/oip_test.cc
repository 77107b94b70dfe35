// End to end, the Open Inference Protocol over gRPC
// (inference.GRPCInferenceService): a real server on a loopback port, called
// through stubs generated from proto/inference/grpc_predict_v2.proto. Every
// datatype in both encodings computes what activation.v1 computes, bit for
// bit; bad requests get the code and a message naming the field.

#include "server/oip.h"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "activation/v1/activation.grpc.pb.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.grpc.pb.h"
#include "server/metrics.h"
#include "server/options.h"
#include "server/server.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_server.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

using ::activation::testing::CallRelu;
using ::activation::testing::Connect;
using ::activation::testing::StartServer;
using ::inference::GRPCInferenceService;
using ::inference::InferParameter;
using ::inference::ModelInferRequest;
using ::inference::ModelInferResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

#define ASSERT_OK_GRPC(expr)                                        \
  do {                                                              \
    const grpc::Status status_ = (expr);                            \
    ASSERT_TRUE(status_.ok())                                       \
        << status_.error_code() << ": " << status_.error_message(); \
  } while (false)

void ExpectStatus(const grpc::Status& status, grpc::StatusCode code,
                  const std::string& message) {
  EXPECT_EQ(status.error_code(), code) << status.error_message();
  EXPECT_EQ(status.error_message(), message);
}

std::unique_ptr<grpc::ClientContext> Context() {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::seconds(30));
  return context;
}

// A request for model relu with `dtype`'s random raw bytes of `shape`.
ModelInferRequest RawRequest(core::DataType dtype, std::vector<int64_t> shape,
                             std::mt19937& rng) {
  ModelInferRequest request;
  request.set_model_name("relu");
  request.set_id("req-7");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype(std::string(wire::OipDataTypeName(dtype)));
  uint64_t count = 1;
  for (int64_t dim : shape) {
    input->add_shape(dim);
    count *= dim;
  }
  std::string bytes(count * core::ItemSize(dtype), '\0');
  for (char& b : bytes) b = static_cast<char>(rng());
  request.add_raw_input_contents(bytes);
  return request;
}

void SetParam(ModelInferRequest& request, const std::string& name,
              double value) {
  (*request.mutable_parameters())[name].set_double_param(value);
}

class OipTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = ServerOptions()) {
    options.shutdown_grace = absl::Seconds(5);
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->port());
    stub_ = GRPCInferenceService::NewStub(channel_);
  }

  grpc::Status Infer(const ModelInferRequest& request,
                     ModelInferResponse* response) {
    return stub_->ModelInfer(Context().get(), request, response);
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<GRPCInferenceService::Stub> stub_;
};

// Small raw contents are parsed with the request; large ones (16 KiB and
// more) are computed from the slices gRPC received them in.
TEST_F(OipTest, RawContentsOfEveryDatatypeMatchActivationV1BitForBit) {
  Start();
  auto v1_stub = v1::ActivationService::NewStub(channel_);
  std::mt19937 rng(23);
  for (const int64_t columns : {37, 7001}) {
    for (core::DataType dtype : core::kAllDataTypes) {
      for (const char* mode : {"documented", "keras"}) {
        if (!core::IsFloatingPoint(dtype) && std::string(mode) == "keras") {
          continue;
        }
        ModelInferRequest request = RawRequest(dtype, {3, columns}, rng);
        SetParam(request, "max_value", 4.0);
        SetParam(request, "negative_slope", 0.5);
        (*request.mutable_parameters())["threshold"].set_int64_param(-1);
        (*request.mutable_parameters())["mode"].set_string_param(mode);

        v1::ReluRequest v1_request;
        v1_request.mutable_input()->set_dtype(
            static_cast<v1::DataType>(static_cast<int>(dtype)));
        v1_request.mutable_input()->add_shape(3);
        v1_request.mutable_input()->add_shape(columns);
        v1_request.mutable_input()->set_raw_data(request.raw_input_contents(0));
        v1_request.mutable_params()->set_max_value(4.0);
        v1_request.mutable_params()->set_negative_slope(0.5);
        v1_request.mutable_params()->set_threshold(-1.0);
        v1_request.mutable_params()->set_mode(std::string(mode) == "keras"
                                                  ? v1::MODE_KERAS
                                                  : v1::MODE_DOCUMENTED);
        v1::ReluResponse v1_response;
        ASSERT_OK_GRPC(CallRelu(*v1_stub, v1_request, &v1_response));

        ModelInferResponse response;
        ASSERT_OK_GRPC(Infer(request, &response));
        const std::string name(wire::OipDataTypeName(dtype));
        EXPECT_EQ(response.model_name(), "relu");
        EXPECT_EQ(response.model_version(), "1");
        EXPECT_EQ(response.id(), "req-7");
        ASSERT_EQ(response.outputs_size(), 1);
        EXPECT_EQ(response.outputs(0).name(), "output");
        EXPECT_EQ(response.outputs(0).datatype(), name);
        EXPECT_THAT(response.outputs(0).shape(), ElementsAre(3, columns));
        EXPECT_FALSE(response.outputs(0).has_contents());
        ASSERT_EQ(response.raw_output_contents_size(), 1);
        EXPECT_EQ(response.raw_output_contents(0),
                  v1_response.output().raw_data())
            << name << " " << mode;
        // And what the engine computes from the same bytes.
        absl::StatusOr<core::ReluParams> params =
            wire::ParamsFromProto(v1_request.params());
        ASSERT_OK(params);
        std::string expected(request.raw_input_contents(0).size(), '\0');
        ASSERT_OK(core::Relu(*params, dtype,
                             request.raw_input_contents(0).data(),
                             expected.data(), 3 * columns));
        EXPECT_EQ(response.raw_output_contents(0), expected) << name;
      }
    }
  }
}

TEST_F(OipTest, LargeRawContentsKeepTheRequestsMeaning) {
  Start();
  std::mt19937 rng(29);
  // Two raw contents of 16 KiB: refused as ever (split parses one only).
  ModelInferRequest two = RawRequest(core::DataType::kInt8, {16384}, rng);
  two.add_raw_input_contents(two.raw_input_contents(0));
  ModelInferResponse response;
  ExpectStatus(Infer(two, &response), grpc::StatusCode::INVALID_ARGUMENT,
               "raw_input_contents has 2 entries; model relu takes 1 "
               "input");
  // A large payload one byte short: named with its size.
  ModelInferRequest short_one =
      RawRequest(core::DataType::kFloat32, {5000}, rng);
  short_one.mutable_raw_input_contents(0)->pop_back();
  ExpectStatus(Infer(short_one, &response), grpc::StatusCode::INVALID_ARGUMENT,
               "raw_input_contents[0] has 19999 bytes; shape [5000] of "
               "FP32 needs 20000");
  // Raw contents and typed contents at once.
  ModelInferRequest both = RawRequest(core::DataType::kFloat32, {5000}, rng);
  both.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1.0f);
  ExpectStatus(Infer(both, &response), grpc::StatusCode::INVALID_ARGUMENT,
               "inputs[0].contents and raw_input_contents are both set; "
               "set one");
}

TEST_F(OipTest, TypedContentsComeBackTyped) {
  Start();
  ModelInferRequest request;
  request.set_model_name("relu");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->add_shape(2);
  input->add_shape(3);
  SetParam(request, "max_value", 6.0);

  input->set_datatype("FP32");
  for (float v : {-2.0f, -0.5f, 0.0f, 0.5f, 7.0f, 3.25f}) {
    input->mutable_contents()->add_fp32_contents(v);
  }
  ModelInferResponse response;
  ASSERT_OK_GRPC(Infer(request, &response));
  EXPECT_EQ(response.raw_output_contents_size(), 0);
  EXPECT_THAT(response.outputs(0).contents().fp32_contents(),
              ElementsAre(0.0f, 0.0f, 0.0f, 0.5f, 6.0f, 3.25f));

  // INT8 travels in int_contents, computed as INT8.
  input->clear_contents();
  input->set_datatype("INT8");
  for (int v : {-128, -1, 0, 5, 7, 127}) {
    input->mutable_contents()->add_int_contents(v);
  }
  SetParam(request, "negative_slope", 0.5);
  response.Clear();
  ASSERT_OK_GRPC(Infer(request, &response));
  EXPECT_THAT(response.outputs(0).contents().int_contents(),
              ElementsAre(-64, 0, 0, 5, 6, 6));

  input->clear_contents();
  input->set_datatype("UINT64");
  for (uint64_t v : {0ull, 1ull, 5ull, 6ull, 7ull, ~0ull}) {
    input->mutable_contents()->add_uint64_contents(v);
  }
  response.Clear();
  ASSERT_OK_GRPC(Infer(request, &response));
  EXPECT_THAT(response.outputs(0).contents().uint64_contents(),
              ElementsAre(0u, 1u, 5u, 6u, 6u, 6u));

  input->clear_contents();
  input->set_datatype("FP64");
  for (double v : {-4.0, -1.0, 0.0, 1.5, 6.5, 2.0}) {
    input->mutable_contents()->add_fp64_contents(v);
  }
  response.Clear();
  ASSERT_OK_GRPC(Infer(request, &response));
  EXPECT_THAT(response.outputs(0).contents().fp64_contents(),
              ElementsAre(-2.0, -0.5, 0.0, 1.5, 6.0, 2.0));
}

TEST_F(OipTest, BadRequestsNameTheField) {
  ServerOptions options;
  options.max_elements = 1000;
  Start(options);
  std::mt19937 rng(5);
  struct Case {
    const char* what;
    std::function<void(ModelInferRequest&)> edit;
    grpc::StatusCode code;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"unknown model", [](auto& r) { r.set_model_name("resnet"); },
       grpc::StatusCode::NOT_FOUND,
       "unknown model \"resnet\"; this server serves \"relu\""},
      {"unknown version", [](auto& r) { r.set_model_version("2"); },
       grpc::StatusCode::NOT_FOUND,
       "unknown version \"2\" of model \"relu\"; it has version \"1\""},
      {"BOOL", [](auto& r) { r.mutable_inputs(0)->set_datatype("BOOL"); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0].datatype BOOL is not supported; model relu computes FP32, "
       "FP64, FP16, BF16, INT8, INT16, INT32, INT64, UINT8, UINT16, UINT32, "
       "UINT64"},
      {"BYTES", [](auto& r) { r.mutable_inputs(0)->set_datatype("BYTES"); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0].datatype BYTES is not supported"},
      {"no such datatype",
       [](auto& r) { r.mutable_inputs(0)->set_datatype("FLOAT32"); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0].datatype \"FLOAT32\" is no datatype of the protocol"},
      {"short raw",
       [](auto& r) { r.mutable_raw_input_contents(0)->resize(12); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "raw_input_contents[0] has 12 bytes; shape [2,2] of FP32 needs 16"},
      {"two encodings",
       [](auto& r) {
         r.mutable_inputs(0)->mutable_contents()->add_fp32_contents(1);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0].contents and raw_input_contents are both set; set one"},
      {"input name", [](auto& r) { r.mutable_inputs(0)->set_name("x"); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0].name \"x\" is no input of model relu; its input is "
       "\"input\""},
      {"two inputs", [](auto& r) { *r.add_inputs() = r.inputs(0); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs has 2 tensors; model relu takes 1 (\"input\")"},
      {"output name", [](auto& r) { r.add_outputs()->set_name("y"); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "outputs[0].name \"y\" is no output of model relu"},
      {"unknown parameter",
       [](auto& r) { (*r.mutable_parameters())["alpha"].set_double_param(1); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "unknown parameter \"alpha\"; model relu takes max_value, "
       "negative_slope, threshold and mode"},
      {"unknown parameters: the first in key order is named",
       [](auto& r) {
         for (const char* name : {"zeta", "mu", "beta", "omega", "kappa"}) {
           (*r.mutable_parameters())[name].set_double_param(1);
         }
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "unknown parameter \"beta\"; model relu takes max_value, "
       "negative_slope, threshold and mode"},
      {"string number",
       [](auto& r) {
         (*r.mutable_parameters())["max_value"].set_string_param("6");
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "parameters.max_value must be a number"},
      {"inexact int64",
       [](auto& r) {
         (*r.mutable_parameters())["threshold"].set_int64_param(
             (int64_t{1} << 53) + 1);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "parameters.threshold 9007199254740993 is not exactly representable "
       "as a double"},
      {"negative cap",
       [](auto& r) {
         (*r.mutable_parameters())["max_value"].set_double_param(-1);
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "parameters.max_value must be >= 0, got -1"},
      {"bad mode",
       [](auto& r) {
         (*r.mutable_parameters())["mode"].set_string_param("tf");
       },
       grpc::StatusCode::INVALID_ARGUMENT,
       "parameters.mode must be the string \"documented\" or \"keras\""},
      {"negative dim", [](auto& r) { r.mutable_inputs(0)->set_shape(0, -1); },
       grpc::StatusCode::INVALID_ARGUMENT,
       "inputs[0].shape[0] must be >= 0, got -1"},
      {"over max_elements",
       [](auto& r) { r.mutable_inputs(0)->set_shape(0, 2000); },
       grpc::StatusCode::RESOURCE_EXHAUSTED,
       "inputs[0].shape [2000,2] has 4000 elements; this server accepts at "
       "most 1000 (--max_elements)"},
  };
  for (const Case& c : cases) {
    ModelInferRequest request =
        RawRequest(core::DataType::kFloat32, {2, 2}, rng);
    c.edit(request);
    ModelInferResponse response;
    const grpc::Status status = Infer(request, &response);
    EXPECT_EQ(status.error_code(), c.code) << c.what;
    EXPECT_THAT(status.error_message(), HasSubstr(c.message)) << c.what;
  }

  // Typed contents: FP16 has no field; INT8 values must fit.
  ModelInferRequest request;
  request.set_model_name("relu");
  auto* input = request.add_inputs();
  input->set_name("input");
  input->set_datatype("FP16");
  input->add_shape(1);
  input->mutable_contents()->add_fp32_contents(1);
  ModelInferResponse response;
  grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "inputs[0].contents.fp32_contents is set; FP16 tensors travel in "
            "raw_input_contents only");
  input->set_datatype("INT8");
  input->clear_contents();
  input->mutable_contents()->add_int_contents(300);
  status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "inputs[0].contents.int_contents[0] = 300 is out of range for "
            "INT8");
}

TEST_F(OipTest, HealthAndMetadata) {
  Start();
  inference::ServerLiveResponse live;
  ASSERT_OK_GRPC(stub_->ServerLive(Context().get(), {}, &live));
  EXPECT_TRUE(live.live());
  inference::ServerReadyResponse ready;
  ASSERT_OK_GRPC(stub_->ServerReady(Context().get(), {}, &ready));
  EXPECT_TRUE(ready.ready());

  inference::ModelReadyRequest model;
  model.set_name("relu");
  inference::ModelReadyResponse model_ready;
  ASSERT_OK_GRPC(stub_->ModelReady(Context().get(), model, &model_ready));
  EXPECT_TRUE(model_ready.ready());
  model.set_name("relu6");
  const grpc::Status missing =
      stub_->ModelReady(Context().get(), model, &model_ready);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);

  inference::ServerMetadataResponse server;
  ASSERT_OK_GRPC(stub_->ServerMetadata(Context().get(), {}, &server));
  EXPECT_EQ(server.name(), "activation-service");
  EXPECT_EQ(server.version(), server_->info().version());
  EXPECT_THAT(server.extensions(), ::testing::Contains("binary_tensor_data"));

  inference::ModelMetadataRequest metadata_request;
  metadata_request.set_name("relu");
  metadata_request.set_version("1");
  inference::ModelMetadataResponse metadata;
  ASSERT_OK_GRPC(
      stub_->ModelMetadata(Context().get(), metadata_request, &metadata));
  EXPECT_EQ(metadata.name(), "relu");
  EXPECT_THAT(metadata.versions(), ElementsAre("1"));
  ASSERT_EQ(metadata.inputs_size(), 1);
  EXPECT_EQ(metadata.inputs(0).name(), "input");
  EXPECT_EQ(metadata.inputs(0).datatype(), "FP32");
  EXPECT_THAT(metadata.inputs(0).shape(), ElementsAre(-1));
  ASSERT_EQ(metadata.outputs_size(), 1);
  EXPECT_EQ(metadata.outputs(0).name(), "output");
}

TEST_F(OipTest, StreamAnswersEachRequestAndReportsErrorsInBand) {
  Start();
  std::mt19937 rng(9);
  auto context = Context();
  auto stream = stub_->ModelStreamInfer(context.get());
  ModelInferRequest good = RawRequest(core::DataType::kFloat32, {4}, rng);
  ModelInferRequest bad = good;
  bad.set_model_name("nope");
  bad.set_id("bad-1");
  for (const ModelInferRequest* request : {&good, &bad, &good}) {
    ASSERT_TRUE(stream->Write(*request));
    inference::ModelStreamInferResponse response;
    ASSERT_TRUE(stream->Read(&response));
    if (request == &bad) {
      EXPECT_EQ(response.error_message(),
                "unknown model \"nope\"; this server serves \"relu\"");
      EXPECT_EQ(response.infer_response().id(), "bad-1");
    } else {
      EXPECT_EQ(response.error_message(), "");
      EXPECT_EQ(response.infer_response().id(), "req-7");
      ASSERT_EQ(response.infer_response().raw_output_contents_size(), 1);
      std::string expected(16, '\0');
      ASSERT_OK(core::Relu(core::ReluParams(), core::DataType::kFloat32,
                           good.raw_input_contents(0).data(), expected.data(),
                           4));
      EXPECT_EQ(response.infer_response().raw_output_contents(0), expected);
    }
  }
  stream->WritesDone();
  ASSERT_OK_GRPC(stream->Finish());
}

TEST_F(OipTest, TokenGuardsInferenceButNotProbes) {
  ServerOptions options;
  options.auth_token = "s3cret";
  options.allow_insecure_token = true;
  Start(options);
  inference::ServerLiveResponse live;
  ASSERT_OK_GRPC(stub_->ServerLive(Context().get(), {}, &live));
  inference::ServerReadyResponse ready;
  ASSERT_OK_GRPC(stub_->ServerReady(Context().get(), {}, &ready));

  std::mt19937 rng(3);
  ModelInferRequest request = RawRequest(core::DataType::kFloat32, {4}, rng);
  ModelInferResponse response;
  grpc::Status status = Infer(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  inference::ServerMetadataResponse server;
  status = stub_->ServerMetadata(Context().get(), {}, &server);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  auto context = Context();
  context->AddMetadata("authorization", "Bearer s3cret");
  ASSERT_OK_GRPC(stub_->ModelInfer(context.get(), request, &response));
}

TEST_F(OipTest, CallsAreCountedLikeEveryOtherCall) {
  ServerOptions options;
  options.metrics_address = "127.0.0.1:0";
  Start(options);
  ASSERT_NE(server_->metrics(), nullptr);
  std::mt19937 rng(4);
  ModelInferRequest request = RawRequest(core::DataType::kInt16, {10}, rng);
  ModelInferResponse response;
  ASSERT_OK_GRPC(Infer(request, &response));
  request.set_model_name("other");
  EXPECT_EQ(Infer(request, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
  const auto samples =
      ::activation::testing::ParseSamples(server_->metrics()->Scrape());
  const std::string labels =
      "grpc_method=\"ModelInfer\",grpc_service=\"inference."
      "GRPCInferenceService\",grpc_type=\"unary\"";
  EXPECT_EQ(
      samples.at("grpc_server_handled_total{grpc_code=\"OK\"," + labels + "}"),
      1);
  EXPECT_EQ(samples.at("grpc_server_handled_total{grpc_code=\"NotFound\"," +
                       labels + "}"),
            1);
  EXPECT_EQ(samples.at("activation_elements_total{dtype=\"INT16\"}"), 10);
  EXPECT_EQ(
      samples.at("activation_payload_bytes_total{direction=\"received\"}"), 40);
  EXPECT_EQ(samples.at("activation_payload_bytes_total{direction=\"sent\"}"),
            20);
}

}  // namespace
}  // namespace activation::server
