// What an activation_server is configured with, and the checks that a
// configuration is usable before anything starts.

#ifndef ACTIVATION_SERVER_OPTIONS_H_
#define ACTIVATION_SERVER_OPTIONS_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/server_credentials.h"

namespace activation::server {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free one (see Server::port()).
  std::string address = "0.0.0.0:50051";
  // Engine threads for one large tensor; 0 means one per core.
  int engine_threads = 0;
  // Largest request or response message, both directions.
  int64_t max_message_bytes = int64_t{64} << 20;
  // Largest tensor, in elements.
  uint64_t max_elements = uint64_t{1} << 28;
  // ActivationService calls at once; more get RESOURCE_EXHAUSTED at once.
  int max_inflight = 1024;
  // PEM files. Both cert and key: TLS. With client_ca too: mutual TLS.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // Non-empty: ActivationService calls need "authorization: Bearer <token>".
  std::string auth_token;
  // Connections are closed (gracefully) after this long, so clients
  // reconnect and rebalance across replicas. Infinite: never.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  // On Shutdown, how long in-flight calls may run before they are cancelled.
  absl::Duration shutdown_grace = absl::Seconds(20);
  // host:port serving Prometheus metrics at /metrics (port 0 picks one);
  // empty: no metrics at all (not even recorded).
  std::string metrics_address;
};

// Returns OK when `options` can start a server, else InvalidArgument naming
// the option (by its flag name), what it must be and what it is.
absl::Status ValidateServerOptions(const ServerOptions& options);

// Returns the credentials `options` asks for: insecure without tls_cert_file,
// else TLS from the PEM files (mutual TLS with tls_client_ca_file).
// InvalidArgument names the flag of a file that cannot be read or holds no
// PEM block of the right kind.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerOptions& options);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_OPTIONS_H_
