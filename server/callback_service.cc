#include "server/callback_service.h"

namespace activation::server {
namespace {

// One ReluStream call: read, compute, write, repeat; one message in flight.
class StreamReactor final
    : public grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse> {
 public:
  StreamReactor(const Backend& backend,
                const grpc::CallbackServerContext* context)
      : context_(context), session_(backend, *context) {
    if (!session_.admission().ok()) {
      Finish(session_.Finish(session_.admission()));
      return;
    }
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {  // the client half-closed (all answered) or went away
      Finish(session_.FinishReadsEnded());
      return;
    }
    const absl::Status status = session_.Compute(&request_, &response_);
    if (!status.ok()) {
      Finish(session_.Finish(status));
      return;
    }
    StartWrite(&response_);
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      Finish(session_.Finish(absl::CancelledError("stream closed")));
      return;
    }
    request_.Clear();
    StartRead(&request_);
  }

  void OnDone() override {
    session_.Done(context_->IsCancelled());
    delete this;
  }

 private:
  const grpc::CallbackServerContext* const context_;  // Not owned.
  StreamSession session_;
  v1::ReluRequest request_;
  v1::ReluResponse response_;
};

}  // namespace

grpc::ServerUnaryReactor* CallbackService::Relu(
    grpc::CallbackServerContext* context, const v1::ReluRequest* request,
    v1::ReluResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // gRPC hands the request over as const, but the message is ours for the
  // call and not a const object: moving its payload into the response saves
  // a copy of every tensor.
  reactor->Finish(ServeRelu(backend_, *context,
                            const_cast<v1::ReluRequest*>(request), response));
  return reactor;
}

grpc::ServerBidiReactor<v1::ReluRequest, v1::ReluResponse>*
CallbackService::ReluStream(grpc::CallbackServerContext* context) {
  return new StreamReactor(backend_, context);
}

grpc::ServerUnaryReactor* CallbackService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const v1::GetServerInfoRequest* /*request*/, v1::ServerInfo* response) {
  return ServeServerInfo(backend_, context, response);
}

}  // namespace activation::server
