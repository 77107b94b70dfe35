// End to end, the Open Inference Protocol over HTTP/REST: a real server
// with its HTTP front on a loopback port, called with a raw HTTP/1.1
// client. Every datatype, as JSON numbers and as binary tensor data,
// computes what core::Relu computes, bit for bit; every error has its HTTP
// status and a message naming what was wrong; slow clients are cut off
// without holding others up; HTTPS serves with the server's TLS files.

#include <stdlib.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "server/call_gate.h"
#include "server/oip.h"
#include "server/options.h"
#include "server/server.h"
#include "server/status.h"
#include "tests/testing/http_client.h"
#include "tests/testing/https_client.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_server.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

using ::activation::testing::HttpConnection;
using ::activation::testing::HttpRequest;
using ::activation::testing::HttpResponse;
using ::activation::testing::HttpsRequest;
using ::activation::testing::StartServer;
using ::activation::testing::TlsClientOptions;
using ::testing::HasSubstr;

constexpr char kInfer[] = "/v2/models/relu/infer";

// Returns `value` as the shortest JSON number that reads back to it.
template <typename T>
std::string NumberText(T value) {
  char buffer[32];
  if constexpr (std::is_same_v<T, core::Float16>) {
    return NumberText(core::HalfToFloat(value.bits));
  } else if constexpr (std::is_same_v<T, core::BFloat16>) {
    return NumberText(core::BFloat16ToFloat(value.bits));
  } else {
    return std::string(
        buffer, std::to_chars(buffer, buffer + sizeof(buffer), value).ptr);
  }
}

// Parses a number the server printed back into the element type.
template <typename T>
T ParseNumber(const std::string& text) {
  if constexpr (std::is_same_v<T, core::Float16> ||
                std::is_same_v<T, core::BFloat16>) {
    const float f = ParseNumber<float>(text);
    return T{std::is_same_v<T, core::Float16> ? core::FloatToHalf(f)
                                              : core::FloatToBFloat16(f)};
  } else {
    T value{};
    const auto result =
        std::from_chars(text.data(), text.data() + text.size(), value);
    EXPECT_EQ(result.ptr, text.data() + text.size()) << text;
    return value;
  }
}

bool IsFinite(core::DataType dtype, const char* bytes) {
  return core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    T value;
    std::memcpy(&value, bytes, sizeof(T));
    if constexpr (std::is_same_v<T, core::Float16>) {
      return std::isfinite(core::HalfToFloat(value.bits));
    } else if constexpr (std::is_same_v<T, core::BFloat16>) {
      return std::isfinite(core::BFloat16ToFloat(value.bits));
    } else if constexpr (std::is_floating_point_v<T>) {
      return std::isfinite(value);
    } else {
      return true;
    }
  });
}

// `count` random elements of `dtype` (finite ones only, for JSON).
std::string RandomElements(core::DataType dtype, int count, bool finite,
                           std::mt19937& rng) {
  const size_t size = core::ItemSize(dtype);
  std::string bytes;
  while (bytes.size() < count * size) {
    std::string element(size, '\0');
    for (char& b : element) b = static_cast<char>(rng());
    if (!finite || IsFinite(dtype, element.data())) bytes += element;
  }
  return bytes;
}

std::string JsonNumbers(core::DataType dtype, const std::string& bytes) {
  return core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::vector<std::string> texts;
    for (size_t i = 0; i < bytes.size(); i += sizeof(T)) {
      T value;
      std::memcpy(&value, bytes.data() + i, sizeof(T));
      texts.push_back(NumberText(value));
    }
    return absl::StrCat("[", absl::StrJoin(texts, ","), "]");
  });
}

// The elements of a JSON response's output data, as bytes of `dtype`.
std::string OutputBytes(core::DataType dtype, const rapidjson::Value& data) {
  return core::VisitDataType(dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    std::string bytes;
    for (const auto& number : data.GetArray()) {
      const T value = ParseNumber<T>(number.GetString());
      bytes.append(reinterpret_cast<const char*>(&value), sizeof(T));
    }
    return bytes;
  });
}

