// Bearer-token authentication, shared by every front.

#ifndef ACTIVATION_SERVER_AUTH_H_
#define ACTIVATION_SERVER_AUTH_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/auth_metadata_processor.h"
#include "grpcpp/support/string_ref.h"

namespace activation::server {

// Checks an Authorization header value against `token`: "Bearer <token>",
// the scheme matched case-insensitively (RFC 7235), the token in constant
// time. `authorization` is nullopt when the header is absent. Returns
// Unauthenticated saying which of the two was wrong; never echoes the value.
absl::Status CheckBearerToken(std::optional<absl::string_view> authorization,
                              absl::string_view token);

// Checks the "authorization" entry of a call's metadata (a server context's
// client metadata, or an AuthMetadataProcessor's input) as CheckBearerToken.
absl::Status CheckBearerMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    absl::string_view token);

// Returns true for the methods a token guards: every method of the inference
// services but the Open Inference Protocol's liveness and readiness; those,
// health and reflection stay open (probes carry no token).
bool NeedsToken(absl::string_view method_path);

// Refuses a call to a guarded method without the token as soon as its
// headers arrive, before gRPC reads its message. gRPC runs processors on
// secure (TLS) credentials only; CallGate::Authorize checks every call again
// (and alone, without TLS). Thread-safe.
class TokenAuthProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenAuthProcessor(std::string token) : token_(std::move(token)) {}

  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata,
                       grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  const std::string token_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_AUTH_H_
