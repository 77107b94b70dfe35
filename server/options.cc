#include "server/options.h"

#include <unistd.h>

#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "server/auth.h"

namespace activation::server {
namespace {

constexpr int64_t kMinMessageBytes = 128 << 10;
constexpr uint64_t kMaxElementsCap = uint64_t{1} << 60;
constexpr int kMaxRankCap = 1024;

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
  // Room for one largest message (see MemoryForPayload in call.h).
  const uint64_t smallest_memory =
      2 * static_cast<uint64_t>(o.max_message_bytes) + (16 << 10);
  if (o.max_memory_bytes != 0 && o.max_memory_bytes < smallest_memory) {
    return Invalid("max_memory must be >= 2 * max_message_bytes + 16 KiB = ",
                   smallest_memory, ", got ", o.max_memory_bytes);
  }
  if (o.max_rank < 1 || o.max_rank > kMaxRankCap) {
    return Invalid("max_rank must be in [1, ", kMaxRankCap, "], got ",
                   o.max_rank);
  }
  if (o.max_concurrent_streams < 1) {
    return Invalid("max_concurrent_streams must be > 0, got ",
                   o.max_concurrent_streams);
  }
  if (o.metrics_threads < 1 || o.metrics_threads > 64) {
    return Invalid("metrics_threads must be in [1, 64], got ",
                   o.metrics_threads);
  }
  if (o.http_threads < 1 || o.http_threads > 4096) {
    return Invalid("http_threads must be in [1, 4096], got ", o.http_threads);
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
  if (!o.auth_token.empty() && o.tls_cert_file.empty() &&
      !o.allow_insecure_token) {
    return Invalid(
        "auth_token_file without tls_cert would send the token in clear "
        "text; set tls_cert and tls_key, or allow_insecure_token (e.g. "
        "behind a TLS-terminating proxy)");
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
  if (o.drain_delay < absl::ZeroDuration() ||
      o.drain_delay > o.shutdown_grace) {
    return Invalid("drain_delay must be in [0, shutdown_grace = ",
                   absl::FormatDuration(o.shutdown_grace), "], got ",
                   absl::FormatDuration(o.drain_delay));
  }
  if (o.tls_reload_interval < absl::Seconds(1) ||
      o.tls_reload_interval > absl::Hours(24)) {
    return Invalid("tls_reload_interval must be in [1s, 24h], got ",
                   absl::FormatDuration(o.tls_reload_interval));
  }
  for (const auto& [flag, value] :
       {std::make_pair("http_request_timeout", o.http_request_timeout),
        std::make_pair("http_idle_timeout", o.http_idle_timeout)}) {
    if (value < absl::Milliseconds(1) || value > absl::Hours(1)) {
      return Invalid(flag, " must be in [1ms, 1h], got ",
                     absl::FormatDuration(value));
    }
  }
  if (o.stream_idle_timeout <= absl::ZeroDuration() ||
      o.stream_idle_timeout > longest) {
    return Invalid("stream_idle_timeout must be in (0, ",
                   absl::FormatDuration(longest), "], got ",
                   absl::FormatDuration(o.stream_idle_timeout));
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
  if (!o.http_address.empty()) {
    if (absl::Status s = CheckAddress("http_address", o.http_address);
        !s.ok()) {
      return s;
    }
    if (absl::StartsWith(o.http_address, "unix:")) {
      return Invalid("http_address must be host:port, got \"", o.http_address,
                     "\"");
    }
  }
  if (absl::Status s = CheckLimits(o); !s.ok()) return s;
  if (absl::Status s = CheckTls(o); !s.ok()) return s;
  return CheckDurations(o);
}

uint64_t MemoryAvailable() {
  const uint64_t ram = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) *
                       static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  // cgroup v2, then v1; "max" or a v1 "unlimited" (huge) value: no limit.
  for (const char* path : {"/sys/fs/cgroup/memory.max",
                           "/sys/fs/cgroup/memory/memory.limit_in_bytes"}) {
    std::ifstream file(path);
    std::string text;
    uint64_t limit = 0;
    if (file >> text && absl::SimpleAtoi(text, &limit) && limit > 0 &&
        limit < ram) {
      return limit;
    }
  }
  return ram;
}

ServerOptions WithMachineDefaults(ServerOptions options) {
  if (options.max_memory_bytes == 0) {
    options.max_memory_bytes = MemoryAvailable() / 2;
  }
  return options;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFor(
    const ServerOptions& o) {
  if (o.tls_cert_file.empty()) return grpc::InsecureServerCredentials();
  // Read once to fail at start on a wrong file; then gRPC re-reads them
  // every tls_reload_interval, so a rotated certificate (cert-manager, a
  // Kubernetes secret) is served to new connections without a restart.
  for (const auto& [flag, path, kind] :
       {std::make_tuple("tls_cert", o.tls_cert_file, "CERTIFICATE"),
        std::make_tuple("tls_key", o.tls_key_file, "PRIVATE KEY"),
        std::make_tuple("tls_client_ca", o.tls_client_ca_file,
                        "CERTIFICATE")}) {
    if (path.empty()) continue;
    if (absl::Status s = ReadPem(flag, path, kind).status(); !s.ok()) return s;
  }
  auto provider =
      std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
          o.tls_key_file, o.tls_cert_file, o.tls_client_ca_file,
          static_cast<unsigned>(absl::ToInt64Seconds(o.tls_reload_interval)));
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (o.tls_client_ca_file.empty()) {
    tls.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  } else {
    tls.watch_root_certs();
    tls.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  }
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::experimental::TlsServerCredentials(tls);
  if (!o.auth_token.empty()) {
    credentials->SetAuthMetadataProcessor(
        std::make_shared<TokenAuthProcessor>(o.auth_token));
  }
  return credentials;
}

}  // namespace activation::server