rapidjson::Document ParseJson(const std::string& text) {
  rapidjson::Document document;
  document.Parse<rapidjson::kParseNumbersAsStringsFlag |
                 rapidjson::kParseNanAndInfFlag>(text.c_str());
  EXPECT_FALSE(document.HasParseError()) << text;
  return document;
}

std::string Expected(core::DataType dtype, const std::string& input,
                     const core::ReluParams& params) {
  std::string output(input.size(), '\0');
  EXPECT_TRUE(core::Relu(params, dtype, input.data(), output.data(),
                         input.size() / core::ItemSize(dtype))
                  .ok());
  return output;
}

class HttpTest : public ::testing::Test {
 protected:
  void Start(ServerOptions options = ServerOptions()) {
    options.http_address = "127.0.0.1:0";
    options.metrics_address = "127.0.0.1:0";
    options.shutdown_grace = absl::Seconds(5);
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    port_ = server_->http_port();
    ASSERT_GT(port_, 0);
  }

  HttpResponse Post(const std::string& body,
                    std::initializer_list<std::string> headers = {},
                    const std::string& path = kInfer) {
    absl::StatusOr<HttpResponse> response =
        HttpRequest(port_, "POST", path, body, headers);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse();
  }

  HttpResponse Get(const std::string& path,
                   std::initializer_list<std::string> headers = {}) {
    absl::StatusOr<HttpResponse> response =
        HttpRequest(port_, "GET", path, "", headers);
    EXPECT_TRUE(response.ok()) << response.status();
    return response.ok() ? *response : HttpResponse();
  }

