#include "server/callback_service.h"

#include <chrono>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/status.h"

namespace activation::server {
namespace {

// One ReluStream call: read, compute, write, repeat; one message in flight.
class StreamReactor final
    : public grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse> {
 public:
  StreamReactor(const ReluHandler* handler, CallGate::Ticket ticket,
                const grpc::CallbackServerContext* context)
      : handler_(handler),
        context_(context),
        ticket_(std::move(ticket)),
        cancelled_(CancelCheckFor(context)) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed: all answered
      End(grpc::Status::OK);
      return;
    }
    response_.Clear();
    const absl::Status status = ExplainCancellation(
        handler_->Relu(&request_, &response_, cancelled_), *context_);
    if (!status.ok()) {
      End(ToGrpcStatus(absl::Status(
          status.code(),
          absl::StrCat("message ", index_, ": ", status.message()))));
      return;
    }
    ++index_;
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      End(grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
      return;
    }
    request_.Clear();
    StartRead(&request_);
  }

  void OnDone() override { delete this; }

 private:
  // Frees the in-flight slot before the client can see the status, so a
  // client that starts its next call on seeing it is not refused.
  void End(const grpc::Status& status) {
    ticket_ = CallGate::Ticket();
    Finish(status);
  }

  const ReluHandler* const handler_;                  // Not owned.
  const grpc::CallbackServerContext* const context_;  // Not owned.

  CallGate::Ticket ticket_;  // released before the status goes out
  const core::Engine::CancelCheck cancelled_;
  v1::ReluRequest request_;
  v1::ReluResponse response_;
  int64_t index_ = 0;
};

// Finishes a stream at once with `status`.
class RejectedStream final
    : public grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse> {
 public:
  explicit RejectedStream(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

}  // namespace

core::Engine::CancelCheck CancelCheckFor(
    const grpc::ServerContextBase* context) {
  return [context] {
    return context->IsCancelled() ||
           std::chrono::system_clock::now() > context->deadline();
  };
}

absl::Status ExplainCancellation(absl::Status status,
                                 const grpc::ServerContextBase& context) {
  if (status.code() == absl::StatusCode::kCancelled &&
      std::chrono::system_clock::now() > context.deadline()) {
    return absl::DeadlineExceededError("deadline exceeded during compute");
  }
  return status;
}

grpc::ServerUnaryReactor* CallbackService::Relu(
    grpc::CallbackServerContext* context, const v1::ReluRequest* request,
    v1::ReluResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::Status status;
  {
    absl::StatusOr<CallGate::Ticket> ticket = gate_->Admit(*context);
    status = ticket.status();
    if (ticket.ok()) {
      // gRPC hands the request over as const, but the message is ours for
      // the call and not a const object: moving its payload into the
      // response saves a copy of every tensor.
      status = ExplainCancellation(
          handler_->Relu(const_cast<v1::ReluRequest*>(request), response,
                         CancelCheckFor(context)),
          *context);
    }
  }  // the ticket is released before the client can see the status
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse>*
CallbackService::ReluStream(grpc::CallbackServerContext* context) {
  absl::StatusOr<CallGate::Ticket> ticket = gate_->Admit(*context);
  if (!ticket.ok()) return new RejectedStream(ToGrpcStatus(ticket.status()));
  return new StreamReactor(handler_, *std::move(ticket), context);
}

grpc::ServerUnaryReactor* ServeServerInfo(CallGate* gate,
                                          const v1::ServerInfo& info,
                                          grpc::CallbackServerContext* context,
                                          v1::ServerInfo* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  absl::StatusOr<CallGate::Ticket> ticket = gate->Admit(*context);
  if (ticket.ok()) *response = info;
  reactor->Finish(ToGrpcStatus(ticket.status()));
  return reactor;
}

grpc::ServerUnaryReactor* CallbackService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const v1::GetServerInfoRequest* /*request*/, v1::ServerInfo* response) {
  return ServeServerInfo(gate_, *info_, context, response);
}

}  // namespace activation::server
