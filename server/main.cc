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
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/server.h"

ABSL_FLAG(std::string, address, "0.0.0.0:50051",
          "host:port to listen on; port 0 picks a free port");
ABSL_FLAG(int, threads, 0, "engine threads per large tensor; 0 = all cores");
ABSL_FLAG(int64_t, max_message_bytes, int64_t{64} << 20,
          "largest request or response message in bytes, both directions");
ABSL_FLAG(uint64_t, max_elements, uint64_t{1} << 28,
          "largest tensor in elements; larger get RESOURCE_EXHAUSTED");
ABSL_FLAG(int, max_inflight, 1024,
          "ActivationService calls at once; more get RESOURCE_EXHAUSTED");
ABSL_FLAG(std::string, tls_cert, "", "PEM server certificate (with --tls_key)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key (with --tls_cert)");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; clients must present a certificate it signed (mTLS)");
ABSL_FLAG(std::string, auth_token_file, "",
          "file holding a token; ActivationService calls then need "
          "'authorization: Bearer <token>' (health and reflection stay open)");
ABSL_FLAG(absl::Duration, max_connection_age, absl::InfiniteDuration(),
          "close client connections after this long (e.g. 5m) so they "
          "rebalance across replicas; inf = never");
ABSL_FLAG(absl::Duration, shutdown_grace, absl::Seconds(20),
          "on SIGTERM/SIGINT, how long in-flight calls may finish");
ABSL_FLAG(std::string, server_model, "callback",
          "threading model: callback (gRPC's callback API; measured faster, "
          "docs/BENCHMARKS.md) or async (completion queues)");
ABSL_FLAG(int, cq_threads, 2,
          "async model: threads polling each of the completion queues (one "
          "queue per core); 2 lets one thread notice a cancellation while "
          "the other computes");
ABSL_FLAG(std::string, metrics_address, "0.0.0.0:9464",
          "host:port serving Prometheus metrics at /metrics; empty = no "
          "metrics");
ABSL_FLAG(std::string, port_file, "",
          "once serving, write the gRPC port and then the metrics port (0 "
          "without metrics) to this file, one per line (for tests)");

namespace {

// Fills options from the flags; returns false with a message on bad input.
bool FillOptions(activation::server::ServerOptions& options,
                 std::string& error) {
  options.address = absl::GetFlag(FLAGS_address);
  options.engine_threads = absl::GetFlag(FLAGS_threads);
  options.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  options.max_elements = absl::GetFlag(FLAGS_max_elements);
  options.max_inflight = absl::GetFlag(FLAGS_max_inflight);
  options.tls_cert_file = absl::GetFlag(FLAGS_tls_cert);
  options.tls_key_file = absl::GetFlag(FLAGS_tls_key);
  options.tls_client_ca_file = absl::GetFlag(FLAGS_tls_client_ca);
  options.max_connection_age = absl::GetFlag(FLAGS_max_connection_age);
  options.shutdown_grace = absl::GetFlag(FLAGS_shutdown_grace);
  options.threads_per_queue = absl::GetFlag(FLAGS_cq_threads);
  options.metrics_address = absl::GetFlag(FLAGS_metrics_address);
  const std::string model = absl::GetFlag(FLAGS_server_model);
  if (model == "async") {
    options.model = activation::server::ThreadingModel::kAsync;
    if (options.threads_per_queue == 1) {
      std::fprintf(stderr,
                   "activation_server: warning: --cq_threads=1: a queue's "
                   "only thread cannot see a cancellation while it computes; "
                   "cancelled calls run to the end\n");
    }
  } else if (model == "callback") {
    options.model = activation::server::ThreadingModel::kCallback;
  } else {
    error = absl::StrCat("--server_model must be async or callback, got \"",
                         model, "\"");
    return false;
  }
  if (const std::string path = absl::GetFlag(FLAGS_auth_token_file);
      !path.empty()) {
    std::ifstream file(path);
    std::string token;
    if (!file || !std::getline(file, token) ||
        absl::StripAsciiWhitespace(token).empty()) {
      error = absl::StrCat("--auth_token_file: cannot read a token from \"",
                           path, "\"");
      return false;
    }
    options.auth_token = std::string(absl::StripAsciiWhitespace(token));
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Serves activation.v1.ActivationService (tf.keras ReLU) over gRPC.");
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

  activation::server::ServerOptions options;
  std::string error;
  if (!FillOptions(options, error)) {
    std::fprintf(stderr, "activation_server: %s\n", error.c_str());
    return 2;
  }
  // Every thread created from here on inherits the mask; main waits for the
  // signals itself.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto server = activation::server::Server::Create(options);
  if (!server.ok()) {
    std::fprintf(stderr, "activation_server: %s\n",
                 server.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr,
               "activation_server %s listening on port %d (%s model), "
               "metrics on port %d\n",
               (*server)->info().version().c_str(), (*server)->port(),
               absl::GetFlag(FLAGS_server_model).c_str(),
               (*server)->metrics_port());
  if (const std::string path = absl::GetFlag(FLAGS_port_file); !path.empty()) {
    std::ofstream(path) << (*server)->port() << "\n"
                        << (*server)->metrics_port() << "\n";
  }
  int signal_number = 0;
  sigwait(&signals, &signal_number);
  std::fprintf(stderr, "activation_server: %s, draining\n",
               signal_number == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Shutdown();
  std::fprintf(stderr, "activation_server: stopped\n");
  return 0;
}