  double Sample(const std::string& series) {
    return testing::ParseSamples(server_->metrics()->Scrape())[series];
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
};

TEST_F(HttpTest, EveryDatatypeAsJsonAndAsBinaryMatchesCoreReluBitForBit) {
  Start();
  std::mt19937 rng(7);
  for (core::DataType dtype : core::kAllDataTypes) {
    for (const char* mode : {"documented", "keras"}) {
      const bool keras = std::string(mode) == "keras";
      if (!core::IsFloatingPoint(dtype) && keras) continue;
      core::ReluParams params;
      params.max_value = 4.0;
      params.negative_slope = 0.5;
      params.threshold = -1.0;
      params.mode = keras ? core::Mode::kKeras : core::Mode::kDocumented;
      const std::string name(wire::OipDataTypeName(dtype));
      const std::string head = absl::StrCat(
          R"({"id":"r-1","parameters":{"max_value":4,"negative_slope":0.5,)",
          R"("threshold":-1,"mode":")", mode,
          R"("},"inputs":[{"name":"input",)", R"("shape":[3,37],"datatype":")",
          name, "\",");
      SCOPED_TRACE(absl::StrCat(name, " ", mode));

      // JSON numbers both ways.
      const std::string input = RandomElements(dtype, 111, true, rng);
      const HttpResponse json = Post(
          absl::StrCat(head, R"("data":)", JsonNumbers(dtype, input), "}]}"));
      ASSERT_EQ(json.code, 200) << json.body;
      EXPECT_EQ(json.Header("Content-Type"), "application/json");
      const rapidjson::Document answer = ParseJson(json.body);
      EXPECT_STREQ(answer["model_name"].GetString(), "relu");
      EXPECT_STREQ(answer["model_version"].GetString(), "1");
      EXPECT_STREQ(answer["id"].GetString(), "r-1");
      const rapidjson::Value& output = answer["outputs"][0];
      EXPECT_STREQ(output["name"].GetString(), "output");
      EXPECT_STREQ(output["datatype"].GetString(), name.c_str());
      EXPECT_STREQ(output["shape"][0].GetString(), "3");
      EXPECT_STREQ(output["shape"][1].GetString(), "37");
      EXPECT_EQ(OutputBytes(dtype, output["data"]),
                Expected(dtype, input, params));

      // Raw bytes both ways, NaNs and infinities too.
      const std::string raw = RandomElements(dtype, 111, false, rng);
      const std::string json_part = absl::StrCat(
          head, R"("parameters":{"binary_data_size":)", raw.size(),
          R"(}}],"outputs":[{"name":"output","parameters":{"binary_data":true}}]})");
      const HttpResponse binary = Post(
          json_part + raw, {absl::StrCat("Inference-Header-Content-Length: ",
                                         json_part.size())});
      ASSERT_EQ(binary.code, 200) << binary.body;
      EXPECT_EQ(binary.Header("Content-Type"), "application/octet-stream");
      size_t json_size = 0;
      ASSERT_TRUE(absl::SimpleAtoi(
          binary.Header("Inference-Header-Content-Length"), &json_size));
      ASSERT_EQ(binary.body.size(), json_size + raw.size());
      const rapidjson::Document binary_answer =
          ParseJson(binary.body.substr(0, json_size));
      EXPECT_STREQ(binary_answer["outputs"][0]["parameters"]["binary_data_size"]
                       .GetString(),
                   absl::StrCat(raw.size()).c_str());
      EXPECT_FALSE(binary_answer["outputs"][0].HasMember("data"));
      EXPECT_EQ(binary.body.substr(json_size), Expected(dtype, raw, params));
    }
  }
}

TEST_F(HttpTest, BinaryInputWithJsonOutputAndNestedData) {
  Start();
  const std::vector<float> values = {-2.0f, 0.5f, 7.0f, -0.25f, 3.0f, 1e-3f};
  std::string raw(reinterpret_cast<const char*>(values.data()),
                  values.size() * sizeof(float));
  const std::string json_part =
      R"({"parameters":{"max_value":6},"inputs":[{"name":"input","shape":[2,3],)"
      R"("datatype":"FP32","parameters":{"binary_data_size":24}}]})";
  const HttpResponse binary = Post(
      json_part + raw,
      {absl::StrCat("Inference-Header-Content-Length: ", json_part.size())});
  ASSERT_EQ(binary.code, 200) << binary.body;
  EXPECT_THAT(binary.body, HasSubstr(R"("data":[0,0.5,6,0,3,0.001])"));
  EXPECT_EQ(binary.Header("Inference-Header-Content-Length"), "");

  // Nested rows, the binary output asked for by the request's parameter.
  const HttpResponse nested = Post(
      R"({"inputs":[{"name":"input","datatype":"INT16","shape":[2,2],)"
      R"("data":[[-3,4],[5,-6]]}],"parameters":{"binary_data_output":true}})");
  ASSERT_EQ(nested.code, 200) << nested.body;
  ASSERT_EQ(nested.Header("Inference-Header-Content-Length"),
            absl::StrCat(nested.body.size() - 8));
  const std::vector<int16_t> expected = {0, 4, 5, 0};
  EXPECT_EQ(nested.body.substr(nested.body.size() - 8),
            std::string(reinterpret_cast<const char*>(expected.data()), 8));

  // Nested --max_rank (64) deep: the reader recurses once a level, on one
  // of civetweb's threads (small stacks; the ASan build checks them).
  std::string shape = "1";
  for (int i = 1; i < 64; ++i) shape += ",1";
  const HttpResponse deep = Post(absl::StrCat(
      R"({"inputs":[{"name":"input","datatype":"FP32","shape":[)", shape,
      R"(],"data":)", std::string(64, '['), "-4", std::string(64, ']'), "}]}"));
  ASSERT_EQ(deep.code, 200) << deep.body;
  EXPECT_THAT(deep.body, HasSubstr(R"("data":[0])"));
}

TEST_F(HttpTest, NumbersConvertExactlyAndPrintShortest) {
  Start();
  auto data = [&](const std::string& dtype, const std::string& numbers) {
    const HttpResponse r =
        Post(absl::StrCat(R"({"inputs":[{"name":"input","datatype":")", dtype,
                          R"(","shape":[-1],"data":)", numbers, "}]}"));
    return r;
  };
  // shape -1 is no shape: the error names it.
  EXPECT_THAT(data("FP32", "[1]").body, HasSubstr("inputs[0].shape"));
  auto ok = [&](const std::string& dtype, const std::string& numbers) {
    const HttpResponse r = Post(absl::StrCat(
        R"({"inputs":[{"name":"input","datatype":")", dtype, R"(","shape":[)",
        std::count(numbers.begin(), numbers.end(), ',') + 1, R"(],"data":[)",
        numbers, "]}]}"));
    EXPECT_EQ(r.code, 200) << r.body;
    const size_t start = r.body.find("\"data\":[") + 8;
    return r.body.substr(start, r.body.find(']', start) - start);
  };
  // float32: correctly rounded, printed shortest.
  EXPECT_EQ(ok("FP32", "0.1,16777217,1e-45,3.4028235e38"),
            "0.1,16777216,1e-45,3.4028235e+38");
  EXPECT_EQ(ok("FP64", "0.1,1e308,5e-324"), "0.1,1e+308,5e-324");
  // FP16: to nearest, ties to even; printed as the exact value (a float32).
  EXPECT_EQ(ok("FP16", "0.1,65504,5.960464477539063e-8,1.00048828125"),
            "0.099975586,65504,5.9604645e-08,1");
  // BF16: 1 + 2^-8 is half-way between 1 and 1 + 2^-7: even is 1.
  EXPECT_EQ(ok("BF16", "1.00390625,1.0039063,-2"), "1,1.0078125,0");
  EXPECT_EQ(ok("UINT64", "18446744073709551615,0"), "18446744073709551615,0");
  EXPECT_EQ(ok("INT64", "-9223372036854775808,9223372036854775807"),
            "0,9223372036854775807");
  // Out of range for the datatype.
  const HttpResponse over = data("FP16", "[1, 65520]");
  EXPECT_EQ(over.code, 400);
}

