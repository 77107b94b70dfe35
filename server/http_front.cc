#include "server/http_front.h"

#include <civetweb.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "server/auth.h"
#include "server/call.h"
#include "server/call_gate.h"
#include "server/civetweb_listener.h"
#include "server/client_text.h"
#include "server/metrics.h"
#include "server/oip.h"
#include "server/oip_json.h"
#include "server/relu_handler.h"
#include "server/status.h"
#include "wire/convert.h"

namespace activation::server {
namespace {

// The most bytes of request headers (civetweb's max_request_size).
constexpr int kMaxHeaderBytes = 16 << 10;

// One HTTP request's transport, for Call and CallGate.
class HttpCallContext final : public CallContext {
 public:
  // `connection` is not owned and must outlive *this.
  explicit HttpCallContext(mg_connection* connection)
      : connection_(connection) {}

  std::string Peer() const override {
    const mg_request_info* info = mg_get_request_info(connection_);
    const absl::string_view address = info->remote_addr;
    return address.find(':') == absl::string_view::npos
               ? absl::StrCat("ipv4:", address, ":", info->remote_port)
               : absl::StrCat("ipv6:[", address, "]:", info->remote_port);
  }
  // HTTP/1.1 says nothing of a client gone until a write fails.
  bool IsCancelled() const override { return false; }
  std::chrono::system_clock::time_point Deadline() const override {
    return std::chrono::system_clock::time_point::max();
  }
  absl::Status CheckToken(absl::string_view token) const override {
    const char* header = mg_get_header(connection_, "Authorization");
    return CheckBearerToken(header == nullptr
                                ? std::nullopt
                                : std::optional<absl::string_view>(header),
                            token);
  }
  void SetRetryPushback(absl::Duration delay) override {
    retry_after_seconds_ =
        absl::ToInt64Seconds(absl::Ceil(delay, absl::Seconds(1)));
  }

  std::optional<int64_t> retry_after_seconds() const {
    return retry_after_seconds_;
  }

