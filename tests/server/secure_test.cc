// TLS, mutual TLS and bearer-token tests: the real server on 127.0.0.1:0,
// with certificates made by the openssl CLI when the suite starts.

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "activation/v1/activation.grpc.pb.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/metrics.h"
#include "server/server.h"
#include "tests/testing/prometheus_text.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_certs.h"
#include "tests/testing/test_server.h"

namespace activation::testing {
namespace {

using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const std::vector<float> kInput = {-2.0f, -0.5f, 0.0f, 1.5f};

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Makes `ctx` expire in 10 s, so a broken handshake fails instead of hanging.
void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(10));
}

// Calls Relu on kInput over `channel`, sending `authorization` as metadata
// unless empty; on OK stores the output values in `output`.
grpc::Status CallRelu(const std::shared_ptr<grpc::Channel>& channel,
                      const std::string& authorization,
                      std::vector<float>* output) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  if (!authorization.empty()) ctx.AddMetadata("authorization", authorization);
  v1::ReluRequest request;
  *request.mutable_input() = Float32Tensor(kInput);
  v1::ReluResponse response;
  grpc::Status status =
      v1::ActivationService::NewStub(channel)->Relu(&ctx, request, &response);
  if (status.ok()) *output = Float32Values(response.output());
  return status;
}

// A CA, a server certificate for localhost / 127.0.0.1 and a client
// certificate signed by it, and an unrelated CA with its own client
// certificate; all in a temp directory made once for the suite.
class SecureServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string dir = ::testing::TempDir() + "secure_test.XXXXXX";
    if (mkdtemp(dir.data()) == nullptr) return;
    dir_ = new std::string(dir);
    ready_ =
        MakeCa(dir, "ca") && MakeCa(dir, "other_ca") &&
        MakeLeaf(dir, "server", "ca", "localhost", kServerExtensions) &&
        MakeLeaf(dir, "client", "ca", "client", kClientExtensions) &&
        MakeLeaf(dir, "other_client", "other_ca", "other client",
                 kClientExtensions) &&
        // The rotated-in server certificate: another CA, another CN.
        MakeLeaf(dir, "server_b", "other_ca", "rotated", kServerExtensions);
  }

  static void TearDownTestSuite() {
    if (dir_ != nullptr) RunQuietly(absl::StrCat("rm -rf '", *dir_, "'"));
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(ready_) << "openssl could not make the test certificates";
  }

  // Copies `from` to `to` atomically: a reader sees the old file or the new
  // one, whole (written beside it, then renamed over it).
  static bool ReplaceFile(const std::string& from, const std::string& to) {
    return RunQuietly(absl::StrCat("cp '", from, "' '", to, ".tmp' && mv '", to,
                                   ".tmp' '", to, "'"));
  }

  // Returns the path of `name` in the suite's directory.
  static std::string Path(const std::string& name) {
    return absl::StrCat(*dir_, "/", name);
  }

  // Options for a TLS server with the CA-signed server certificate.
  static server::ServerOptions TlsOptions() {
    server::ServerOptions options;
    options.tls_cert_file = Path("server.pem");
    options.tls_key_file = Path("server.key");
    return options;
  }

  // TLS, and clients must present a certificate signed by ca.pem.
  static server::ServerOptions MutualTlsOptions() {
    server::ServerOptions options = TlsOptions();
    options.tls_client_ca_file = Path("ca.pem");
    return options;
  }

  // Returns credentials trusting `ca` and, unless `client` is empty,
  // presenting that client certificate.
  static std::shared_ptr<grpc::ChannelCredentials> Credentials(
      const std::string& ca, const std::string& client = "") {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = ReadFile(Path(ca + ".pem"));
    if (!client.empty()) {
      ssl.pem_private_key = ReadFile(Path(client + ".key"));
      ssl.pem_cert_chain = ReadFile(Path(client + ".pem"));
    }
    return grpc::SslCredentials(ssl);
  }

 private:
  static inline std::string* dir_ = nullptr;
  static inline bool ready_ = false;
};

// Connect() dials 127.0.0.1, so these also check the server certificate's
// IP subjectAltName.
TEST_F(SecureServerTest, TlsClientTrustingTheCaGetsRelu) {
  auto server = StartServer(TlsOptions());
  ASSERT_NE(server, nullptr);
  std::vector<float> output;
  grpc::Status status =
      CallRelu(Connect(server->port(), Credentials("ca")), "", &output);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(output, ElementsAre(0.0f, 0.0f, 0.0f, 1.5f));
}

