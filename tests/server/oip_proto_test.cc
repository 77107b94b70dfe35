// proto/inference/grpc_predict_v2.proto is wire-compatible with KServe's
// published grpc_predict_v2.proto (and Triton's extensions of it): every
// message, field name and number, and every method, checked against the
// table below, transcribed from the published files.

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "gtest/gtest.h"
#include "inference/grpc_predict_v2.pb.h"

namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::FieldDescriptor;

void List(const Descriptor& message, std::vector<std::string>& out) {
  std::string line = message.full_name() + ":";
  for (int i = 0; i < message.field_count(); ++i) {
    const FieldDescriptor& field = *message.field(i);
    line += " " + field.name() + "=" + std::to_string(field.number());
    if (field.is_repeated() && !field.is_map()) line += "[]";
  }
  out.push_back(line);
  for (int i = 0; i < message.nested_type_count(); ++i) {
    if (!message.nested_type(i)->options().map_entry()) {
      List(*message.nested_type(i), out);
    }
  }
}

TEST(OipProtoTest, MessagesAndFieldNumbersAreThePublishedOnes) {
  const auto& file = *inference::ModelInferRequest::descriptor()->file();
  EXPECT_EQ(file.package(), "inference");
  std::vector<std::string> fields;
  for (int i = 0; i < file.message_type_count(); ++i) {
    List(*file.message_type(i), fields);
  }
  EXPECT_THAT(
      fields,
      ::testing::ElementsAre(
          "inference.ServerLiveRequest:",
          "inference.ServerLiveResponse: live=1",
          "inference.ServerReadyRequest:",
          "inference.ServerReadyResponse: ready=1",
          "inference.ModelReadyRequest: name=1 version=2",
          "inference.ModelReadyResponse: ready=1",
          "inference.ServerMetadataRequest:",
          "inference.ServerMetadataResponse: name=1 version=2 "
          "extensions=3[]",
          "inference.ModelMetadataRequest: name=1 version=2",
          "inference.ModelMetadataResponse: name=1 versions=2[] platform=3 "
          "inputs=4[] outputs=5[]",
          "inference.ModelMetadataResponse.TensorMetadata: name=1 "
          "datatype=2 shape=3[]",
          "inference.ModelInferRequest: model_name=1 model_version=2 id=3 "
          "parameters=4 inputs=5[] outputs=6[] raw_input_contents=7[]",
          "inference.ModelInferRequest.InferInputTensor: name=1 datatype=2 "
          "shape=3[] parameters=4 contents=5",
          "inference.ModelInferRequest.InferRequestedOutputTensor: name=1 "
          "parameters=2",
          "inference.ModelInferResponse: model_name=1 model_version=2 id=3 "
          "parameters=4 outputs=5[] raw_output_contents=6[]",
          "inference.ModelInferResponse.InferOutputTensor: name=1 "
          "datatype=2 shape=3[] parameters=4 contents=5",
          "inference.ModelStreamInferResponse: error_message=1 "
          "infer_response=2",
          "inference.InferParameter: bool_param=1 int64_param=2 "
          "string_param=3 double_param=4 uint64_param=5",
          "inference.InferTensorContents: bool_contents=1[] "
          "int_contents=2[] int64_contents=3[] uint_contents=4[] "
          "uint64_contents=5[] fp32_contents=6[] fp64_contents=7[] "
          "bytes_contents=8[]"));
}

TEST(OipProtoTest, ServiceHasThePublishedMethods) {
  const auto& file = *inference::ModelInferRequest::descriptor()->file();
  ASSERT_EQ(file.service_count(), 1);
  const auto& service = *file.service(0);
  EXPECT_EQ(service.full_name(), "inference.GRPCInferenceService");
  std::vector<std::string> methods;
  for (int i = 0; i < service.method_count(); ++i) {
    const auto& m = *service.method(i);
    methods.push_back(m.name() + "(" + (m.client_streaming() ? "stream " : "") +
                      m.input_type()->name() + ") " +
                      (m.server_streaming() ? "stream " : "") +
                      m.output_type()->name());
  }
  EXPECT_THAT(
      methods,
      ::testing::ElementsAre(
          "ServerLive(ServerLiveRequest) ServerLiveResponse",
          "ServerReady(ServerReadyRequest) ServerReadyResponse",
          "ModelReady(ModelReadyRequest) ModelReadyResponse",
          "ServerMetadata(ServerMetadataRequest) ServerMetadataResponse",
          "ModelMetadata(ModelMetadataRequest) ModelMetadataResponse",
          "ModelInfer(ModelInferRequest) ModelInferResponse",
          "ModelStreamInfer(stream ModelInferRequest) stream "
          "ModelStreamInferResponse"));
}

}  // namespace