TEST_F(HttpTest, BadRequestsGetTheirStatusAndAMessageNamingTheField) {
  Start();
  const std::string input =
      R"({"inputs":[{"name":"input","datatype":"FP32","shape":[2],)";
  struct Case {
    std::string body;
    int code;
    std::string message;
  } cases[] = {
      {"{", 400,
       "the body is not valid JSON: Missing a name for object member"},
      {input + R"("data":[1,"2"]}]})", 400,
       R"(inputs[0].data[1]: expected a number, got a string)"},
      {input + R"("data":[1]}]})", 400,
       "inputs[0].data has 1 values; shape [2] needs 2"},
      {input + R"("data":[1,2]}],"parameters":{"alpha":1}})", 400,
       R"(unknown parameter \"alpha\")"},
      {input + R"("data":[1,2]}],"parameters":{"max_value":-1}})", 400,
       "parameters.max_value must be >= 0, got -1"},
      {input + R"("data":[1,2],"color":1}]})", 400,
       "unknown field inputs[0].color"},
      {R"({"inputs":[{"name":"x","datatype":"FP32","shape":[1],"data":[1]}]})",
       400, R"(inputs[0].name \"x\" is no input of model relu)"},
      {R"({"inputs":[{"name":"input","datatype":"BOOL","shape":[1],"data":[1]}]})",
       400, "inputs[0].datatype BOOL is not supported"},
      {R"({"inputs":[{"name":"input","datatype":"INT8","shape":[1],"data":[300]}]})",
       400, R"(inputs[0].data[0]: \"300\" is out of range for INT8)"},
      {R"({"inputs":[]})", 400, "inputs is missing or empty"},
      {input + R"("data":[1,2]}],"outputs":[{"name":"y"}]})", 400,
       R"(outputs[0].name \"y\" is no output of model relu)"},
      {input + R"("data":[1,2],"parameters":{"binary_data_size":8}}]})", 400,
       "inputs[0] has both data and parameters.binary_data_size"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.body);
    const HttpResponse r = Post(c.body);
    EXPECT_EQ(r.code, c.code);
    EXPECT_EQ(r.Header("Content-Type"), "application/json");
    EXPECT_THAT(r.body, HasSubstr(c.message));
    EXPECT_EQ(r.body.rfind("{\"error\":\"", 0), 0u) << r.body;
  }
  // Binary data that does not match what the JSON says.
  const std::string json_part =
      input + R"("parameters":{"binary_data_size":8}}]})";
  const HttpResponse short_binary = Post(
      json_part + "1234",
      {absl::StrCat("Inference-Header-Content-Length: ", json_part.size())});
  EXPECT_EQ(short_binary.code, 400);
  EXPECT_THAT(short_binary.body,
              HasSubstr("inputs[0].parameters.binary_data_size is 8 but 4 "
                        "bytes follow the JSON"));

  EXPECT_EQ(Get("/v2/models/relu/infer").code, 405);
  const HttpResponse not_allowed = Get(kInfer);
  EXPECT_EQ(not_allowed.Header("Allow"), "POST");
  EXPECT_THAT(
      not_allowed.body,
      HasSubstr(R"(\"GET\" is not allowed on /v2/models/{model}/infer)"));
  const HttpResponse unknown_model = Post("{}", {}, "/v2/models/resnet/infer");
  EXPECT_EQ(unknown_model.code, 404);
  EXPECT_THAT(unknown_model.body, HasSubstr(R"(unknown model \"resnet\")"));
  const HttpResponse unknown_version = Get("/v2/models/relu/versions/2/ready");
  EXPECT_EQ(unknown_version.code, 404);
  EXPECT_THAT(unknown_version.body, HasSubstr(R"(unknown version \"2\")"));
  const HttpResponse no_route = Get("/v1/models");
  EXPECT_EQ(no_route.code, 404);
  EXPECT_THAT(no_route.body, HasSubstr(R"(no route \"/v1/models\")"));
}

