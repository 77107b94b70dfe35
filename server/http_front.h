// The Open Inference Protocol (KServe v2) over HTTP/REST, on civetweb: the
// routes of the protocol's health, metadata and infer APIs, JSON bodies
// (server/oip_json.h) with Triton's binary tensor data extension, HTTP/1.1
// keep-alive, HTTPS with the server's TLS files. Every request goes through
// server::Call and CallGate like a gRPC call: the same token, admission,
// memory budget, metrics and access log.

#ifndef ACTIVATION_SERVER_HTTP_FRONT_H_
#define ACTIVATION_SERVER_HTTP_FRONT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "core/engine.h"
#include "server/callback_service.h"
#include "server/options.h"

struct mg_context;
struct mg_connection;

namespace activation::server {

// Serves HTTP from a fixed pool of options.http_threads threads, each
// holding one connection at a time; requests are read within
// options.http_request_timeout, kept-alive connections closed after
// options.http_idle_timeout idle. Thread-safe.
class HttpFront {
 public:
  // Starts serving on options.http_address (which must be set). `backend`'s
  // pointers and `engine` are not owned and must outlive *this. Unavailable
  // when the address cannot be bound or OpenSSL refuses the TLS files;
  // FailedPrecondition with TLS files when civetweb cannot initialize
  // OpenSSL (without server/openssl_compat's libraries: see docs/oip.md).
  static absl::StatusOr<std::unique_ptr<HttpFront>> Start(
      const ServerOptions& options, const Backend& backend,
      const core::Engine* engine);

  // Not copyable.
  HttpFront(const HttpFront&) = delete;
  HttpFront& operator=(const HttpFront&) = delete;
  // Stops (see Stop).
  ~HttpFront();

  // The port bound.
  int port() const { return port_; }

  // Stops accepting connections and waits for the requests in progress.
  // Idempotent.
  void Stop();

 private:
  HttpFront(const ServerOptions& options, const Backend& backend,
            const core::Engine* engine)
      : options_(options), backend_(backend), engine_(engine) {}

  // civetweb's request handler: `self` is the HttpFront.
  static int Handle(mg_connection* connection, void* self);
  // civetweb's init_ssl callback: loads the TLS files into `ssl_ctx`.
  static int InitTls(void* ssl_ctx, void* self);

  const ServerOptions options_;
  const Backend backend_;
  const core::Engine* const engine_;  // Not owned.
  mg_context* context_ = nullptr;     // Owned; null once stopped.
  bool tls_library_ = false;          // mg_init_library(SSL) to undo
  int port_ = 0;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_HTTP_FRONT_H_
