// The calls that can stall while holding the server's resources without
// using its CPU: streams waiting for the client's next message, and calls
// whose answer waits for the client to read it. The server ends those that
// wait for longer than --stream_idle_timeout, and streams waiting for a
// message at once when it drains.

#ifndef ACTIVATION_SERVER_CALL_REGISTRY_H_
#define ACTIVATION_SERVER_CALL_REGISTRY_H_

#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace activation::server {

// Thread-safe.
class CallRegistry {
 public:
  // What a call waits on.
  enum class Wait {
    kClientMessage,  // a stream, for the client's next message
    kClientRead,     // an answer, for the client to take it
  };

  // A call that can be ended from outside its reactions.
  class WaitingCall {
   public:
    virtual ~WaitingCall() = default;
    // Ends the call with `status` if it has been waiting on `wait` since
    // before `cutoff`; returns whether it did. Any thread.
    virtual bool EndIfIdleSince(Wait wait, absl::Time cutoff,
                                const absl::Status& status) = 0;
  };

  // Tracks `call` until Remove(call.get()); holds it only weakly.
  void Add(const std::shared_ptr<WaitingCall>& call) ABSL_LOCKS_EXCLUDED(mu_);
  void Remove(WaitingCall* call) ABSL_LOCKS_EXCLUDED(mu_);

  // Ends, with `status`, every call waiting on `wait` since before `cutoff`
  // (absl::InfiniteFuture(): every such call). Returns how many it ended.
  int EndIdle(Wait wait, absl::Time cutoff, const absl::Status& status)
      ABSL_LOCKS_EXCLUDED(mu_);

  int size() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  mutable absl::Mutex mu_;
  absl::flat_hash_map<WaitingCall*, std::weak_ptr<WaitingCall>> calls_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_REGISTRY_H_
