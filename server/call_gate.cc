#include "server/call_gate.h"

#include <algorithm>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "server/auth.h"

namespace activation::server {
namespace {

// Returns `status` carrying `reason` (see kReasonPayload).
absl::Status Refused(absl::Status status, absl::string_view reason) {
  status.SetPayload(CallGate::kReasonPayload, absl::Cord(reason));
  return status;
}

absl::Status Draining() {
  return Refused(absl::UnavailableError("server is shutting down"), "draining");
}

}  // namespace

CallGate::Ticket& CallGate::Ticket::operator=(Ticket&& other) noexcept {
  if (this != &other) {
    Reset();
    gate_ = other.gate_;
    bytes_ = other.bytes_;
    slot_ = other.slot_;
    other.gate_ = nullptr;
  }
  return *this;
}

void CallGate::Ticket::ReleaseSlot() {
  if (gate_ != nullptr && slot_) gate_->ReleaseSlot();
  slot_ = false;
}

void CallGate::Ticket::Reset() {
  ReleaseSlot();
  if (gate_ != nullptr) gate_->ReleaseBytes(bytes_);
  gate_ = nullptr;
}

absl::Status CallGate::Authorize(const CallContext& context) const {
  if (draining_.load()) return Draining();
  if (options_.auth_token.empty()) return absl::OkStatus();
  absl::Status status = context.CheckToken(options_.auth_token);
  return status.ok() ? status : Refused(std::move(status), "unauthenticated");
}

absl::StatusOr<CallGate::Ticket> CallGate::Admit(uint64_t bytes) {
  if (draining_.load()) return Draining();
  if (bytes > options_.max_memory_bytes) {
    return Refused(absl::ResourceExhaustedError(absl::StrCat(
                       "this call needs ", bytes,
                       " bytes of server memory, more than all ",
                       options_.max_memory_bytes,
                       " the server has for calls (--max_memory)")),
                   "max_memory");
  }
  if (inflight_.fetch_add(1) >= options_.max_inflight) {
    ReleaseSlot();
    return Refused(absl::ResourceExhaustedError(absl::StrCat(
                       "server is at its limit of ", options_.max_inflight,
                       " calls in flight (--max_inflight); retry later")),
                   "max_inflight");
  }
  if (held_bytes_.fetch_add(bytes) + bytes > options_.max_memory_bytes) {
    ReleaseBytes(bytes);
    ReleaseSlot();
    return Refused(
        absl::ResourceExhaustedError(absl::StrCat(
            "server memory for calls is in use (", options_.max_memory_bytes,
            " bytes, --max_memory); this call needs ", bytes, "; retry later")),
        "max_memory");
  }
  return Ticket(this, bytes);
}

void CallGate::ReleaseSlot() {
  // Only a drain waits for idle, so only then is the lock worth taking.
  if (inflight_.fetch_sub(1) == 1 && draining_.load()) {
    absl::MutexLock lock(&mu_);
    idle_.SignalAll();
  }
}

void CallGate::ReleaseBytes(uint64_t bytes) {
  if (held_bytes_.fetch_sub(bytes) == bytes && draining_.load()) {
    absl::MutexLock lock(&mu_);
    idle_.SignalAll();
  }
}

void CallGate::StartDraining(absl::Time stop) {
  ExtendDrain(stop);
  draining_.store(true);
}

void CallGate::ExtendDrain(absl::Time stop) {
  stop_unix_nanos_.store(absl::ToUnixNanos(stop));
}

std::optional<absl::Duration> CallGate::RetryPushback() const {
  const absl::Duration left =
      absl::FromUnixNanos(stop_unix_nanos_.load()) - absl::Now();
  if (left > absl::Seconds(1)) return std::nullopt;
  return std::max(left, absl::ZeroDuration()) + absl::Milliseconds(250);
}

bool CallGate::WaitIdle(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto idle = [this] {
    return inflight_.load() == 0 && held_bytes_.load() == 0;
  };
  while (!idle()) {
    if (idle_.WaitWithDeadline(&mu_, deadline)) return idle();
  }
  return true;
}

}  // namespace activation::server
