// Admission for ActivationService calls, in one place for every transport:
// the bearer token, the in-flight limit and draining.

#ifndef ACTIVATION_SERVER_CALL_GATE_H_
#define ACTIVATION_SERVER_CALL_GATE_H_

#include <atomic>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/server_context.h"
#include "server/observer.h"

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
    // Told of every refusal; not owned, may be null, must outlive the gate.
    ServerObserver* observer = nullptr;
  };

  // Holds one in-flight slot until destroyed. Movable.
  class Ticket {
   public:
    Ticket() = default;
    Ticket(Ticket&& other) noexcept : gate_(other.gate_) {
      other.gate_ = nullptr;
    }
    Ticket& operator=(Ticket&& other) noexcept;
    ~Ticket();

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
  void StartDraining() { draining_.store(true); }

  int inflight() const { return inflight_.load(); }
  bool auth_required() const { return !options_.auth_token.empty(); }

 private:
  absl::Status Authenticate(const grpc::ServerContextBase& context) const;
  absl::Status Reject(absl::string_view reason, absl::Status status);

  const Options options_;
  std::atomic<int> inflight_{0};
  std::atomic<bool> draining_{false};
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_CALL_GATE_H_