TEST_F(HttpTest, HealthAndMetadataRoutes) {
  Start();
  EXPECT_EQ(Get("/v2/health/live").code, 200);
  EXPECT_EQ(Get("/v2/health/ready").code, 200);
  EXPECT_EQ(Get("/v2/models/relu/ready").code, 200);
  EXPECT_EQ(Get("/v2/models/relu/versions/1/ready").code, 200);
  const HttpResponse server = Get("/v2");
  EXPECT_EQ(server.code, 200);
  EXPECT_THAT(server.body, HasSubstr(R"("name":"activation-service")"));
  EXPECT_THAT(server.body, HasSubstr(R"("extensions":["binary_tensor_data"])"));
  const HttpResponse model = Get("/v2/models/relu/versions/1");
  EXPECT_EQ(model.code, 200);
  EXPECT_EQ(
      model.body,
      R"({"name":"relu","versions":["1"],"platform":"activation-service",)"
      R"("inputs":[{"name":"input","datatype":"FP32","shape":[-1]}],)"
      R"("outputs":[{"name":"output","datatype":"FP32","shape":[-1]}]})");
}

TEST_F(HttpTest, TheTokenGuardsInferAndMetadataButNotHealth) {
  ServerOptions options;
  options.auth_token = "s3cret";
  options.allow_insecure_token = true;
  Start(options);
  const std::string body =
      R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1],"data":[-1]}]})";
  const HttpResponse without = Post(body);
  EXPECT_EQ(without.code, 401);
  EXPECT_THAT(without.body, HasSubstr("authorization"));
  EXPECT_EQ(Post(body, {"Authorization: Bearer wrong"}).code, 401);
  EXPECT_EQ(Get("/v2").code, 401);
  EXPECT_EQ(Get("/v2/models/relu").code, 401);
  const HttpResponse with = Post(body, {"Authorization: Bearer s3cret"});
  EXPECT_EQ(with.code, 200) << with.body;
  EXPECT_THAT(with.body, HasSubstr(R"("data":[0])"));
  EXPECT_EQ(Get("/v2", {"Authorization: Bearer s3cret"}).code, 200);
  EXPECT_EQ(Get("/v2/health/live").code, 200);
  EXPECT_EQ(Get("/v2/health/ready").code, 200);
  EXPECT_EQ(Get("/v2/models/relu/ready").code, 200);
  EXPECT_EQ(Sample("activation_rejected_total{reason=\"unauthenticated\"}"), 4);
}

TEST_F(HttpTest, ABodyOverMaxMessageBytesIsRefusedBeforeItIsRead) {
  ServerOptions options;
  options.max_message_bytes = 128 << 10;
  Start(options);
  HttpConnection connection(port_);
  // The headers only: the server must answer without waiting for the body.
  ASSERT_TRUE(connection.Write(
      absl::StrCat("POST ", kInfer, " HTTP/1.1\r\nHost: x\r\nContent-Length: ",
                   (128 << 10) + 1, "\r\n\r\n")));
  absl::StatusOr<HttpResponse> response = connection.ReadResponse();
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->code, 413);
  EXPECT_THAT(response->body,
              HasSubstr("the request body has 131073 bytes, more than the "
                        "limit of 131072 (--max_message_bytes)"));
  EXPECT_TRUE(connection.ClosedWithin(std::chrono::seconds(2)));
}

