#include "server/call.h"

#include <chrono>
#include <utility>

#include "absl/status/statusor.h"
#include "server/status.h"

namespace activation::server {

uint64_t PayloadBytes(const v1::Tensor& tensor) {
  return tensor.raw_data().size() +
         static_cast<uint64_t>(tensor.float_data_size()) * sizeof(float);
}

absl::Status Call::Admit(CallGate& gate) {
  absl::StatusOr<CallGate::Ticket> ticket = gate.Admit(context_);
  if (!ticket.ok()) {
    record_.Rejected(ticket.status().code());
    return ticket.status();
  }
  ticket_ = *std::move(ticket);
  return absl::OkStatus();
}

absl::Status Call::Relu(const ReluHandler& handler, v1::ReluRequest* request,
                        v1::ReluResponse* response) {
  // True once the client cancelled the call or its deadline passed. Polled
  // by the engine between chunks, from any of its threads.
  const grpc::ServerContextBase& context = context_;
  auto cancelled = [&context] {
    return context.IsCancelled() ||
           std::chrono::system_clock::now() > context.deadline();
  };
  ComputeStats stats;
  absl::Status status = handler.Relu(request, response, cancelled,
                                     record_.enabled() ? &stats : nullptr);
  if (stats.ran) {
    record_.Computed(stats.dtype, stats.elements, stats.duration, status.ok());
  }
  if (status.code() == absl::StatusCode::kCancelled &&
      std::chrono::system_clock::now() > context_.deadline()) {
    return absl::DeadlineExceededError("deadline exceeded during compute");
  }
  if (status.ok()) record_.Sent(PayloadBytes(response->output()));
  return status;
}

grpc::Status Call::Finish(const absl::Status& status) {
  ticket_.Reset();
  record_.Finish(status.code());
  return ToGrpcStatus(status);
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
    const auto deadline = context_.deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      const auto slack =
          std::chrono::milliseconds(10) + (deadline - start_) / 50;
      if (std::chrono::system_clock::now() + slack > deadline) {
        code = absl::StatusCode::kDeadlineExceeded;
      }
    }
  }
  record_.Finish(code);
}

}  // namespace activation::server