TEST_F(SecureServerTest, TlsServerRejectsInsecureClient) {
  auto server = StartServer(TlsOptions());
  ASSERT_NE(server, nullptr);
  std::vector<float> output;
  EXPECT_EQ(CallRelu(Connect(server->port()), "", &output).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecureServerTest, TlsClientTrustingAnotherCaIsUnavailable) {
  auto server = StartServer(TlsOptions());
  ASSERT_NE(server, nullptr);
  std::vector<float> output;
  EXPECT_EQ(
      CallRelu(Connect(server->port(), Credentials("other_ca")), "", &output)
          .error_code(),
      grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecureServerTest, MutualTlsAcceptsClientCertSignedByTheCa) {
  auto server = StartServer(MutualTlsOptions());
  ASSERT_NE(server, nullptr);
  std::vector<float> output;
  grpc::Status status = CallRelu(
      Connect(server->port(), Credentials("ca", "client")), "", &output);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(output, ElementsAre(0.0f, 0.0f, 0.0f, 1.5f));
}

// The same through activation::Client's own options: TLS, mutual TLS and a
// token together, then each missing piece refused.
TEST_F(SecureServerTest, ClientLibraryDoesMutualTlsWithToken) {
  server::ServerOptions options = MutualTlsOptions();
  options.auth_token = "s3cret";
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  const std::string target = absl::StrCat("127.0.0.1:", server->port());
  ClientOptions client_options;
  client_options.tls_ca_file = Path("ca.pem");
  client_options.tls_cert_file = Path("client.pem");
  client_options.tls_key_file = Path("client.key");
  client_options.token = "s3cret";
  client_options.retry_unavailable = false;
  client_options.deadline = absl::Seconds(10);
  auto client = Client::Create(target, client_options);
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<Tensor> out = (*client)->Relu(Tensor::Float32({-2.0f, 1.5f}));
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_THAT(out->As<float>(), ElementsAre(0.0f, 1.5f));

  ClientOptions no_token = client_options;
  no_token.token.clear();
  auto anonymous = Client::Create(target, no_token);
  ASSERT_TRUE(anonymous.ok());
  EXPECT_EQ((*anonymous)->Relu(Tensor::Float32({1.0f})).status().code(),
            absl::StatusCode::kUnauthenticated);

  ClientOptions no_cert = client_options;
  no_cert.tls_cert_file.clear();
  no_cert.tls_key_file.clear();
  auto certless = Client::Create(target, no_cert);
  ASSERT_TRUE(certless.ok());
  EXPECT_EQ((*certless)->Relu(Tensor::Float32({1.0f})).status().code(),
            absl::StatusCode::kUnavailable);

  ClientOptions bad = client_options;
  bad.tls_cert_file = Path("no_such.pem");
  EXPECT_EQ(Client::Create(target, bad).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SecureServerTest, MutualTlsRejectsClientWithoutCert) {
  auto server = StartServer(MutualTlsOptions());
  ASSERT_NE(server, nullptr);
  std::vector<float> output;
  EXPECT_EQ(CallRelu(Connect(server->port(), Credentials("ca")), "", &output)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(SecureServerTest, MutualTlsRejectsClientCertFromUnrelatedCa) {
  auto server = StartServer(MutualTlsOptions());
  ASSERT_NE(server, nullptr);
  std::vector<float> output;
  EXPECT_EQ(CallRelu(Connect(server->port(), Credentials("ca", "other_client")),
                     "", &output)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// Calls Relu over a new connection of its own (not shared with earlier
// channels), trusting `ca`; on OK returns the server certificate's common
// name in `common_name`.
grpc::Status CallOnNewConnection(
    int port, std::shared_ptr<grpc::ChannelCredentials> creds,
    std::string* common_name) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel =
      grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port), creds, args);
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  v1::ReluRequest request;
  *request.mutable_input() = Float32Tensor(kInput);
  v1::ReluResponse response;
  grpc::Status status =
      v1::ActivationService::NewStub(channel)->Relu(&ctx, request, &response);
  if (status.ok()) {
    EXPECT_THAT(Float32Values(response.output()),
                ElementsAre(0.0f, 0.0f, 0.0f, 1.5f));
    std::vector<grpc::string_ref> names =
        ctx.auth_context()->FindPropertyValues("x509_common_name");
    *common_name =
        names.empty() ? "" : std::string(names[0].data(), names[0].size());
  }
  return status;
}

// The certificate and key files are replaced under a live server (as
// cert-manager does); after the reload interval, new connections get the
// new certificate, without a restart.
TEST_F(SecureServerTest, RotatedCertificateIsServedToNewConnections) {
  const std::string cert = Path("rotating.pem");
  const std::string key = Path("rotating.key");
  ASSERT_TRUE(ReplaceFile(Path("server.pem"), cert));
  ASSERT_TRUE(ReplaceFile(Path("server.key"), key));
  server::ServerOptions options;
  options.tls_cert_file = cert;
  options.tls_key_file = key;
  options.tls_reload_interval = absl::Seconds(1);
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  std::string common_name;
  grpc::Status status =
      CallOnNewConnection(server->port(), Credentials("ca"), &common_name);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(common_name, "localhost");
  EXPECT_EQ(
      CallOnNewConnection(server->port(), Credentials("other_ca"), &common_name)
          .error_code(),
      grpc::StatusCode::UNAVAILABLE);

  ASSERT_TRUE(ReplaceFile(Path("server_b.key"), key));
  ASSERT_TRUE(ReplaceFile(Path("server_b.pem"), cert));
  // Two reload intervals and a half: read at least once after both files
  // were replaced.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  status = CallOnNewConnection(server->port(), Credentials("other_ca"),
                               &common_name);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(common_name, "rotated");
  // Only the new certificate is served: a client trusting only the old CA
  // cannot connect any more.
  EXPECT_EQ(CallOnNewConnection(server->port(), Credentials("ca"), &common_name)
                .error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

// With TLS and a token, the token is checked as the headers arrive (gRPC's
// AuthMetadataProcessor) for the ActivationService only: health stays open
// to probes, and a call without the token never reaches the service (no
// call started, no payload received, in the server's metrics).
TEST_F(SecureServerTest, TlsWithTokenGuardsTheServiceAndLeavesHealthOpen) {
  server::ServerOptions options = TlsOptions();
  options.auth_token = "s3cret";
  options.metrics_address = "127.0.0.1:0";
  auto server = StartServer(options);
  ASSERT_NE(server, nullptr);
  auto channel = Connect(server->port(), Credentials("ca"));

  grpc::ClientContext health_ctx;
  SetDeadline(&health_ctx);
  HealthCheckRequest request;
  request.set_service("activation.v1.ActivationService");
  HealthCheckResponse response;
  grpc::Status status = grpc::health::v1::Health::NewStub(channel)->Check(
      &health_ctx, request, &response);
  ASSERT_TRUE(status.ok()) << "health needs no token: "
                           << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);

  std::vector<float> output;
  status = CallRelu(channel, "", &output);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(),
            "missing \"authorization: Bearer <token>\" metadata");
  status = CallRelu(channel, "Bearer wrong", &output);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "invalid bearer token");
  std::map<std::string, double> m = ParseSamples(server->metrics()->Scrape());
  EXPECT_EQ(m["grpc_server_started_total{grpc_method=\"Relu\",grpc_service="
              "\"activation.v1.ActivationService\",grpc_type=\"unary\"}"],
            0);
  EXPECT_EQ(m["activation_payload_bytes_total{direction=\"received\"}"], 0);

  // The scheme is case-insensitive here too.
  status = CallRelu(channel, "bearer s3cret", &output);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(output, ElementsAre(0.0f, 0.0f, 0.0f, 1.5f));
}

// A plaintext server whose ActivationService calls need "Bearer s3cret"
// (allowed explicitly: a token without TLS is refused at Create otherwise).
class BearerTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server::ServerOptions options;
    options.auth_token = "s3cret";
    options.allow_insecure_token = true;
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    channel_ = Connect(server_->port());
  }

  std::unique_ptr<server::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(BearerTokenTest, ReluWithoutMetadataIsUnauthenticated) {
  std::vector<float> output;
  grpc::Status status = CallRelu(channel_, "", &output);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("authorization"));
}

