#include "server/call.h"

#include <chrono>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "server/log.h"
#include "server/status.h"
#include "wire/convert.h"

namespace activation::server {

uint64_t PayloadBytes(const v1::Tensor& tensor) {
  return tensor.raw_data().size() +
         static_cast<uint64_t>(tensor.float_data_size()) * sizeof(float);
}

void Call::Refused(const CallGate& gate, const absl::Status& status) {
  record_.Rejected(status);
  if (status.code() != absl::StatusCode::kUnavailable || !gate.draining()) {
    return;
  }
  if (const std::optional<absl::Duration> pushback = gate.RetryPushback()) {
    context_.SetRetryPushback(*pushback);
  }
}

absl::Status Call::Authorize(const CallGate& gate) {
  absl::Status status = gate.Authorize(context_);
  if (!status.ok()) Refused(gate, status);
  return status;
}

absl::Status Call::Admit(CallGate& gate, uint64_t bytes) {
  absl::StatusOr<CallGate::Ticket> ticket = gate.Admit(bytes);
  if (!ticket.ok()) {
    Refused(gate, ticket.status());
    return ticket.status();
  }
  ticket_ = *std::move(ticket);
  return absl::OkStatus();
}

absl::Status Call::Compute(ComputeFn compute) {
  // True once the client cancelled the call or its deadline passed. Polled
  // by the engine between chunks, from any of its threads.
  const CallContext& context = context_;
  const auto deadline = context.Deadline();
  auto cancelled = [&context, deadline] {
    return context.IsCancelled() || std::chrono::system_clock::now() > deadline;
  };
  ComputeStats stats;
  absl::Status status = compute(
      cancelled, record_.enabled() || AccessLogEnabled() ? &stats : nullptr);
  ticket_.ReleaseSlot();
  if (stats.ran) {
    record_.Computed(stats.dtype, stats.elements, stats.duration, status.ok());
    computed_ = stats;
  }
  if (status.code() == absl::StatusCode::kCancelled &&
      std::chrono::system_clock::now() > deadline) {
    return absl::DeadlineExceededError("deadline exceeded during compute");
  }
  return status;
}

absl::Status Call::Relu(const ReluHandler& handler, v1::ReluRequest* request,
                        SplitPayload* split, v1::ReluResponse* response) {
  absl::Status status = Compute(
      [&](const core::Engine::CancelCheck& cancelled, ComputeStats* stats) {
        return handler.Relu(request, split, response, cancelled, stats);
      });
  if (status.ok()) {
    const bool split_out = split != nullptr && split->output != nullptr;
    Sent(PayloadBytes(response->output()) + (split_out ? split->size : 0));
  }
  return status;
}

grpc::Status Call::Finish(const absl::Status& status) {
  record_.Finish(status);
  Ended(status);
  return ToGrpcStatus(status);
}

void Call::Ended(const absl::Status& status) {
  if (ended_) return;
  ended_ = true;
  const absl::StatusCode code = status.code();
  // A client's own cancellation or deadline is no server event.
  if (!status.ok() && code != absl::StatusCode::kCancelled &&
      code != absl::StatusCode::kDeadlineExceeded) {
    static LogRateLimit* const refusals = new LogRateLimit(10);
    refusals->Log(LogLevel::kWarning, "call failed",
                  {{"method", Metrics::MethodName(rpc_)},
                   {"code", wire::CodeName(code)},
                   {"error", status.message()},
                   {"peer", context_.Peer()}});
  }
  if (!AccessLogEnabled()) return;
  const absl::Duration latency =
      absl::FromChrono(std::chrono::system_clock::now() - start_);
  Log(LogLevel::kInfo, "call",
      {{"method", Metrics::MethodName(rpc_)},
       {"peer", context_.Peer()},
       {"code", wire::CodeName(code)},
       {"dtype", computed_.ran ? core::DataTypeName(computed_.dtype) : ""},
       {"elements", computed_.elements},
       {"received_bytes", received_bytes_},
       {"sent_bytes", sent_bytes_},
       {"latency", latency}});
}

void Call::Done(bool cancelled) {
  // The client's own deadline timer fires about when the server's does, and
  // its cancellation often arrives first: gRPC sends the timeout rounded up
  // to about three significant digits, so the server's deadline can be up to
  // 1% late (8 ms of a 1 s call, measured). A cancellation that close to the
  // deadline is the deadline.
  absl::StatusCode code = absl::StatusCode::kOk;
  if (cancelled) {
    code = absl::StatusCode::kCancelled;
    const auto deadline = context_.Deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      const auto slack =
          std::chrono::milliseconds(10) + (deadline - start_) / 50;
      if (std::chrono::system_clock::now() + slack > deadline) {
        code = absl::StatusCode::kDeadlineExceeded;
      }
    }
  }
  record_.Finish(code);
  Ended(absl::Status(code, ""));
}

UnaryReactor* UnaryReactor::Start(Metrics* metrics, Metrics::Rpc rpc,
                                  grpc::CallbackServerContext& context,
                                  CallRegistry* registry) {
  auto reactor = std::shared_ptr<UnaryReactor>(
      new UnaryReactor(metrics, rpc, context, registry));
  reactor->self_ = reactor;
  if (registry != nullptr) registry->Add(reactor);
  return reactor.get();
}

void UnaryReactor::FinishCall(const absl::Status& status) {
  {
    absl::MutexLock lock(&mu_);
    finished_at_ = absl::Now();
  }
  Finish(call_.Finish(status));
}

bool UnaryReactor::EndIfIdleSince(CallRegistry::Wait wait, absl::Time cutoff,
                                  const absl::Status& /*status*/) {
  // Under mu_, so that OnDone (which takes it first) cannot end the call,
  // and gRPC free the context, meanwhile. gRPC runs a non-inlineable
  // reactor's OnDone on its own threads, never inside TryCancel: from here
  // on this one is not inlineable.
  absl::MutexLock lock(&mu_);
  if (wait != CallRegistry::Wait::kClientRead || done_ ||
      finished_at_ >= cutoff) {
    return false;
  }
  on_done_inline_.store(false, std::memory_order_release);
  // The status went out with the answer; the client, not reading, sees
  // nothing more. Cancelling frees what the call holds.
  context_.TryCancel();
  return true;
}

void UnaryReactor::OnDone() {
  AfterEveryReaction(this);
  {
    absl::MutexLock lock(&mu_);
    done_ = true;
  }
  call_.Done(context_.IsCancelled());
  if (registry_ != nullptr) registry_->Remove(this);
  self_.reset();  // may delete *this
}

}  // namespace activation::server