 private:
  mg_connection* const connection_;  // Not owned.
  std::optional<int64_t> retry_after_seconds_;
};

// What a request asked for: a route of the protocol, or nothing.
struct Route {
  std::optional<Metrics::Rpc> rpc;
  absl::string_view model;
  absl::string_view version;
};

// Matches `path` against the protocol's routes:
//   /v2, /v2/health/live, /v2/health/ready,
//   /v2/models/{model}[/versions/{version}][/ready|/infer]
Route MatchRoute(absl::string_view path) {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (!absl::ConsumePrefix(&path, "/v2")) return Route();
  Route route;
  if (path.empty()) {
    route.rpc = Metrics::Rpc::kHttpServerMetadata;
  } else if (path == "/health/live") {
    route.rpc = Metrics::Rpc::kHttpServerLive;
  } else if (path == "/health/ready") {
    route.rpc = Metrics::Rpc::kHttpServerReady;
  }
  if (route.rpc.has_value()) return route;
  if (!absl::ConsumePrefix(&path, "/models/")) return Route();
  const std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  route.model = parts[0];
  size_t next = 1;
  if (parts.size() >= 3 && parts[1] == "versions") {
    route.version = parts[2];
    next = 3;
  }
  if (parts.size() == next) {
    route.rpc = Metrics::Rpc::kHttpModelMetadata;
  } else if (parts.size() == next + 1 && parts[next] == "ready") {
    route.rpc = Metrics::Rpc::kHttpModelReady;
  } else if (parts.size() == next + 1 && parts[next] == "infer") {
    route.rpc = Metrics::Rpc::kHttpModelInfer;
  }
  return route;
}

// Returns the HTTP method and path template of `rpc`'s route.
std::pair<absl::string_view, absl::string_view> MethodAndPath(
    Metrics::Rpc rpc) {
  const absl::string_view name = Metrics::MethodName(rpc);
  const size_t space = name.find(' ');
  return {name.substr(0, space), name.substr(space + 1)};
}

// An answer to send.
struct Answer {
  int code = 200;
  std::string body;  // JSON, or empty
  // Binary output: bytes sent after the JSON, whose size the
  // Inference-Header-Content-Length header then gives.
  const char* tail = nullptr;
  size_t tail_size = 0;
  std::optional<int64_t> retry_after_seconds;
  absl::string_view allow;  // for 405
};

void Send(mg_connection* connection, const Answer& answer) {
  mg_response_header_start(connection, answer.code);
  if (!answer.body.empty() || answer.tail != nullptr) {
    mg_response_header_add(connection, "Content-Type",
                           answer.tail != nullptr ? "application/octet-stream"
                                                  : "application/json",
                           -1);
  }
  const std::string length =
      absl::StrCat(answer.body.size() + answer.tail_size);
  mg_response_header_add(connection, "Content-Length", length.c_str(), -1);
  if (answer.tail != nullptr) {
    const std::string json = absl::StrCat(answer.body.size());
    mg_response_header_add(connection, "Inference-Header-Content-Length",
                           json.c_str(), -1);
  }
  if (answer.retry_after_seconds.has_value()) {
    const std::string seconds = absl::StrCat(*answer.retry_after_seconds);
    mg_response_header_add(connection, "Retry-After", seconds.c_str(), -1);
  }
  if (!answer.allow.empty()) {
    const std::string allow(answer.allow);
    mg_response_header_add(connection, "Allow", allow.c_str(), -1);
  }
  mg_response_header_send(connection);
  if (!answer.body.empty()) {
    mg_write(connection, answer.body.data(), answer.body.size());
  }
  if (answer.tail != nullptr && answer.tail_size > 0) {
    mg_write(connection, answer.tail, answer.tail_size);
  }
}

Answer ErrorAnswer(int code, absl::string_view message) {
  Answer answer;
  answer.code = code;
  answer.body = oip::JsonError(message);
  return answer;
}

// Returns why a request's framing is ambiguous — more than one
// Content-Length, or one with a Transfer-Encoding — or nullopt.
std::optional<std::string> AmbiguousFraming(const mg_request_info& info) {
  int lengths = 0;
  bool transfer_encoding = false;
  for (int i = 0; i < info.num_headers; ++i) {
    const char* name = info.http_headers[i].name;
    if (name == nullptr) continue;
    lengths += absl::EqualsIgnoreCase(name, "Content-Length") ? 1 : 0;
    transfer_encoding =
        transfer_encoding || absl::EqualsIgnoreCase(name, "Transfer-Encoding");
  }
  if (lengths > 1) return "the request has more than one Content-Length";
  if (lengths == 1 && transfer_encoding) {
    return "the request has both Content-Length and Transfer-Encoding";
  }
  return std::nullopt;
}

// JSON bodies up to this size are decoded before admission (the memory
// that takes is small and bounded by the threads); larger ones after.
constexpr size_t kDecodeFirstBytes = 64 << 10;

// Returns the most bytes the JSON answer to `infer` takes: the header, the
// echoed id and, unless the output goes as binary data, every element
// printed at its datatype's widest.
uint64_t AnswerBytes(const oip::JsonInfer& infer) {
  constexpr uint64_t kHeader = 512;
  if (infer.binary_output) return kHeader + 6 * infer.id.size();
  // "-2.2250738585072014e-308," is 25 characters; a float (FP32, FP16 and
  // BF16 print as one) "-1.17549435e-38," 16; an integer its digits, sign
  // and comma.
  const uint64_t width =
      core::IsFloatingPoint(infer.op->dtype())
          ? (core::ItemSize(infer.op->dtype()) == 8 ? 25 : 16)
          : 21;
  return kHeader + 6 * infer.id.size() + width * infer.count;
}

// Returns the most bytes a body of `body_size` bytes whose first `json_size`
// are JSON can hold from its decoding until its answer is sent: the body
// (with the decoder's padding), the decoder's view of every number (16
// bytes per number of at least 2 characters), the elements (at most 8 bytes
// each), and the answer (AnswerBytes for as many elements, plus the id,
// which is part of the JSON).
uint64_t JsonWorstCase(size_t body_size, size_t json_size) {
  const uint64_t numbers = json_size / 2 + 1;
  const uint64_t binary = body_size - json_size;
  return MemoryForPayload(body_size) + numbers * (16 + 8 + 25) + 6 * json_size +
         8 * binary + 512;
}

// Reads the request body into `body`: at most `limit` bytes, refused
// before reading when Content-Length says more. A body not read whole
// leaves the connection unusable: it is closed after the answer.
absl::Status ReadBody(mg_connection* connection, int64_t limit,
                      std::string& body) {
  const long long length = mg_get_request_info(connection)->content_length;
  const auto over = [limit](auto size) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "the request body has ", size, " bytes, more than the limit of ", limit,
        " (--max_message_bytes)"));
  };
  if (length > limit) {
    mg_disable_connection_keep_alive(connection);
    return over(length);
  }
  if (length >= 0) {
    // Room for the NULs the JSON decoder appends (DecodeJsonInfer), so that
    // they do not double the allocation.
    body.reserve(static_cast<size_t>(length) + 8);
    body.resize(static_cast<size_t>(length));
    size_t got = 0;
    while (got < body.size()) {
      const int n = mg_read(connection, body.data() + got, body.size() - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    if (got < body.size()) {
      mg_disable_connection_keep_alive(connection);
      return absl::CancelledError(absl::StrCat("the request body ended after ",
                                               got, " of ", length, " bytes"));
    }
    return absl::OkStatus();
  }
  // Chunked: read until its end or past the limit, straight into `body`
  // (civetweb's threads have small stacks: no buffer there).
  constexpr size_t kStep = 64 << 10;
  int n;
  do {
    const size_t size = body.size();
    body.resize(size + kStep);
    n = mg_read(connection, body.data() + size, kStep);
    body.resize(size + static_cast<size_t>(std::max(n, 0)));
    if (body.size() > static_cast<uint64_t>(limit)) {
      mg_disable_connection_keep_alive(connection);
      return over(absl::StrCat("more than ", limit));
    }
  } while (n > 0);
  if (n < 0) {  // a chunk size that is no number, or the body cut short
    mg_disable_connection_keep_alive(connection);
    return absl::InvalidArgumentError(
        absl::StrCat("the chunked request body is malformed (after ",
                     body.size(), " bytes)"));
  }
  return absl::OkStatus();
}

// Returns the size of the JSON part of a body of `body_size` bytes: the
// Inference-Header-Content-Length header's, or all of it.
absl::StatusOr<size_t> JsonSize(mg_connection* connection, size_t body_size) {
  const char* header =
      mg_get_header(connection, "Inference-Header-Content-Length");
  if (header == nullptr) return body_size;
  uint64_t size = 0;
  if (!absl::SimpleAtoi(header, &size) || size > body_size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Inference-Header-Content-Length ", QuoteClientText(header),
        " is not a byte count within the body's ", body_size, " bytes"));
  }
  return static_cast<size_t>(size);
}

