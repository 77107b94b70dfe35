#include "server/callback_service.h"

#include "absl/strings/str_cat.h"

namespace activation::server {
namespace {

// One ReluStream call: read, compute, write, repeat; one message in flight.
class StreamReactor final
    : public grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse> {
 public:
  StreamReactor(const Backend& backend,
                const grpc::CallbackServerContext* context)
      : backend_(backend),
        context_(context),
        call_(backend.metrics, Metrics::Rpc::kReluStream, *context) {
    if (absl::Status s = call_.Admit(*backend.gate); !s.ok()) {
      Finish(call_.Finish(s));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (all answered) or went away
      call_.EndReads();
      Finish(grpc::Status::OK);
      return;
    }
    response_.Clear();
    call_.Received(PayloadBytes(request_.input()));
    const absl::Status s = call_.Relu(*backend_.handler, &request_, &response_);
    if (!s.ok()) {
      Finish(call_.Finish(absl::Status(
          s.code(), absl::StrCat("message ", index_, ": ", s.message()))));
      return;
    }
    ++index_;
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(call_.Finish(absl::CancelledError("stream closed")));
      return;
    }
    request_.Clear();
    StartRead(&request_);
  }

  void OnDone() override {
    call_.Done(context_->IsCancelled());
    delete this;
  }

 private:
  const Backend backend_;
  const grpc::CallbackServerContext* const context_;  // Not owned.
  Call call_;
  int64_t index_ = 0;  // of the message being computed
  v1::ReluRequest request_;
  v1::ReluResponse response_;
};

}  // namespace

grpc::ServerUnaryReactor* CallbackService::Relu(
    grpc::CallbackServerContext* context, const v1::ReluRequest* request,
    v1::ReluResponse* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kRelu, context, [&](Call& call) {
        call.Received(PayloadBytes(request->input()));
        if (absl::Status s = call.Admit(*backend_.gate); !s.ok()) return s;
        // gRPC hands the request over as const, but the message is ours for
        // the call and not a const object: moving its payload into the
        // response saves a copy of every tensor.
        return call.Relu(*backend_.handler,
                         const_cast<v1::ReluRequest*>(request), response);
      });
}

grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse>*
CallbackService::ReluStream(grpc::CallbackServerContext* context) {
  return new StreamReactor(backend_, context);
}

grpc::ServerUnaryReactor* CallbackService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const v1::GetServerInfoRequest* /*request*/, v1::ServerInfo* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kGetServerInfo, context, [&](Call& call) {
        call.Received();
        if (absl::Status s = call.Admit(*backend_.gate); !s.ok()) {
          return s;
        }
        *response = *backend_.info;
        call.Sent();
        return absl::OkStatus();
      });
}

}  // namespace activation::server
