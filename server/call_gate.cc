#include "server/call_gate.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace activation::server {
namespace {

constexpr absl::string_view kBearer = "Bearer ";

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

CallGate::Ticket& CallGate::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    if (gate_ != nullptr) gate_->inflight_.fetch_sub(1);
    gate_ = other.gate_;
    other.gate_ = nullptr;
  }
  return *this;
}

CallGate::Ticket::~Ticket() {
  if (gate_ != nullptr) gate_->inflight_.fetch_sub(1);
}

absl::StatusOr<CallGate::Ticket> CallGate::Admit(
    const grpc::ServerContextBase& context) {
  if (draining_.load()) {
    return Reject("draining",
                  absl::UnavailableError("server is shutting down"));
  }
  if (absl::Status s = Authenticate(context); !s.ok()) {
    return Reject("unauthenticated", s);
  }
  if (inflight_.fetch_add(1) >= options_.max_inflight) {
    inflight_.fetch_sub(1);
    return Reject("max_inflight",
                  absl::ResourceExhaustedError(absl::StrCat(
                      "server is at its limit of ", options_.max_inflight,
                      " calls in flight (--max_inflight); retry later")));
  }
  return Ticket(this);
}

absl::Status CallGate::Reject(absl::string_view reason, absl::Status status) {
  if (options_.observer != nullptr) options_.observer->OnRejected(reason);
  return status;
}

absl::Status CallGate::Authenticate(
    const grpc::ServerContextBase& context) const {
  if (options_.auth_token.empty()) return absl::OkStatus();
  const auto& metadata = context.client_metadata();
  const auto it = metadata.find("authorization");
  if (it == metadata.end()) {
    return absl::UnauthenticatedError(
        "missing \"authorization: Bearer <token>\" metadata");
  }
  const absl::string_view value(it->second.data(), it->second.size());
  if (!absl::StartsWith(value, kBearer) ||
      !ConstantTimeEquals(value.substr(kBearer.size()), options_.auth_token)) {
    return absl::UnauthenticatedError("invalid bearer token");
  }
  return absl::OkStatus();
}

}  // namespace activation::server
