#include "server/call.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/status.h"

namespace activation::server {
namespace {

// True once the client cancelled the call or its deadline passed. Polled by
// the engine between chunks, from any of its threads.
core::Engine::CancelCheck CancelCheckFor(
    const grpc::ServerContextBase& context) {
  return [&context] {
    return context.IsCancelled() ||
           std::chrono::system_clock::now() > context.deadline();
  };
}

// The engine's Cancelled becomes DeadlineExceeded when the deadline is what
// passed.
absl::Status ExplainCancellation(absl::Status status,
                                 const grpc::ServerContextBase& context) {
  if (status.code() == absl::StatusCode::kCancelled &&
      std::chrono::system_clock::now() > context.deadline()) {
    return absl::DeadlineExceededError("deadline exceeded during compute");
  }
  return status;
}

// Records and converts the final status.
grpc::Status Finish(CallRecord& record, const absl::Status& status) {
  record.Finish(status.code());
  return ToGrpcStatus(status);
}

}  // namespace

uint64_t PayloadBytes(const v1::Tensor& tensor) {
  return tensor.raw_data().size() +
         static_cast<uint64_t>(tensor.float_data_size()) * sizeof(float);
}

grpc::Status ServeRelu(const Backend& backend,
                       const grpc::ServerContextBase& context,
                       v1::ReluRequest* request, v1::ReluResponse* response) {
  CallRecord record(backend.metrics, Metrics::Rpc::kRelu);
  record.Received(PayloadBytes(request->input()));
  absl::Status status;
  {
    absl::StatusOr<CallGate::Ticket> ticket = backend.gate->Admit(context);
    status = ticket.status();
    if (ticket.ok()) {
      status = ExplainCancellation(
          backend.handler->Relu(request, response, CancelCheckFor(context)),
          context);
    }
  }  // the slot is free before the client can see the status
  if (status.ok()) record.Sent(PayloadBytes(response->output()));
  return Finish(record, status);
}

grpc::ServerUnaryReactor* ServeServerInfo(const Backend& backend,
                                          grpc::CallbackServerContext* context,
                                          v1::ServerInfo* response) {
  CallRecord record(backend.metrics, Metrics::Rpc::kGetServerInfo);
  record.Received();
  absl::Status status = backend.gate->Admit(*context).status();
  if (status.ok()) {
    *response = *backend.info;
    record.Sent();
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Finish(record, status));
  return reactor;
}

StreamSession::StreamSession(const Backend& backend,
                             const grpc::ServerContextBase& context)
    : backend_(backend),
      context_(context),
      record_(backend.metrics, Metrics::Rpc::kReluStream) {
  absl::StatusOr<CallGate::Ticket> ticket = backend.gate->Admit(context);
  admission_ = ticket.status();
  if (ticket.ok()) ticket_ = *std::move(ticket);
}

absl::Status StreamSession::Compute(v1::ReluRequest* request,
                                    v1::ReluResponse* response) {
  record_.Received(PayloadBytes(request->input()));
  response->Clear();
  const absl::Status status = ExplainCancellation(
      backend_.handler->Relu(request, response, CancelCheckFor(context_)),
      context_);
  if (!status.ok()) {
    return absl::Status(status.code(), absl::StrCat("message ", index_, ": ",
                                                    status.message()));
  }
  ++index_;
  record_.Sent(PayloadBytes(response->output()));
  return absl::OkStatus();
}

grpc::Status StreamSession::FinishReadsEnded() {
  ticket_ = CallGate::Ticket();
  absl::MutexLock lock(&mu_);
  reads_ended_ = true;
  if (cancelled_.has_value()) RecordReadsEnded(*cancelled_);
  return grpc::Status::OK;
}

void StreamSession::Done(bool cancelled) {
  absl::MutexLock lock(&mu_);
  cancelled_ = cancelled;
  if (reads_ended_) RecordReadsEnded(cancelled);
}

void StreamSession::RecordReadsEnded(bool cancelled) {
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

grpc::Status StreamSession::Finish(const absl::Status& status) {
  ticket_ = CallGate::Ticket();
  return server::Finish(record_, status);
}

}  // namespace activation::server
