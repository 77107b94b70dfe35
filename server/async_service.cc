#include "server/async_service.h"

#include <atomic>
#include <optional>
#include <utility>

namespace activation::server {
namespace {

// What a completion queue hands back: a call and which of its events. gRPC
// sees tags as void*: always convert through Tag* both ways (AsTag), since
// a call's Tag is not its first base.
class Tag {
 public:
  virtual ~Tag() = default;
  virtual void Proceed(bool ok) = 0;
  void* AsTag() { return this; }
};

// Shared by both kinds of call: the context, and a count of the tags still
// to come. Registering for the done notification is what lets
// ServerContext::IsCancelled report a cancellation (once another thread of
// the queue has taken that notice), which the engine polls mid-compute.
//
// The count starts at 2, the call's own tag and the done tag: gRPC can
// deliver the done tag of a call cancelled at once to another thread before
// this call has even seen its request tag, so the done tag's reference must
// exist from the start. A request that never matched a call (shutdown) gets
// no done tag: NeverStarted deletes it.
class CallBase {
 public:
  CallBase(AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), done_tag_(this) {
    context_.AsyncNotifyWhenDone(done_tag_.AsTag());
  }
  virtual ~CallBase() = default;

 protected:
  // The request tag came back without a call: nothing else refers to this.
  void NeverStarted() { delete this; }
  // The done tag came: the call is over and IsCancelled is reliable.
  virtual void OnDone() {}
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }

  AsyncService* const service_;            // Not owned.
  grpc::ServerCompletionQueue* const cq_;  // Not owned.
  grpc::ServerContext context_;

 private:
  class DoneTag final : public Tag {
   public:
    explicit DoneTag(CallBase* call) : call_(call) {}
    void Proceed(bool /*ok*/) override {
      call_->OnDone();
      call_->Unref();
    }

   private:
    CallBase* const call_;
  };

  std::atomic<int> refs_{2};
  DoneTag done_tag_;
};

class UnaryCall final : public CallBase, public Tag {
 public:
  UnaryCall(AsyncService* service, grpc::ServerCompletionQueue* cq)
      : CallBase(service, cq), responder_(&context_) {
    service->RequestRelu(&context_, &request_, &responder_, cq, cq, AsTag());
  }

  void Proceed(bool ok) override {
    if (finishing_) {  // the status went out (or the client is gone)
      Unref();
      return;
    }
    if (!ok) return NeverStarted();  // shutdown
    service_->RequestUnary(cq_);
    finishing_ = true;
    const grpc::Status status =
        ServeRelu(service_->backend(), context_, &request_, &response_);
    if (status.ok()) {
      responder_.Finish(response_, status, AsTag());
    } else {
      responder_.FinishWithError(status, AsTag());
    }
  }

 private:
  v1::ReluRequest request_;
  v1::ReluResponse response_;
  grpc::ServerAsyncResponseWriter<v1::ReluResponse> responder_;
  bool finishing_ = false;
};

class StreamCall final : public CallBase, public Tag {
 public:
  StreamCall(AsyncService* service, grpc::ServerCompletionQueue* cq)
      : CallBase(service, cq), stream_(&context_) {
    service->RequestReluStream(&context_, &stream_, cq, cq, AsTag());
  }

  void Proceed(bool ok) override {
    switch (state_) {
      case State::kRequested:
        if (!ok) return NeverStarted();  // shutdown
        service_->RequestStream(cq_);
        session_.emplace(service_->backend(), context_);
        session_ready_.store(true, std::memory_order_release);
        if (!session_->admission().ok()) {
          return Finish(session_->Finish(session_->admission()));
        }
        return Read();
      case State::kReading:
        if (!ok) {  // the client half-closed (all answered) or went away
          return Finish(session_->FinishReadsEnded());
        }
        if (absl::Status s = session_->Compute(&request_, &response_);
            !s.ok()) {
          return Finish(session_->Finish(s));
        }
        state_ = State::kWriting;
        stream_.Write(response_, AsTag());
        return;
      case State::kWriting:
        if (!ok) {
          return Finish(
              session_->Finish(absl::CancelledError("stream closed")));
        }
        return Read();
      case State::kFinishing:
        Unref();
        return;
    }
  }

 private:
  enum class State { kRequested, kReading, kWriting, kFinishing };

  void Read() {
    request_.Clear();
    state_ = State::kReading;
    stream_.Read(&request_, AsTag());
  }

  void Finish(const grpc::Status& status) {
    state_ = State::kFinishing;
    stream_.Finish(status, AsTag());
  }

  void OnDone() override {
    // The done tag can come, on another thread, while Proceed is still
    // making the session (a call cancelled at once); that call's record then
    // counts it CANCELLED when the session goes.
    if (session_ready_.load(std::memory_order_acquire)) {
      session_->Done(context_.IsCancelled());
    }
  }

  grpc::ServerAsyncReaderWriter<v1::ReluResponse, v1::ReluRequest> stream_;
  std::optional<StreamSession> session_;  // from the start of the call
  std::atomic<bool> session_ready_{false};
  v1::ReluRequest request_;
  v1::ReluResponse response_;
  State state_ = State::kRequested;
};

}  // namespace

AsyncService::~AsyncService() { Stop(); }

void AsyncService::AddCompletionQueues(grpc::ServerBuilder& builder,
                                       int queues) {
  for (int i = 0; i < queues; ++i) {
    queues_.push_back(builder.AddCompletionQueue());
  }
}

void AsyncService::Start(int threads_per_queue) {
  for (auto& queue : queues_) {
    grpc::ServerCompletionQueue* cq = queue.get();
    RequestUnary(cq);
    RequestStream(cq);
    for (int i = 0; i < threads_per_queue; ++i) {
      threads_.emplace_back([cq] {
        void* tag;
        bool ok;
        while (cq->Next(&tag, &ok)) static_cast<Tag*>(tag)->Proceed(ok);
      });
    }
  }
}

void AsyncService::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (auto& queue : queues_) queue->Shutdown();
  for (std::thread& thread : threads_) thread.join();
  threads_.clear();
}

void AsyncService::RequestUnary(grpc::ServerCompletionQueue* cq) {
  absl::ReaderMutexLock lock(&mu_);
  if (!stopping_) new UnaryCall(this, cq);
}

void AsyncService::RequestStream(grpc::ServerCompletionQueue* cq) {
  absl::ReaderMutexLock lock(&mu_);
  if (!stopping_) new StreamCall(this, cq);
}

grpc::ServerUnaryReactor* AsyncService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const v1::GetServerInfoRequest* /*request*/, v1::ServerInfo* response) {
  return ServeServerInfo(backend_, context, response);
}

}  // namespace activation::server
