#include "server/options.h"

#include <fstream>
#include <limits>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpc/grpc_security_constants.h"

namespace activation::server {
namespace {

constexpr int64_t kMinMessageBytes = 128 << 10;
constexpr uint64_t kMaxElementsCap = uint64_t{1} << 60;

template <typename... Parts>
absl::Status Invalid(const Parts&... parts) {
  return absl::InvalidArgumentError(absl::StrCat(parts...));
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
    return Invalid(flag, " must be host:port with a port in [0, 65535], got \"",
                   address, "\"");
  }
  return absl::OkStatus();
}

absl::Status CheckLimits(const ServerOptions& o) {
  if (o.engine_threads < 0) {
    return Invalid("threads must be >= 0, got ", o.engine_threads);
  }
  // The floor lets every client send a 64 KiB tensor without asking first
  // (activation::Client does).
  if (o.max_message_bytes < kMinMessageBytes ||
      o.max_message_bytes > std::numeric_limits<int>::max()) {
    return Invalid("max_message_bytes must be in [", kMinMessageBytes,
                   ", 2147483647], got ", o.max_message_bytes);
  }
  // The cap keeps elements * item size in 64 bits and the count in
  // ServerInfo's int64.
  if (o.max_elements == 0 || o.max_elements > kMaxElementsCap) {
    return Invalid("max_elements must be in [1, ", kMaxElementsCap, "], got ",
                   o.max_elements);
  }
  if (o.max_inflight <= 0) {
    return Invalid("max_inflight must be > 0, got ", o.max_inflight);
  }
  return absl::OkStatus();
}

absl::Status CheckTls(const ServerOptions& o) {
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return Invalid("tls_cert and tls_key go together; got only ",
                   o.tls_cert_file.empty() ? "tls_key" : "tls_cert");
  }
  if (!o.tls_client_ca_file.empty() && o.tls_cert_file.empty()) {
    return Invalid("tls_client_ca needs tls_cert and tls_key");
  }
  return absl::OkStatus();
}

// gRPC takes both durations as int milliseconds.
absl::Status CheckDurations(const ServerOptions& o) {
  const absl::Duration longest =
      absl::Milliseconds(std::numeric_limits<int>::max());
  if (o.max_connection_age <= absl::ZeroDuration() ||
      (o.max_connection_age > longest &&
       o.max_connection_age != absl::InfiniteDuration())) {
    return Invalid("max_connection_age must be in (0, ",
                   absl::FormatDuration(longest), "] or inf, got ",
                   absl::FormatDuration(o.max_connection_age));
  }
  if (o.shutdown_grace < absl::ZeroDuration() || o.shutdown_grace > longest) {
    return Invalid("shutdown_grace must be in [0, ",
                   absl::FormatDuration(longest), "], got ",
                   absl::FormatDuration(o.shutdown_grace));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(absl::string_view flag,
                                     const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Invalid(flag, ": cannot read \"", path, "\"");
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Reads a PEM file for `flag`, checking that it holds a block of `kind`
// (gRPC would only say that the server failed to start).
absl::StatusOr<std::string> ReadPem(absl::string_view flag,
                                    const std::string& path,
                                    absl::string_view kind) {
  absl::StatusOr<std::string> pem = ReadFile(flag, path);
  if (!pem.ok()) return pem.status();
  if (!absl::StrContains(*pem, "-----BEGIN ") ||
      !absl::StrContains(*pem, kind)) {
    return Invalid(flag, ": \"", path, "\" holds no PEM ", kind, " block");
  }
  return pem;
}

}  // namespace

absl::Status ValidateServerOptions(const ServerOptions& o) {
  if (absl::Status s = CheckAddress("address", o.address); !s.ok()) return s;
  if (!o.metrics_address.empty()) {
    if (absl::Status s = CheckAddress("metrics_address", o.metrics_address);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = CheckLimits(o); !s.ok()) return s;
  if (absl::Status s = CheckTls(o); !s.ok()) return s;
  return CheckDurations(o);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
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

}  // namespace activation::server
