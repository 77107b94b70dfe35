#include "server/server.h"

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "server/async_service.h"
#include "server/call.h"
#include "server/call_gate.h"
#include "server/callback_service.h"
#include "server/health_service.h"
#include "server/metrics.h"
#include "server/relu_handler.h"

#ifndef ACTIVATION_VERSION
#define ACTIVATION_VERSION "0.0.0"
#endif
#ifndef ACTIVATION_GIT_SHA
#define ACTIVATION_GIT_SHA "unknown"
#endif

namespace activation::server {
namespace {

constexpr char kServiceName[] = "activation.v1.ActivationService";
constexpr int64_t kMinMessageBytes = 128 << 10;
constexpr uint64_t kMaxElementsCap = uint64_t{1} << 60;

absl::StatusOr<std::string> ReadFile(const std::string& flag,
                                     const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": cannot read \"", path, "\""));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// A host:port (or [v6]:port) address must end in a port 0..65535: gRPC
// would silently wrap a larger one. unix: addresses have no port.
absl::Status CheckAddress(absl::string_view flag, absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return absl::OkStatus();
  const size_t colon = address.rfind(':');
  int port = -1;
  if (colon == absl::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " must be host:port with a port in [0, 65535], got \"", address,
        "\""));
  }
  return absl::OkStatus();
}

absl::Status Validate(const ServerOptions& o) {
  auto invalid = [](auto&&... parts) {
    return absl::InvalidArgumentError(absl::StrCat(parts...));
  };
  if (absl::Status s = CheckAddress("address", o.address); !s.ok()) return s;
  if (!o.metrics_address.empty()) {
    if (absl::Status s = CheckAddress("metrics_address", o.metrics_address);
        !s.ok()) {
      return s;
    }
  }
  if (o.engine_threads < 0) {
    return invalid("threads must be >= 0, got ", o.engine_threads);
  }
  // The floor lets every client send a 64 KiB tensor without asking first
  // (activation::Client does).
  if (o.max_message_bytes < kMinMessageBytes ||
      o.max_message_bytes > std::numeric_limits<int>::max()) {
    return invalid("max_message_bytes must be in [", kMinMessageBytes,
                   ", 2147483647], got ", o.max_message_bytes);
  }
  // The cap keeps elements * item size in 64 bits and the count in
  // ServerInfo's int64.
  if (o.max_elements == 0 || o.max_elements > kMaxElementsCap) {
    return invalid("max_elements must be in [1, ", kMaxElementsCap, "], got ",
                   o.max_elements);
  }
  if (o.max_inflight <= 0) {
    return invalid("max_inflight must be > 0, got ", o.max_inflight);
  }
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return invalid("tls_cert and tls_key go together; got only ",
                   o.tls_cert_file.empty() ? "tls_key" : "tls_cert");
  }
  if (!o.tls_client_ca_file.empty() && o.tls_cert_file.empty()) {
    return invalid("tls_client_ca needs tls_cert and tls_key");
  }
  // gRPC takes both durations as int milliseconds.
  const absl::Duration longest =
      absl::Milliseconds(std::numeric_limits<int>::max());
  if (o.max_connection_age <= absl::ZeroDuration() ||
      (o.max_connection_age > longest &&
       o.max_connection_age != absl::InfiniteDuration())) {
    return invalid("max_connection_age must be in (0, ",
                   absl::FormatDuration(longest), "] or inf, got ",
                   absl::FormatDuration(o.max_connection_age));
  }
  if (o.shutdown_grace < absl::ZeroDuration() || o.shutdown_grace > longest) {
    return invalid("shutdown_grace must be in [0, ",
                   absl::FormatDuration(longest), "], got ",
                   absl::FormatDuration(o.shutdown_grace));
  }
  if (o.completion_queues < 0) {
    return invalid("completion_queues must be >= 0, got ", o.completion_queues);
  }
  if (o.threads_per_queue <= 0) {
    return invalid("cq_threads must be > 0, got ", o.threads_per_queue);
  }
  return absl::OkStatus();
}