TEST_F(HttpTest, KeepAliveServesTwoRequestsOnOneConnection) {
  Start();
  HttpConnection connection(port_);
  const std::string body =
      R"({"inputs":[{"name":"input","datatype":"FP32","shape":[2],"data":[-1,2]}]})";
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<HttpResponse> response =
        connection.Request("POST", kInfer, body);
    ASSERT_TRUE(response.ok()) << response.status();
    EXPECT_EQ(response->code, 200);
    EXPECT_EQ(response->Header("Connection"), "keep-alive");
    EXPECT_THAT(response->body, HasSubstr(R"("data":[0,2])"));
  }
  absl::StatusOr<HttpResponse> live =
      connection.Request("GET", "/v2/health/live");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->code, 200);
}

TEST_F(HttpTest, MetricsCountHttpRequestsByRouteAndStatus) {
  Start();
  const std::string body =
      R"({"inputs":[{"name":"input","datatype":"INT32","shape":[3],"data":[-1,2,3]}]})";
  EXPECT_EQ(Post(body).code, 200);
  EXPECT_EQ(Post(body).code, 200);
  EXPECT_EQ(Post("{").code, 400);
  EXPECT_EQ(Get("/nowhere").code, 404);
  EXPECT_EQ(Get(kInfer).code, 405);
  const std::string infer = R"(method="POST",path="/v2/models/{model}/infer")";
  EXPECT_EQ(Sample(absl::StrCat("http_server_requests_total{code=\"200\",",
                                infer, "}")),
            2);
  EXPECT_EQ(Sample(absl::StrCat("http_server_requests_total{code=\"400\",",
                                infer, "}")),
            1);
  EXPECT_EQ(Sample(absl::StrCat("http_server_request_duration_seconds_count{",
                                infer, "}")),
            3);
  EXPECT_EQ(Sample("http_server_requests_total{code=\"404\",method=\"GET\","
                   "path=\"other\"}"),
            1);
  EXPECT_EQ(Sample("http_server_requests_total{code=\"405\",method=\"GET\","
                   "path=\"/v2/models/{model}/infer\"}"),
            1);
  EXPECT_EQ(Sample("activation_elements_total{dtype=\"INT32\"}"), 6);
  EXPECT_EQ(Sample("activation_payload_bytes_total{direction=\"received\"}"),
            24);
  // The gRPC families have no HTTP series.
  EXPECT_THAT(server_->metrics()->Scrape(),
              ::testing::Not(HasSubstr("grpc_method=\"/v2")));
}

TEST_F(HttpTest, DrainingAnswers503ThenStops) {
  ServerOptions options;
  options.drain_delay = absl::Seconds(1);
  Start(options);
  std::thread shutdown([this] { server_->Shutdown(); });
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  int ready = 200;
  while (ready == 200 && std::chrono::steady_clock::now() < give_up) {
    ready = Get("/v2/health/ready").code;
  }
  EXPECT_EQ(ready, 503);
  const HttpResponse infer = Post(
      R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1],"data":[1]}]})");
  EXPECT_EQ(infer.code, 503);
  EXPECT_THAT(infer.body, HasSubstr("server is shutting down"));
  EXPECT_EQ(Get("/v2/models/relu/ready").code, 503);
  EXPECT_EQ(Get("/v2/health/live").code, 200);
  shutdown.join();
  EXPECT_FALSE(HttpConnection(port_).connected());
}

