// activation_server: serves activation.v1.ActivationService.
//
//   activation_server --address=0.0.0.0:50051

#include <signal.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "core/relu.h"
#include "server/log.h"
#include "server/server.h"

ABSL_FLAG(std::string, address, "0.0.0.0:50051",
          "host:port to listen on; port 0 picks a free port");
ABSL_FLAG(int, threads, 0, "engine threads per large tensor; 0 = all cores");
ABSL_FLAG(int64_t, max_message_bytes, int64_t{64} << 20,
          "largest request or response message in bytes, both directions");
ABSL_FLAG(uint64_t, max_elements, uint64_t{1} << 28,
          "largest tensor in elements; larger get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_inflight, 1024,
          "computations at once (a unary call, or one stream message, until "
          "its answer is sent); more get RESOURCE_EXHAUSTED");
ABSL_FLAG(uint64_t, max_memory, 0,
          "bytes the server may hold for calls: half for gRPC's buffers of "
          "messages being received, half for admitted computations (each "
          "holds twice its payload + 16 KiB until its answer is sent); 0 = "
          "half of the cgroup's memory.max (or of RAM)");
ABSL_FLAG(int, max_rank, 64, "most dimensions a tensor may have");
ABSL_FLAG(int, max_concurrent_streams, 100,
          "streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS)");
ABSL_FLAG(absl::Duration, stream_idle_timeout, absl::Minutes(1),
          "end a ReluStream that sends no message for this long "
          "(DEADLINE_EXCEEDED)");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key (with --tls_cert)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; clients must present a certificate it signed (mTLS)");
ABSL_FLAG(absl::Duration, tls_reload_interval, absl::Minutes(1),
          "re-read the TLS files this often, so rotated certificates are "
          "served without a restart");
ABSL_FLAG(std::string, auth_token_file, "",
          "file holding a token; ActivationService calls then need "
          "'authorization: Bearer <token>' (health and reflection stay open)");
ABSL_FLAG(absl::Duration, max_connection_age, absl::InfiniteDuration(),
          "close client connections after this long (e.g. 5m) so they "
          "rebalance across replicas; inf = never");
ABSL_FLAG(absl::Duration, drain_delay, absl::Seconds(3),
          "on SIGTERM/SIGINT, how long new calls still get UNAVAILABLE (and "
          "health NOT_SERVING) so that clients move away, before gRPC stops");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(20),
          "on SIGTERM/SIGINT, how long in-flight calls may finish (from the "
          "start of the drain)");
ABSL_FLAG(bool, allow_insecure_token, false,
          "allow --auth_token_file without TLS (the token travels in clear "
          "text; e.g. behind a TLS-terminating proxy)");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9464",
          "host:port serving Prometheus metrics at /metrics; empty = no "
          "metrics");
ABSL_FLAG(int, metrics_threads, 8,
          "threads serving /metrics (each request bounded by a 2 s timeout)");
ABSL_FLAG(std::string, http_address, "0.0.0.0:8080",
          "host:port serving the Open Inference Protocol (KServe v2) over "
          "HTTP/REST (HTTPS with --tls_cert); empty = no HTTP");
ABSL_FLAG(int, http_threads, 32,
          "threads serving HTTP, each holding one connection at a time: the "
          "most connections served at once");
ABSL_FLAG(absl::Duration, http_request_timeout, absl::Seconds(10),
          "longest an HTTP request's headers (and each read of its body) may "
          "take to arrive; slower clients are disconnected");
ABSL_FLAG(absl::Duration, http_idle_timeout, absl::Seconds(5),
          "close a kept-alive HTTP connection idle for this long");
ABSL_FLAG(std::string, log_format, "text",
          "log lines on stderr as text or json (for Kubernetes log "
          "pipelines)");
ABSL_FLAG(std::string, log_level, "info",
          "lowest level logged: debug, info, warning or error");
ABSL_FLAG(bool, access_log, false,
          "log one line per call: method, peer, code, dtype, elements, "
          "bytes, latency");
ABSL_FLAG(std::string, port_file, "",
          "once serving, write the gRPC port, the metrics port and the HTTP "
          "port (0 without metrics, without HTTP) to this file, one per line "
          "(for tests)");

namespace {

// Flags that once existed and now stop the server at start, with why.
constexpr struct {
  const char* name;
  const char* why;
} kRemovedFlags[] = {
    {"server_model",
     "the server has one threading model, gRPC's callback API (measured "
     "faster: docs/BENCHMARKS.md)"},
    {"cq_threads", "it configured the removed completion-queue model"},
};

// Returns an error naming the first removed flag in `argv`, or OK.
absl::Status CheckNoRemovedFlags(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (!absl::ConsumePrefix(&arg, "--")) absl::ConsumePrefix(&arg, "-");
    const absl::string_view name = arg.substr(0, arg.find('='));
    for (const auto& removed : kRemovedFlags) {
      if (name == removed.name) {
        return absl::InvalidArgumentError(
            absl::StrCat("--", removed.name, " was removed: ", removed.why));
      }
    }
  }
  return absl::OkStatus();
}

// Reads the token of --auth_token_file (whitespace around it stripped).
absl::StatusOr<std::string> ReadToken(const std::string& path) {
  std::ifstream file(path);
  std::string token;
  if (!file || !std::getline(file, token) ||
      absl::StripAsciiWhitespace(token).empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--auth_token_file: cannot read a token from \"", path, "\""));
  }
  return std::string(absl::StripAsciiWhitespace(token));
}

