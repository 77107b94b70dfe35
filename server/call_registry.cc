#include "server/call_registry.h"

#include <utility>
#include <vector>

namespace activation::server {

void CallRegistry::Add(Stream* key, std::weak_ptr<Stream> stream) {
  absl::MutexLock lock(&mu_);
  streams_.emplace(key, std::move(stream));
}

void CallRegistry::Remove(Stream* key) {
  absl::MutexLock lock(&mu_);
  streams_.erase(key);
}

int CallRegistry::EndIdle(Wait wait, absl::Time cutoff,
                          const absl::Status& status) {
  // Ended outside the lock: a stream's end may run its reactions, which
  // Remove it.
  std::vector<std::shared_ptr<Stream>> alive;
  {
    absl::MutexLock lock(&mu_);
    alive.reserve(streams_.size());
    for (const auto& [key, weak] : streams_) {
      if (std::shared_ptr<Stream> stream = weak.lock()) {
        alive.push_back(std::move(stream));
      }
    }
  }
  int ended = 0;
  for (const std::shared_ptr<Stream>& stream : alive) {
    ended += stream->EndIfIdleSince(wait, cutoff, status) ? 1 : 0;
  }
  return ended;
}

int CallRegistry::size() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(streams_.size());
}

}  // namespace activation::server
