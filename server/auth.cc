#include "server/auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace activation::server {
namespace {

// Compares in time that depends only on the lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return diff == 0;
}

}  // namespace

absl::Status CheckBearerToken(std::optional<absl::string_view> authorization,
                              absl::string_view token) {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "missing \"authorization: Bearer <token>\" metadata");
  }
  absl::string_view value = *authorization;
  constexpr absl::string_view kScheme = "bearer";
  if (value.size() <= kScheme.size() ||
      !absl::StartsWithIgnoreCase(value, kScheme) ||
      value[kScheme.size()] != ' ') {
    return absl::UnauthenticatedError(
        "authorization must be \"Bearer <token>\"");
  }
  value.remove_prefix(kScheme.size());
  value = absl::StripLeadingAsciiWhitespace(value);
  if (!ConstantTimeEquals(value, token)) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

absl::Status CheckBearerMetadata(
    const std::multimap<grpc::string_ref, grpc::string_ref>& metadata,
    absl::string_view token) {
  const auto it = metadata.find("authorization");
  std::optional<absl::string_view> authorization;
  if (it != metadata.end()) {
    authorization = absl::string_view(it->second.data(), it->second.size());
  }
  return CheckBearerToken(authorization, token);
}

bool NeedsToken(absl::string_view method_path) {
  return !absl::StartsWith(method_path, "/grpc.health.v1.Health/") &&
         !absl::StartsWith(method_path, "/grpc.reflection.") &&
         method_path != "/inference.GRPCInferenceService/ServerLive" &&
         method_path != "/inference.GRPCInferenceService/ServerReady" &&
         method_path != "/inference.GRPCInferenceService/ModelReady";
}

grpc::Status TokenAuthProcessor::Process(
    const InputMetadata& auth_metadata, grpc::AuthContext* /*context*/,
    OutputMetadata* /*consumed_auth_metadata*/,
    OutputMetadata* /*response_metadata*/) {
  const auto path = auth_metadata.find(":path");
  if (path != auth_metadata.end() &&
      !NeedsToken(
          absl::string_view(path->second.data(), path->second.size()))) {
    return grpc::Status::OK;
  }
  const absl::Status status = CheckBearerMetadata(auth_metadata, token_);
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                      std::string(status.message()));
}

}  // namespace activation::server
