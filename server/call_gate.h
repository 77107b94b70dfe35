// Admission, in one place for every front: the bearer token and draining for
// every call, and for each computation a slot and its bytes of the memory
// budget.

#ifndef ACTIVATION_SERVER_CALL_GATE_H_
#define ACTIVATION_SERVER_CALL_GATE_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "server/call_context.h"

namespace activation::server {

// Thread-safe.
class CallGate {
 public:
  struct Options {
    // Computations at once; more get RESOURCE_EXHAUSTED at once.
    int max_inflight = 1024;
    // Bytes the admitted computations may hold together (see Admit).
    uint64_t max_memory_bytes = uint64_t{4} << 30;
    // Empty: no authentication. Else calls need
    // "authorization: Bearer <auth_token>" metadata.
    std::string auth_token;
  };

  // Holds one slot and its bytes until destroyed or reset. Movable.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept
        : gate_(other.gate_), bytes_(other.bytes_), slot_(other.slot_) {
      other.gate_ = nullptr;
    }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket() { Reset(); }

    // Frees the slot now, keeping the bytes: the computation is over, its
    // answer (the memory) not yet sent.
    void ReleaseSlot();
    // Frees the slot and the bytes now, if it holds them.
    void Reset();

   private:
    friend class CallGate;
    Ticket(CallGate* gate, uint64_t bytes)
        : gate_(gate), bytes_(bytes), slot_(true) {}
    CallGate* gate_ = nullptr;  // Not owned.
    uint64_t bytes_ = 0;
    bool slot_ = false;
  };

  // The payload (absl::Status::GetPayload) that names why Authorize or Admit
  // refused: "draining", "unauthenticated", "max_inflight" or "max_memory".
  static constexpr absl::string_view kReasonPayload = "activation/reason";

  explicit CallGate(Options options) : options_(std::move(options)) {}

  // Not copyable.
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;

  // Lets the call of `context` in, or says why not: Unavailable while
  // draining, Unauthenticated without the right token. Every call of the
  // inference services goes through it; health and reflection do not.
  absl::Status Authorize(const CallContext& context) const;

  // Takes a slot and `bytes` of the budget for one computation, or says why
  // not: Unavailable while draining, ResourceExhausted at the in-flight limit
  // or when the budget lacks `bytes` (retry later), or when `bytes` exceeds
  // the whole budget (never fits).
  absl::StatusOr<Ticket> Admit(uint64_t bytes);

  // Makes every later Authorize and Admit fail with Unavailable; the server
  // plans to stop accepting at `stop`.
  void StartDraining(absl::Time stop = absl::InfinitePast());
  // Moves the planned stop later.
  void ExtendDrain(absl::Time stop);
  bool draining() const { return draining_.load(); }
  // How long a client refused for draining should wait before it retries,
  // when its own backoff could bring the retry into the stop itself: within
  // a second of the planned stop, until 250 ms past it. Else nullopt (the
  // client's backoff; in a cluster its retry goes to another replica).
  std::optional<absl::Duration> RetryPushback() const;

  // Blocks until no computation holds a slot nor bytes (answers not sent
  // yet), or `deadline` passes; returns true in the first case. Call after
  // StartDraining, so that no new slot is taken.
  bool WaitIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  int inflight() const { return inflight_.load(); }
  uint64_t held_bytes() const { return held_bytes_.load(); }
  bool auth_required() const { return !options_.auth_token.empty(); }

 private:
  void ReleaseSlot() ABSL_LOCKS_EXCLUDED(mu_);
  void ReleaseBytes(uint64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  std::atomic<int> inflight_{0};
  std::atomic<uint64_t> held_bytes_{0};
  std::atomic<bool> draining_{false};
  std::atomic<int64_t> stop_unix_nanos_{0};
  // Signalled when the last slot or byte is freed while draining.
  absl::Mutex mu_;
  absl::CondVar idle_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_GATE_H_