std::string ServerMetadataJson(const v1::ServerInfo& info) {
  std::string out = "{\"name\":";
  oip::AppendJsonString(oip::kPlatform, out);
  out += ",\"version\":";
  oip::AppendJsonString(info.version(), out);
  out += ",\"extensions\":[\"binary_tensor_data\"]}";
  return out;
}

std::string ModelMetadataJson() {
  const std::string tensor = absl::StrCat(
      "\",\"datatype\":\"", wire::OipDataTypeName(oip::kAdvertisedDataType),
      "\",\"shape\":[-1]}]");
  return absl::StrCat("{\"name\":\"", oip::kModelName, "\",\"versions\":[\"",
                      oip::kModelVersion, "\"],\"platform\":\"", oip::kPlatform,
                      "\",\"inputs\":[{\"name\":\"", oip::kInputName, tensor,
                      ",\"outputs\":[{\"name\":\"", oip::kOutputName, tensor,
                      "}");
}

// Serves one request of a route through `call`; fills `answer` when OK.
// `body` and `infer` hold the request's bytes and tensor until the answer
// is sent.
class RouteServer {
 public:
  RouteServer(const ServerOptions& options, const Backend& backend,
              const core::Engine& engine, mg_connection* connection)
      : options_(options),
        backend_(backend),
        engine_(engine),
        connection_(connection) {}

