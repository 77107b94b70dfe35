#include "server/server.h"

#include <algorithm>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/grpc.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/server_builder.h"
#include "server/call.h"
#include "server/call_gate.h"
#include "server/callback_service.h"
#include "server/health_service.h"
#include "server/http_front.h"
#include "server/log.h"
#include "server/metrics.h"
#include "server/oip_codec.h"
#include "server/oip_service.h"
#include "server/relu_handler.h"
#include "server/version.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

constexpr char kServiceName[] = "activation.v1.ActivationService";
constexpr absl::Duration kMetricsRequestTimeout = absl::Seconds(2);
// How long a drain lets the last answered clients' next calls be refused
// before gRPC stops accepting.
constexpr absl::Duration kSettle = absl::Milliseconds(250);
// How long gRPC may wait at the stop for calls the server has answered.
constexpr absl::Duration kLastCallsGrace = absl::Seconds(1);

v1::ServerInfo MakeInfo(const ServerOptions& o, const core::Engine& engine,
                        bool auth_required) {
  v1::ServerInfo info;
  info.set_version(Version());
  info.set_git_sha(GitSha());
  for (core::DataType dtype : core::kAllDataTypes) {
    info.add_dtypes(wire::DataTypeToProto(dtype));
  }
  info.add_modes(wire::ModeToProto(core::Mode::kDocumented));
  info.add_modes(wire::ModeToProto(core::Mode::kKeras));
  info.set_max_message_bytes(o.max_message_bytes);
  info.set_max_elements(static_cast<int64_t>(o.max_elements));
  info.set_max_inflight(o.max_inflight);
  info.set_engine_threads(engine.concurrency());
  info.set_auth_required(auth_required);
  info.set_max_rank(o.max_rank);
  info.set_max_memory_bytes(static_cast<int64_t>(o.max_memory_bytes));
  info.set_stream_idle_timeout_ms(
      absl::ToInt64Milliseconds(o.stream_idle_timeout));
  return info;
}

// Listening port, message limits and connection policy from `o`.
void ConfigureBuilder(const ServerOptions& o,
                      std::shared_ptr<grpc::ServerCredentials> credentials,
                      int* port, grpc::ServerBuilder& builder) {
  builder.AddListeningPort(o.address, std::move(credentials), port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(o.max_message_bytes));
  builder.SetMaxSendMessageSize(static_cast<int>(o.max_message_bytes));
  // gRPC's own buffers (messages being received, before admission) get half
  // the budget, the admitted computations the other half (CallGate).
  grpc::ResourceQuota quota("activation_server");
  quota.Resize(o.max_memory_bytes / 2);
  builder.SetResourceQuota(quota);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             o.max_concurrent_streams);
  // Envoy's edge defaults: idle connections close after an hour; a peer
  // that stops answering pings is dropped (and its calls cancelled).
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 3600 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
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
    const ServerOptions& requested) {
  const ServerOptions options = WithMachineDefaults(requested);
  if (absl::Status s = ValidateServerOptions(options); !s.ok()) return s;
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
  CallGate::Options gate_options;
  gate_options.max_inflight = options_.max_inflight;
  gate_options.max_memory_bytes = options_.max_memory_bytes / 2;
  gate_options.auth_token = options_.auth_token;
  gate_ = std::make_unique<CallGate>(gate_options);
  if (!options_.metrics_address.empty()) {
    Metrics::Options metrics_options;
    metrics_options.version = Version();
    metrics_options.git_sha = GitSha();
    metrics_options.inflight = [gate = gate_.get()] {
      return gate->inflight();
    };
    metrics_options.held_bytes = [gate = gate_.get()] {
      return gate->held_bytes();
    };
    metrics_ = std::make_unique<Metrics>(std::move(metrics_options));
  }
  handler_ = std::make_unique<ReluHandler>(engine_.get(), options_.max_elements,
                                           options_.max_rank);
  infer_ = std::make_unique<InferHandler>(engine_.get(), options_.max_elements,
                                          options_.max_rank);
  info_ = MakeInfo(options_, *engine_, gate_->auth_required());
  health_ =
      std::make_unique<HealthService>(std::set<std::string>{kServiceName},
                                      metrics_.get(), HealthService::Limits());
  const Backend backend{handler_.get(),  gate_.get(), metrics_.get(),
                        &waiting_calls_, &info_,      infer_.get()};
  service_ = std::make_unique<CallbackService>(backend);
  oip_service_ = std::make_unique<OipService>(backend);
  return absl::OkStatus();
}

