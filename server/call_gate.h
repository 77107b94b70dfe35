// Admission for ActivationService calls, in one place for every front:
// the bearer token, the in-flight limit and draining.

#ifndef ACTIVATION_SERVER_CALL_GATE_H_
#define ACTIVATION_SERVER_CALL_GATE_H_

#include <atomic>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server_context.h"

namespace activation::server {

// Thread-safe.
class CallGate {
 public:
  struct Options {
    // Calls admitted at once; more get RESOURCE_EXHAUSTED at once.
    int max_inflight = 1024;
    // Empty: no authentication. Else calls need
    // "authorization: Bearer <auth_token>" metadata.
    std::string auth_token;
  };

  // Holds one in-flight slot until destroyed or reset. Movable.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : gate_(other.gate_) {
      other.gate_ = nullptr;
    }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket() { Reset(); }

    // Frees the slot now, if it holds one.
    void Reset();

   private:
    friend class CallGate;
    explicit Ticket(CallGate* gate) : gate_(gate) {}
    CallGate* gate_ = nullptr;  // Not owned.
  };

  explicit CallGate(Options options) : options_(std::move(options)) {}

  // Not copyable.
  CallGate(const CallGate&) = delete;
  CallGate& operator=(const CallGate&) = delete;

  // Admits the call of `context` or says why not: Unavailable while
  // draining, Unauthenticated without the right token, ResourceExhausted at
  // the in-flight limit.
  absl::StatusOr<Ticket> Admit(const grpc::ServerContextBase& context);

  // Makes every later Admit fail with Unavailable.
  void StartDraining();

  // Blocks until no call holds a slot or `deadline` passes; returns true in
  // the first case. Call after StartDraining, so that no new slot is taken.
  bool WaitIdle(absl::Time deadline) ABSL_LOCKS_EXCLUDED(mu_);

  int inflight() const { return inflight_.load(); }
  bool auth_required() const { return !options_.auth_token.empty(); }

 private:
  absl::Status Authenticate(const grpc::ServerContextBase& context) const;
  void Release() ABSL_LOCKS_EXCLUDED(mu_);

  const Options options_;
  std::atomic<int> inflight_{0};
  std::atomic<bool> draining_{false};
  // Signalled when the last slot is freed while draining.
  absl::Mutex mu_;
  absl::CondVar idle_;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_GATE_H_