  absl::Status Serve(const Route& route, Call& call, Answer& answer) {
    if (*route.rpc == Metrics::Rpc::kHttpModelInfer) {
      return Infer(route, call, answer);
    }
    call.Received();
    absl::Status s;
    switch (*route.rpc) {
      case Metrics::Rpc::kHttpServerLive:
        break;
      case Metrics::Rpc::kHttpServerReady:
        s = Ready();
        break;
      case Metrics::Rpc::kHttpModelReady:
        s = oip::CheckModel(route.model, route.version);
        if (s.ok()) s = Ready();
        break;
      case Metrics::Rpc::kHttpServerMetadata:
        s = call.Authorize(*backend_.gate);
        if (s.ok()) answer.body = ServerMetadataJson(*backend_.info);
        break;
      case Metrics::Rpc::kHttpModelMetadata:
        s = call.Authorize(*backend_.gate);
        if (s.ok()) s = oip::CheckModel(route.model, route.version);
        if (s.ok()) answer.body = ModelMetadataJson();
        break;
      default:
        s = absl::InternalError("no handler for the route");
    }
    if (s.ok()) call.Sent();
    return s;
  }

 private:
  absl::Status Ready() const {
    return backend_.gate->draining()
               ? absl::UnavailableError("server is shutting down")
               : absl::OkStatus();
  }

  absl::Status Infer(const Route& route, Call& call, Answer& answer) {
    // The token before the bytes: a refused caller costs no read.
    absl::Status s = call.Authorize(*backend_.gate);
    if (s.ok()) s = oip::CheckModel(route.model, route.version);
    if (s.ok()) s = CheckEncoding();
    if (s.ok()) s = ReadBody(connection_, options_.max_message_bytes, body_);
    if (!s.ok()) {
      // The body was not read: the connection closes after the answer.
      if (body_.empty()) mg_disable_connection_keep_alive(connection_);
      call.Received();
      return s;
    }
    absl::StatusOr<size_t> json_size = JsonSize(connection_, body_.size());
    if (!json_size.ok()) {
      call.Received();
      return json_size.status();
    }
    // A large JSON body is admitted before it is decoded, for the most its
    // decoding and its answer can take; a small one (a binary tensor's
    // header, a small tensor) after, for what they take.
    const bool admit_first = *json_size > kDecodeFirstBytes;
    if (admit_first) {
      s = call.Admit(*backend_.gate, JsonWorstCase(body_.size(), *json_size));
      if (!s.ok()) {
        call.Received();
        return s;
      }
    }
    absl::StatusOr<oip::JsonInfer> decoded = oip::DecodeJsonInfer(
        body_, *json_size, options_.max_elements, options_.max_rank);
    call.Received(decoded.ok() ? decoded->payload_bytes : 0);
    if (!decoded.ok()) return decoded.status();
    infer_ = *std::move(decoded);
    if (!admit_first) {
      // Held until the answer is sent: the body, the elements decoded from
      // JSON, and the answer.
      s = call.Admit(*backend_.gate, MemoryForPayload(body_.size()) +
                                         infer_.values.size() +
                                         AnswerBytes(infer_));
      if (!s.ok()) return s;
    }
    s = call.Compute(
        [&](const core::Engine::CancelCheck& cancelled, ComputeStats* stats) {
          return ComputeInPlace(engine_, *infer_.op, infer_.data(),
                                infer_.count, cancelled, stats);
        });
    if (!s.ok()) return s;
    answer.body = oip::EncodeJsonInfer(infer_);
    if (infer_.binary_output) {
      answer.tail = infer_.data();
      answer.tail_size = infer_.payload_bytes;
    }
    call.Sent(infer_.payload_bytes);
    return absl::OkStatus();
  }