TEST_F(BearerTokenTest, ReluWithWrongTokenIsUnauthenticated) {
  std::vector<float> output;
  grpc::Status status = CallRelu(channel_, "Bearer wrong", &output);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "invalid bearer token");
}

TEST_F(BearerTokenTest, ReluWithRightTokenGetsValues) {
  std::vector<float> output;
  grpc::Status status = CallRelu(channel_, "Bearer s3cret", &output);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_THAT(output, ElementsAre(0.0f, 0.0f, 0.0f, 1.5f));
}

TEST_F(BearerTokenTest, GetServerInfoNeedsTokenAndReportsAuthRequired) {
  auto stub = v1::ActivationService::NewStub(channel_);
  v1::ServerInfo info;
  grpc::ClientContext anonymous;
  SetDeadline(&anonymous);
  EXPECT_EQ(stub->GetServerInfo(&anonymous, {}, &info).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  ctx.AddMetadata("authorization", "Bearer s3cret");
  grpc::Status status = stub->GetServerInfo(&ctx, {}, &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(info.auth_required());
}

TEST_F(BearerTokenTest, HealthCheckNeedsNoToken) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  HealthCheckRequest request;
  request.set_service("");
  HealthCheckResponse response;
  grpc::Status status = grpc::health::v1::Health::NewStub(channel_)->Check(
      &ctx, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), HealthCheckResponse::SERVING);
}

TEST_F(BearerTokenTest, ReluStreamWithoutTokenEndsUnauthenticated) {
  grpc::ClientContext ctx;
  SetDeadline(&ctx);
  auto stream = v1::ActivationService::NewStub(channel_)->ReluStream(&ctx);
  v1::ReluRequest request;
  *request.mutable_input() = Float32Tensor(kInput);
  stream->Write(request);  // May fail: the server can end the stream first.
  stream->WritesDone();
  v1::ReluResponse response;
  EXPECT_FALSE(stream->Read(&response));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("authorization"));
}

}  // namespace
}  // namespace activation::testing