// Returns the options the flags ask for.
absl::StatusOr<activation::server::ServerOptions> OptionsFromFlags() {
  activation::server::ServerOptions options;
  options.address = absl::GetFlag(FLAGS_address);
  options.engine_threads = absl::GetFlag(FLAGS_threads);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_elements = absl::GetFlag(FLAGS_max_elements);
  options.max_inflight = absl::GetFlag(FLAGS_max_inflight);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.tls_reload_interval = absl::GetFlag(FLAGS_tls_reload_interval);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.max_memory_bytes = absl::GetFlag(FLAGS_max_memory);
  options.max_rank = absl::GetFlag(FLAGS_max_rank);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.stream_idle_timeout = absl::GetFlag(FLAGS_stream_idle_timeout);
  options.drain_delay = absl::GetFlag(FLAGS_drain_delay);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.allow_insecure_token = absl::GetFlag(FLAGS_allow_insecure_token);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  options.metrics_threads = absl::GetFlag(FLAGS_metrics_threads);
  options.http_address = absl::GetFlag(FLAGS_http_address);
  options.http_threads = absl::GetFlag(FLAGS_http_threads);
  options.http_request_timeout = absl::GetFlag(FLAGS_http_request_timeout);
  options.http_idle_timeout = absl::GetFlag(FLAGS_http_idle_timeout);
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file);
      !path.empty()) {
    absl::StatusOr<std::string> token = ReadToken(path);
    if (!token.ok()) return token.status();
    options.auth_token = *std::move(token);
  }
  return options;
}

// Returns the signals main waits for, blocked in this thread and so in
// every thread created after.
sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

using ::activation::server::Log;
using ::activation::server::LogLevel;

int Fail(const absl::Status& status, int code) {
  Log(LogLevel::kError, "cannot start", {{"error", status.ToString()}});
  return code;
}

// Reads --log_format, --log_level and --access_log.
absl::Status ConfigureLogFromFlags() {
  absl::StatusOr<activation::server::LogFormat> format =
      activation::server::ParseLogFormat(absl::GetFlag(FLAGS_log_format));
  if (!format.ok()) return format.status();
  absl::StatusOr<LogLevel> level =
      activation::server::ParseLogLevel(absl::GetFlag(FLAGS_log_level));
  if (!level.ok()) return level.status();
  activation::server::ConfigureLog(*format, *level,
                                   absl::GetFlag(FLAGS_access_log));
  return absl::OkStatus();
}

// Logs what this process runs with: build, every effective option (the
// token never), the kernels' instruction set and the memory budget.
void LogStart(const activation::server::Server& server) {
  const activation::server::ServerOptions& o = server.options();
  Log(LogLevel::kInfo, "activation_server serving",
      {{"version", server.info().version()},
       {"git_sha", server.info().git_sha()},
       {"port", server.port()},
       {"metrics_port", server.metrics_port()},
       {"http_port", server.http_port()},
       {"address", o.address},
       {"metrics_address", o.metrics_address},
       {"http_address", o.http_address},
       {"kernels", activation::core::KernelIsa()},
       {"engine_threads", server.info().engine_threads()},
       {"max_memory_bytes", o.max_memory_bytes},
       {"max_inflight", o.max_inflight},
       {"max_message_bytes", o.max_message_bytes},
       {"max_elements", o.max_elements},
       {"max_rank", o.max_rank},
       {"max_concurrent_streams", o.max_concurrent_streams},
       {"stream_idle_timeout", o.stream_idle_timeout},
       {"max_connection_age", o.max_connection_age},
       {"drain_delay", o.drain_delay},
       {"shutdown_grace", o.shutdown_grace},
       {"tls", !o.tls_cert_file.empty()},
       {"mtls", !o.tls_client_ca_file.empty()},
       {"tls_reload_interval", o.tls_reload_interval},
       {"auth", !o.auth_token.empty()},
       {"metrics_threads", o.metrics_threads},
       {"http_threads", o.http_threads},
       {"http_request_timeout", o.http_request_timeout},
       {"http_idle_timeout", o.http_idle_timeout}});
  if (o.allow_insecure_token && !o.auth_token.empty() &&
      o.tls_cert_file.empty()) {
    Log(LogLevel::kWarning,
        "the bearer token travels in clear text (--allow_insecure_token "
        "without --tls_cert)");
  }
}

void ParseFlags(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves activation.v1.ActivationService (tf.keras ReLU) over gRPC, and "
      "the Open Inference Protocol over gRPC and HTTP/REST.");
  absl::FlagsUsageConfig usage;
  usage.contains_help_flags = [](absl::string_view file) {
    return absl::EndsWith(file, "server/main.cc");
  };
  absl::SetFlagsUsageConfig(usage);
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's deadlock
  // detection on: a lock-order graph update on every lock, gRPC's included.
  // Tests keep it; the server does not pay for it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace

int main(int argc, char** argv) {
  if (absl::Status s = CheckNoRemovedFlags(argc, argv); !s.ok()) {
    return Fail(s, 2);
  }
  ParseFlags(argc, argv);
  if (absl::Status s = ConfigureLogFromFlags(); !s.ok()) return Fail(s, 2);
  absl::StatusOr<activation::server::ServerOptions> options =
      OptionsFromFlags();
  if (!options.ok()) return Fail(options.status(), 2);
  sigset_t signals = BlockStopSignals();
  auto server = activation::server::Server::Create(*options);
  if (!server.ok()) return Fail(server.status(), 1);
  LogStart(**server);
  if (const std::string path = absl::GetFlag(FLAGS_port_file); !path.empty()) {
    std::ofstream(path) << (*server)->port() << "\n"
                        << (*server)->metrics_port() << "\n"
                        << (*server)->http_port() << "\n";
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  Log(LogLevel::kInfo,
      signal_number == SIGTERM ? "SIGTERM, draining" : "SIGINT, draining");
  (*server)->Shutdown();
  Log(LogLevel::kInfo, "stopped");
  return 0;
}