  absl::Status CheckEncoding() const {
    const char* encoding = mg_get_header(connection_, "Content-Encoding");
    if (encoding == nullptr || absl::EqualsIgnoreCase(encoding, "identity")) {
      return absl::OkStatus();
    }
    return absl::InvalidArgumentError(
        absl::StrCat("Content-Encoding ", QuoteClientText(encoding),
                     " is not supported; send the body uncompressed"));
  }

  const ServerOptions& options_;
  const Backend& backend_;
  const core::Engine& engine_;
  mg_connection* const connection_;
  std::string body_;
  oip::JsonInfer infer_;
};

// Returns civetweb's listening_ports value for `address`: host:port, IPv6
// in brackets as given, "s" appended for HTTPS.
std::string ListeningPort(const std::string& address, bool tls) {
  return tls ? absl::StrCat(address, "s") : address;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpFront>> HttpFront::Start(
    const ServerOptions& options, const Backend& backend,
    const core::Engine* engine) {
  std::unique_ptr<HttpFront> front(new HttpFront(options, backend, engine));
  const bool tls = !options.tls_cert_file.empty();
  const std::string ports = ListeningPort(options.http_address, tls);
  const std::string threads = absl::StrCat(options.http_threads);
  const std::string request_timeout =
      absl::StrCat(absl::ToInt64Milliseconds(options.http_request_timeout));
  const std::string idle_timeout =
      absl::StrCat(absl::ToInt64Milliseconds(options.http_idle_timeout));
  const std::string header_bytes = absl::StrCat(kMaxHeaderBytes);
  std::vector<const char*> config = {
      "listening_ports",
      ports.c_str(),
      "num_threads",
      threads.c_str(),
      "request_timeout_ms",
      request_timeout.c_str(),
      "keep_alive_timeout_ms",
      idle_timeout.c_str(),
      "enable_keep_alive",
      "yes",
      "tcp_nodelay",
      "1",
      "max_request_size",
      header_bytes.c_str(),
      "decode_url",
      "yes",
  };
  if (tls) {
    config.insert(config.end(), {"ssl_protocol_version", "4"});
  }
  config.push_back(nullptr);
  mg_callbacks callbacks{};
  callbacks.init_ssl = &HttpFront::InitTls;
  // civetweb's own error lines would go to stderr unformatted; the
  // answers carry what matters, and Call logs failed calls.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  mg_init_data init{};
  init.callbacks = &callbacks;
  init.user_data = front.get();
  init.configuration_options = config.data();
  unsigned code = 0;
  char text[256] = "";
  mg_error_data error{&code, text, sizeof(text)};
  // civetweb loads OpenSSL itself, with dlopen("libssl.so") and
  // dlopen("libcrypto.so"): server/openssl_compat's, linked into this binary
  // (found through its RUNPATH, $ORIGIN/../lib/openssl_compat; docs/oip.md).
  if (tls) {
    const bool ssl = (mg_init_library(MG_FEATURES_SSL) & MG_FEATURES_SSL) != 0;
    if (!ssl) {
      mg_exit_library();
      return absl::FailedPreconditionError(
          "http_address with tls_cert: civetweb cannot initialize OpenSSL, "
          "so it cannot serve HTTPS (it loads libssl.so and libcrypto.so; "
          "this binary needs the OpenSSL 3 compatibility ones of "
          "../lib/openssl_compat beside it, found through its RUNPATH); set "
          "--http_address= (empty) to serve gRPC over TLS without HTTP");
    }
    front->tls_library_ = true;
  }
  front->context_ = mg_start2(&init, &error);
  if (front->context_ == nullptr) {
    return absl::UnavailableError(absl::StrCat(
        "http: cannot serve on ", options.http_address, " (", text, ")"));
  }
  mg_set_request_handler(front->context_, "/", &HttpFront::Handle, front.get());
  mg_server_port bound[4] = {};
  if (mg_get_server_ports(front->context_, 4, bound) > 0) {
    front->port_ = bound[0].port;
  }
  return front;
}

int HttpFront::InitTls(void* ssl_ctx, void* self) {
  const ServerOptions& o = static_cast<HttpFront*>(self)->options_;
  auto* context = static_cast<SSL_CTX*>(ssl_ctx);
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
  if (SSL_CTX_use_certificate_chain_file(context, o.tls_cert_file.c_str()) !=
          1 ||
      SSL_CTX_use_PrivateKey_file(context, o.tls_key_file.c_str(),
                                  SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(context) != 1) {
    return -1;
  }
  if (!o.tls_client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(context, o.tls_client_ca_file.c_str(),
                                      nullptr) != 1) {
      return -1;
    }
    SSL_CTX_set_verify(
        context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return 1;  // the context is ready: civetweb loads no files of its own
}

HttpFront::~HttpFront() { Stop(); }

void HttpFront::Stop() {
  if (context_ == nullptr) {
    if (tls_library_) mg_exit_library();
    tls_library_ = false;
    return;
  }
  // civetweb's listener notices the stop when its poll returns or a
  // connection arrives: connecting until it is gone stops it in
  // milliseconds.
  std::atomic<bool> stopped{false};
  std::thread waker([&stopped, port = port_] {
    while (!stopped.load()) {
      WakeListener(port);
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  mg_stop(context_);
  stopped.store(true);
  waker.join();
  context_ = nullptr;
  if (tls_library_) mg_exit_library();
  tls_library_ = false;
}

int HttpFront::Handle(mg_connection* connection, void* self_pointer) {
  const HttpFront& self = *static_cast<HttpFront*>(self_pointer);
  const absl::Time start = absl::Now();
  const mg_request_info* info = mg_get_request_info(connection);
  const absl::string_view method = info->request_method;
  if (std::optional<std::string> ambiguous = AmbiguousFraming(*info)) {
    // A proxy in front may have read the body differently (request
    // smuggling): answer and close, never read on (RFC 9112, 6.3).
    Answer answer = ErrorAnswer(400, *ambiguous);
    if (self.backend_.metrics != nullptr) {
      self.backend_.metrics->RecordHttpUnrouted(method, "other", 400,
                                                absl::Now() - start);
    }
    mg_disable_connection_keep_alive(connection);
    Send(connection, answer);
    return answer.code;
  }
  const absl::string_view path =
      info->local_uri != nullptr ? info->local_uri : "";
  const Route route = MatchRoute(path);
  Answer answer;
  if (!route.rpc.has_value()) {
    answer = ErrorAnswer(
        404, absl::StrCat("no route ", QuoteClientText(path),
                          "; the routes are /v2, /v2/health/{live,ready} and "
                          "/v2/models/relu[/versions/1][/ready|/infer]"));
    if (self.backend_.metrics != nullptr) {
      self.backend_.metrics->RecordHttpUnrouted(method, "other", 404,
                                                absl::Now() - start);
    }
    Send(connection, answer);
    return answer.code;
  }
  const auto [route_method, route_path] = MethodAndPath(*route.rpc);
  if (method != route_method) {
    answer = ErrorAnswer(
        405, absl::StrCat(QuoteClientText(method), " is not allowed on ",
                          route_path, "; use ", route_method));
    answer.allow = route_method;
    if (self.backend_.metrics != nullptr) {
      self.backend_.metrics->RecordHttpUnrouted(method, route_path, 405,
                                                absl::Now() - start);
    }
    mg_disable_connection_keep_alive(connection);
    Send(connection, answer);
    return answer.code;
  }
  HttpCallContext context(connection);
  Call call(self.backend_.metrics, *route.rpc, context);
  RouteServer server(self.options_, self.backend_, *self.engine_, connection);
  const absl::Status status = server.Serve(route, call, answer);
  call.Finish(status);
  if (!status.ok()) {
    answer = ErrorAnswer(ToHttpStatus(status), status.message());
    answer.retry_after_seconds = context.retry_after_seconds();
    if (answer.code == 429 && !answer.retry_after_seconds.has_value()) {
      answer.retry_after_seconds = 1;
    }
  }
  Send(connection, answer);
  return answer.code;
}

}  // namespace activation::server
