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
  // Computations at once (a unary call, or one message of a stream, from
  // admission until its answer is sent); more get RESOURCE_EXHAUSTED.
  int max_inflight = 1024;
  // Bytes that admitted computations may hold together (twice a request's
  // payload, plus 16 KiB); 0: half the memory the process may use (its
  // cgroup's memory.max, or the machine's RAM). Also gRPC's own resource
  // quota: past it, gRPC stops reading from connections.
  uint64_t max_memory_bytes = 0;
  // Dimensions a tensor may have.
  int max_rank = 64;
  // Streams per HTTP/2 connection (SETTINGS_MAX_CONCURRENT_STREAMS).
  int max_concurrent_streams = 100;
  // A ReluStream that sends no message for this long is ended with
  // DEADLINE_EXCEEDED.
  absl::Duration stream_idle_timeout = absl::Minutes(1);
  // PEM files. Both cert and key: TLS. With client_ca too: mutual TLS.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;
  // How often the PEM files are re-read: a rotated certificate is served to
  // connections made after that.
  absl::Duration tls_reload_interval = absl::Minutes(1);
  // Non-empty: ActivationService calls need "authorization: Bearer <token>".
  std::string auth_token;
  // A token without TLS is sent in clear text: refused unless this is set.
  bool allow_insecure_token = false;
  // Connections are closed (gracefully) after this long, so clients
  // reconnect and rebalance across replicas. Infinite: never.
  absl::Duration max_connection_age = absl::InfiniteDuration();
  // On Shutdown, how long new calls are still answered UNAVAILABLE (so
  // that load balancers and clients move away) before gRPC stops accepting.
  absl::Duration drain_delay = absl::Seconds(3);
  // On Shutdown, how long in-flight calls may run before they are cancelled
  // (counted from the start of the drain; at least drain_delay).
  absl::Duration shutdown_grace = absl::Seconds(20);
  // host:port serving Prometheus metrics at /metrics (port 0 picks one);
  // empty: no metrics at all (not even recorded).
  std::string metrics_address;
  // Threads serving /metrics, each request bounded by a timeout, so that
  // slow or half-open scrapers cannot hold them all.
  int metrics_threads = 8;
  // host:port serving the Open Inference Protocol over HTTP/REST (KServe's
  // port; port 0 picks one: see Server::http_port()); empty: none. HTTPS
  // with the TLS files above; the same token, limits and drain as gRPC.
  std::string http_address = "0.0.0.0:8080";
  // Threads serving HTTP: each holds one connection at a time (from its
  // first byte until it closes or idles out), so this bounds the
  // connections served at once; more wait in the accept queue.
  int http_threads = 32;
  // Longest a request's headers and body may take to arrive (each read of
  // the body, at most this long): slow or half-open clients are closed
  // after it.
  absl::Duration http_request_timeout = absl::Seconds(10);
  // How long a kept-alive connection may wait for its next request before
  // it is closed and its thread freed.
  absl::Duration http_idle_timeout = absl::Seconds(5);
};

// Returns OK when `options` can start a server, else InvalidArgument naming
// the option (by its flag name), what it must be and what it is. Defaults
// that depend on the machine (0) are not checked: see WithMachineDefaults.
absl::Status ValidateServerOptions(const ServerOptions& options);

// Returns the memory this process may use: its cgroup's memory.max when
// that is set, else the machine's RAM.
uint64_t MemoryAvailable();

// Returns `options` with defaults that depend on the machine filled in
// (max_memory_bytes 0).
ServerOptions WithMachineDefaults(ServerOptions options);

// Returns the credentials `options` asks for: insecure without tls_cert_file,
// else TLS from the PEM files (mutual TLS with tls_client_ca_file).
// InvalidArgument names the flag of a file that cannot be read or holds no
// PEM block of the right kind.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerOptions& options);

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_OPTIONS_H_