// Slowloris: connections that send half a header and stall hold a thread
// each until the read timeout, not the server.
TEST_F(HttpTest, StalledClientsDoNotHoldUpOthersAndAreClosedAtTheTimeout) {
  ServerOptions options;
  options.http_threads = 8;
  options.http_request_timeout = absl::Seconds(1);
  Start(options);
  std::vector<std::unique_ptr<HttpConnection>> stalled;
  for (int i = 0; i < 6; ++i) {
    stalled.push_back(std::make_unique<HttpConnection>(port_));
    ASSERT_TRUE(stalled.back()->Write(
        absl::StrCat("POST ", kInfer, " HTTP/1.1\r\nHost: x\r\nContent-")));
  }
  const auto start = std::chrono::steady_clock::now();
  const HttpResponse served = Post(
      R"({"inputs":[{"name":"input","datatype":"FP32","shape":[1],"data":[-5]}]})");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(served.code, 200);
  EXPECT_LT(took, std::chrono::milliseconds(300));
  // Each stalled connection is closed within the timeout (plus slack), all
  // of them in about one timeout, not one after the other.
  for (auto& connection : stalled) {
    EXPECT_TRUE(connection->ClosedWithin(std::chrono::milliseconds(2500)));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// HTTPS with the server's TLS files, certificates made once for the suite:
// a CA, a server certificate for 127.0.0.1 and a client certificate it
// signs, and another CA with its own client certificate.
class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir = ::testing::TempDir() + "http_tls.XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) return;
    dir_ = new std::string(dir);
    ready_ = testing::MakeCa(dir, "ca") && testing::MakeCa(dir, "other_ca") &&
             testing::MakeLeaf(dir, "server", "ca", "localhost",
                               testing::kServerExtensions) &&
             testing::MakeLeaf(dir, "client", "ca", "client",
                               testing::kClientExtensions) &&
             testing::MakeLeaf(dir, "other_client", "other_ca", "other",
                               testing::kClientExtensions);
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) testing::RunQuietly("rm -rf '" + *dir_ + "'");
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(ready_) << "openssl could not make the test certificates";
  }

  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  // Starts HTTPS with server.pem; with `client_ca`, clients must present a
  // certificate it signed.
  void Start(const std::string& client_ca = "", const std::string& token = "") {
    ServerOptions options;
    options.http_address = "127.0.0.1:0";
    options.tls_cert_file = Path("server.pem");
    options.tls_key_file = Path("server.key");
    if (!client_ca.empty()) options.tls_client_ca_file = Path(client_ca);
    options.auth_token = token;
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    port_ = server_->http_port();
    ASSERT_GT(port_, 0);
  }

  // Trusts ca.pem; presents `client`.pem unless empty.
  static TlsClientOptions Client(const std::string& client = "") {
    TlsClientOptions tls;
    tls.ca_file = Path("ca.pem");
    if (!client.empty()) {
      tls.cert_file = Path(client + ".pem");
      tls.key_file = Path(client + ".key");
    }
    return tls;
  }

  absl::StatusOr<HttpResponse> Infer(
      const TlsClientOptions& tls,
      std::initializer_list<std::string> headers = {}) {
    return HttpsRequest(
        port_, tls, "POST", kInfer,
        R"({"inputs":[{"name":"input","datatype":"FP32","shape":[3],)"
        R"("data":[-2,0.5,9]}]})",
        headers);
  }

  static inline std::string* dir_ = nullptr;
  static inline bool ready_ = false;
  std::unique_ptr<Server> server_;
  int port_ = 0;
};

constexpr char kInferred[] = R"("data":[0,0.5,9])";

TEST_F(HttpsTest, InferOverHttpsWithTheServersCertificate) {
  Start();
  const absl::StatusOr<HttpResponse> response = Infer(Client());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->code, 200) << response->body;
  EXPECT_THAT(response->body, HasSubstr(kInferred));
  // Health and metadata too, on the same port.
  const absl::StatusOr<HttpResponse> ready =
      HttpsRequest(port_, Client(), "GET", "/v2/health/ready");
  ASSERT_TRUE(ready.ok()) << ready.status();
  EXPECT_EQ(ready->code, 200);
}

TEST_F(HttpsTest, ClientTrustingAnotherCaRejectsTheServer) {
  Start();
  TlsClientOptions tls = Client();
  tls.ca_file = Path("other_ca.pem");
  const absl::StatusOr<HttpResponse> response = Infer(tls);
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(),
              HasSubstr("certificate verify failed"));
}

