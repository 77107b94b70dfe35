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
    Reset();
    gate_ = other.gate_;
    other.gate_ = nullptr;
  }
  return *this;
}

void CallGate::Ticket::Reset() {
  if (gate_ != nullptr) gate_->Release();
  gate_ = nullptr;
}

absl::StatusOr<CallGate::Ticket> CallGate::Admit(
    const grpc::ServerContextBase& context) {
  if (draining_.load()) {
    return absl::UnavailableError("server is shutting down");
  }
  if (absl::Status s = Authenticate(context); !s.ok()) return s;
  if (inflight_.fetch_add(1) >= options_.max_inflight) {
    Release();
    return absl::ResourceExhaustedError(
        absl::StrCat("server is at its limit of ", options_.max_inflight,
                     " calls in flight (--max_inflight); retry later"));
  }
  return Ticket(this);
}

void CallGate::Release() {
  // Only a drain waits for idle, so only then is the lock worth taking.
  if (inflight_.fetch_sub(1) == 1 && draining_.load()) {
    absl::MutexLock lock(&mu_);
    idle_.SignalAll();
  }
}

void CallGate::StartDraining() { draining_.store(true); }

bool CallGate::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  while (inflight_.load() > 0) {
    if (idle_.WaitWithDeadline(&mu_, deadline)) return inflight_.load() == 0;
  }
  return true;
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