absl::Status Server::Start() {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      ServerCredentialsFor(options_);
  if (!credentials.ok()) return credentials.status();
  if (absl::Status s = BuildParts(); !s.ok()) return s;

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  ConfigureBuilder(options_, *credentials, &port_, builder);
  builder.RegisterService(health_.get());
  builder.RegisterService(service_.get());
  builder.RegisterService(oip_service_.get());
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
  if (metrics_ != nullptr) {
    if (absl::Status s =
            metrics_->Serve(options_.metrics_address, options_.metrics_threads,
                            kMetricsRequestTimeout);
        !s.ok()) {
      Shutdown();
      return s;
    }
    metrics_port_ = metrics_->port();
  }
  if (!options_.http_address.empty()) {
    const Backend backend{handler_.get(),  gate_.get(), metrics_.get(),
                          &waiting_calls_, &info_,      infer_.get()};
    absl::StatusOr<std::unique_ptr<HttpFront>> http =
        HttpFront::Start(options_, backend, engine_.get());
    if (!http.ok()) {
      Shutdown();
      return http.status();
    }
    http_ = *std::move(http);
    http_port_ = http_->port();
  }
  reaper_ = std::thread([this] { ReapIdleCalls(); });
  return absl::OkStatus();
}

void Server::ReapIdleCalls() {
  const absl::Duration timeout = options_.stream_idle_timeout;
  const absl::Duration period =
      std::min(absl::Seconds(1), std::max(timeout / 4, absl::Milliseconds(10)));
  const absl::Status no_message = absl::DeadlineExceededError(
      absl::StrCat("no message for ", absl::FormatDuration(timeout),
                   " (--stream_idle_timeout); the stream is closed"));
  const absl::Status unread = absl::CancelledError(
      absl::StrCat("the answer was not read for ",
                   absl::FormatDuration(timeout), " (--stream_idle_timeout)"));
  while (!stop_reaper_.WaitForNotificationWithTimeout(period)) {
    const absl::Time cutoff = absl::Now() - timeout;
    waiting_calls_.EndIdle(CallRegistry::Wait::kClientMessage, cutoff,
                           no_message);
    waiting_calls_.EndIdle(CallRegistry::Wait::kClientRead, cutoff, unread);
  }
}

void Server::Shutdown() {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + options_.shutdown_grace;
  auto step = [start](absl::string_view what,
                      std::initializer_list<LogField> fields = {}) {
    std::vector<LogField> all = {{"after", absl::Now() - start}};
    all.insert(all.end(), fields.begin(), fields.end());
    Log(LogLevel::kInfo, what, all);
  };
  // While the drain lasts the server keeps answering, so that new calls
  // learn why they are refused (UNAVAILABLE "server is shutting down", with
  // a retry pushback past the stop: our client and gRPC retry policies try
  // again elsewhere, or after the port has closed, never into the stop
  // itself) and health checks get NOT_SERVING, not a closed port.
  gate_->StartDraining(start + options_.drain_delay + kSettle);
  health_->Shutdown();
  const absl::Status draining =
      absl::UnavailableError("server is shutting down");
  const int idle_streams = waiting_calls_.EndIdle(
      CallRegistry::Wait::kClientMessage, absl::InfiniteFuture(), draining);
  step("drain: refusing new calls, health NOT_SERVING",
       {{"idle_streams_ended", idle_streams},
        {"computations", gate_->inflight()},
        {"held_bytes", gate_->held_bytes()}});
  absl::SleepFor(start + options_.drain_delay - absl::Now());
  bool idle = gate_->inflight() == 0 && gate_->held_bytes() == 0;
  if (!idle) {
    // A client answered now may call again at once: give that call the
    // time to be refused with a pushback before gRPC stops.
    idle = gate_->WaitIdle(deadline);
    gate_->ExtendDrain(absl::Now() + kSettle);
    absl::SleepFor(kSettle);
  }
  step(idle ? "drain: every answer sent" : "drain: grace over, cancelling",
       {{"computations", gate_->inflight()},
        {"held_bytes", gate_->held_bytes()}});
  // Streams that were computing ended after their answer (CallbackService);
  // any that went idle meanwhile end here.
  waiting_calls_.EndIdle(CallRegistry::Wait::kClientMessage,
                         absl::InfiniteFuture(), draining);
  // HTTP has no call that waits on its client past its answer: it stops
  // once requests in progress (now refused) are answered.
  if (http_ != nullptr) {
    http_->Stop();
    step("drain: HTTP stopped");
  }
  // Then gRPC stops accepting and cancels whatever is left at the deadline.
  // Once every answer is out, what is left only waits on its client (a
  // stream told UNAVAILABLE that it does not close): a second is enough.
  server_->Shutdown(absl::ToChronoTime(
      idle ? std::min(deadline, absl::Now() + kLastCallsGrace) : deadline));
  server_->Wait();
  step("drain: gRPC stopped");
  stop_reaper_.Notify();
  if (reaper_.joinable()) reaper_.join();
  // Last, as its scrapes read the gate.
  if (metrics_ != nullptr) metrics_->StopServing();
  step("drain: done");
}

}  // namespace activation::server