TEST_F(HttpsTest, PlaintextHttpToTheTlsPortGetsNoResponse) {
  Start();
  const absl::StatusOr<HttpResponse> response =
      HttpRequest(port_, "GET", "/v2/health/ready");
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(response.status().message(),
              HasSubstr("connection closed before a response"));
}

TEST_F(HttpsTest, TlsOlderThan1_2IsRefused) {
  Start();
  TlsClientOptions tls = Client();
  tls.max_version = TLS1_1_VERSION;
  const absl::StatusOr<HttpResponse> old = Infer(tls);
  EXPECT_EQ(old.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(old.status().message(), HasSubstr("TLS handshake failed"));
  tls.max_version = TLS1_2_VERSION;
  const absl::StatusOr<HttpResponse> tls12 = Infer(tls);
  ASSERT_TRUE(tls12.ok()) << tls12.status();
  EXPECT_EQ(tls12->code, 200);
}

// With --tls_client_ca, as over gRPC: a client certificate signed by that CA
// is required. Under TLS 1.3 the server refuses it after the client's part
// of the handshake, so the request fails at the write or the read; under
// TLS 1.2 the handshake itself fails with the server's alert.
TEST_F(HttpsTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  Start("ca.pem");
  for (const auto& [client, alert] :
       {std::pair<std::string, std::string>{"", "alert handshake failure"},
        {"other_client", "alert unknown ca"}}) {
    SCOPED_TRACE(client.empty() ? "no client certificate" : client);
    TlsClientOptions tls = Client(client);
    EXPECT_EQ(Infer(tls).status().code(), absl::StatusCode::kUnavailable);
    tls.max_version = TLS1_2_VERSION;
    const absl::StatusOr<HttpResponse> tls12 = Infer(tls);
    EXPECT_EQ(tls12.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(tls12.status().message(), HasSubstr("TLS handshake failed"));
    EXPECT_THAT(tls12.status().message(), HasSubstr(alert));
  }
  const absl::StatusOr<HttpResponse> with = Infer(Client("client"));
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->code, 200) << with->body;
  EXPECT_THAT(with->body, HasSubstr(kInferred));
}

TEST_F(HttpsTest, TheTokenStillGuardsInferOverHttps) {
  Start("", "s3cret");
  const absl::StatusOr<HttpResponse> without = Infer(Client());
  ASSERT_TRUE(without.ok()) << without.status();
  EXPECT_EQ(without->code, 401);
  const absl::StatusOr<HttpResponse> wrong =
      Infer(Client(), {"Authorization: Bearer wrong"});
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_EQ(wrong->code, 401);
  const absl::StatusOr<HttpResponse> with =
      Infer(Client(), {"Authorization: Bearer s3cret"});
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->code, 200) << with->body;
  EXPECT_THAT(with->body, HasSubstr(kInferred));
}

TEST(HttpStatusTest, EachStatusCodeMapsToItsHttpStatus) {
  EXPECT_EQ(ToHttpStatus(absl::OkStatus()), 200);
  EXPECT_EQ(ToHttpStatus(absl::InvalidArgumentError("x")), 400);
  EXPECT_EQ(ToHttpStatus(absl::UnauthenticatedError("x")), 401);
  EXPECT_EQ(ToHttpStatus(absl::NotFoundError("x")), 404);
  EXPECT_EQ(ToHttpStatus(absl::ResourceExhaustedError("too big")), 413);
  absl::Status busy = absl::ResourceExhaustedError("busy");
  busy.SetPayload(CallGate::kReasonPayload, absl::Cord("max_inflight"));
  EXPECT_EQ(ToHttpStatus(busy), 429);
  busy.SetPayload(CallGate::kReasonPayload, absl::Cord("max_memory"));
  EXPECT_EQ(ToHttpStatus(busy), 429);
  EXPECT_EQ(ToHttpStatus(absl::CancelledError("x")), 499);
  EXPECT_EQ(ToHttpStatus(absl::UnimplementedError("x")), 501);
  EXPECT_EQ(ToHttpStatus(absl::UnavailableError("x")), 503);
  EXPECT_EQ(ToHttpStatus(absl::DeadlineExceededError("x")), 504);
  EXPECT_EQ(ToHttpStatus(absl::InternalError("x")), 500);
}

}  // namespace
}  // namespace activation::server
