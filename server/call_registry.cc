#include "server/call_registry.h"

#include <utility>
#include <vector>

namespace activation::server {

void CallRegistry::Add(const std::shared_ptr<WaitingCall>& call) {
  absl::MutexLock lock(&mu_);
  calls_.emplace(call.get(), call);
}

void CallRegistry::Remove(WaitingCall* call) {
  absl::MutexLock lock(&mu_);
  calls_.erase(call);
}

int CallRegistry::EndIdle(Wait wait, absl::Time cutoff,
                          const absl::Status& status) {
  // Ended outside the lock: a stream's end may run its reactions, which
  // Remove it.
  std::vector<std::shared_ptr<WaitingCall>> alive;
  {
    absl::MutexLock lock(&mu_);
    alive.reserve(calls_.size());
    for (const auto& [key, weak] : calls_) {
      if (std::shared_ptr<WaitingCall> stream = weak.lock()) {
        alive.push_back(std::move(stream));
      }
    }
  }
  int ended = 0;
  for (const std::shared_ptr<WaitingCall>& stream : alive) {
    ended += stream->EndIfIdleSince(wait, cutoff, status) ? 1 : 0;
  }
  return ended;
}

int CallRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(calls_.size());
}

}  // namespace activation::server