// Reads a PEM file for `flag`, checking that it holds a block of `kind`
// (gRPC would only say that the server failed to start).
absl::StatusOr<std::string> ReadPem(const std::string& flag,
                                    const std::string& path,
                                    absl::string_view kind) {
  absl::StatusOr<std::string> pem = ReadFile(flag, path);
  if (!pem.ok()) return pem.status();
  if (!absl::StrContains(*pem, "-----BEGIN ") ||
      !absl::StrContains(*pem, kind)) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, ": \"", path, "\" holds no PEM ", kind, " block"));
  }
  return pem;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const ServerOptions& o) {
  if (o.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions ssl;
  absl::StatusOr<std::string> cert =
      ReadPem("tls_cert", o.tls_cert_file, "CERTIFICATE");
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key =
      ReadPem("tls_key", o.tls_key_file, "PRIVATE KEY");
  if (!key.ok()) return key.status();
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!o.tls_client_ca_file.empty()) {
    absl::StatusOr<std::string> ca =
        ReadPem("tls_client_ca", o.tls_client_ca_file, "CERTIFICATE");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

v1::ServerInfo MakeInfo(const ServerOptions& o, const core::Engine& engine,
                        bool auth_required) {
  v1::ServerInfo info;
  info.set_version(ACTIVATION_VERSION);
  info.set_git_sha(ACTIVATION_GIT_SHA);
  for (core::DataType dtype : core::kAllDataTypes) {
    info.add_dtypes(static_cast<v1::DataType>(static_cast<int>(dtype)));
  }
  info.add_modes(v1::MODE_DOCUMENTED);
  info.add_modes(v1::MODE_KERAS);
  info.set_max_message_bytes(o.max_message_bytes);
  info.set_max_elements(static_cast<int64_t>(o.max_elements));
  info.set_max_inflight(o.max_inflight);
  info.set_engine_threads(engine.concurrency());
  info.set_auth_required(auth_required);
  return info;
}

// Listening port, message limits and connection policy from `o`.
void ConfigureBuilder(const ServerOptions& o,
                      std::shared_ptr<grpc::ServerCredentials> credentials,
                      int* port, grpc::ServerBuilder& builder) {
  builder.AddListeningPort(o.address, std::move(credentials), port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(o.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(o.max_message_bytes));
  // A second server on the same port must fail, not share the traffic.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Accept client keepalive pings as often as every 10 s (gRPC's default
  // answers pings more frequent than every 5 minutes with GOAWAY).
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  if (o.max_connection_age != absl::InfiniteDuration()) {
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(o.max_connection_age)));
    builder.AddChannelArgument(
        GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
        static_cast<int>(absl::ToInt64Milliseconds(o.shutdown_grace)));
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Create(
    const ServerOptions& options) {
  if (absl::Status s = Validate(options); !s.ok()) return s;
  std::unique_ptr<Server> server(new Server(options));
  if (absl::Status s = server->Start(); !s.ok()) return s;
  return server;
}

Server::Server(const ServerOptions& options) : options_(options) {}

Server::~Server() { Shutdown(); }

absl::Status Server::BuildParts() {
  core::EngineOptions engine_options;
  engine_options.threads = options_.engine_threads;
  absl::StatusOr<std::unique_ptr<core::Engine>> engine =
      core::Engine::Create(engine_options);
  if (!engine.ok()) return engine.status();
  engine_ = *std::move(engine);
  if (!options_.metrics_address.empty()) {
    Metrics::Options metrics_options;
    metrics_options.version = ACTIVATION_VERSION;
    metrics_options.git_sha = ACTIVATION_GIT_SHA;
    // gate_ is set below, before Serve lets anyone scrape.
    metrics_options.inflight = [this] { return gate_->inflight(); };
    metrics_ = std::make_unique<Metrics>(std::move(metrics_options));
  }
  CallGate::Options gate_options;
  gate_options.max_inflight = options_.max_inflight;
  gate_options.auth_token = options_.auth_token;
  gate_options.observer = metrics_.get();
  gate_ = std::make_unique<CallGate>(gate_options);
  handler_ = std::make_unique<ReluHandler>(engine_.get(), options_.max_elements,
                                           metrics_.get());
  info_ = MakeInfo(options_, *engine_, gate_->auth_required());
  health_ = std::make_unique<HealthService>(std::set<std::string>{kServiceName},
                                            metrics_.get());
  return absl::OkStatus();
}

absl::Status Server::Start() {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      Credentials(options_);
  if (!credentials.ok()) return credentials.status();
  if (absl::Status s = BuildParts(); !s.ok()) return s;
  const Backend backend{handler_.get(), gate_.get(), metrics_.get(), &info_};

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  ConfigureBuilder(options_, *credentials, &port_, builder);
  builder.RegisterService(health_.get());
  if (options_.model == ThreadingModel::kAsync) {
    async_service_ = std::make_unique<AsyncService>(backend);
    builder.RegisterService(async_service_.get());
    async_service_->AddCompletionQueues(
        builder, options_.completion_queues > 0 ? options_.completion_queues
                                                : engine_->concurrency());
  } else {
    callback_service_ = std::make_unique<CallbackService>(backend);
    builder.RegisterService(callback_service_.get());
  }
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || port_ == 0) {
    server_.reset();
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", options_.address,
        " (in use, or not a valid host:port",
        options_.tls_cert_file.empty()
            ? ")"
            : "; or tls_cert and tls_key are not a certificate and its key)"));
  }
  if (async_service_ != nullptr) {
    async_service_->Start(options_.threads_per_queue);
  }
  if (metrics_ != nullptr) {
    if (absl::Status s = metrics_->Serve(options_.metrics_address); !s.ok()) {
      Shutdown();
      return s;
    }
  }
  return absl::OkStatus();
}

int Server::metrics_port() const {
  return metrics_ == nullptr ? 0 : metrics_->port();
}

void Server::Shutdown() {
  if (shut_down_.exchange(true) || server_ == nullptr) return;
  const absl::Time deadline = absl::Now() + options_.shutdown_grace;
  // While calls are in flight the server keeps answering, so that new
  // ActivationService calls learn why they are refused (UNAVAILABLE, "server
  // is shutting down") and health checks get NOT_SERVING, not a closed port.
  gate_->StartDraining();
  health_->Shutdown();
  while (gate_->inflight() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  // Then gRPC stops accepting and cancels whatever is left at the deadline.
  server_->Shutdown(absl::ToChronoTime(deadline));
  if (async_service_ != nullptr) async_service_->Stop();
  server_->Wait();
}

}  // namespace activation::server
