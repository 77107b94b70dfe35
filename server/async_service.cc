#include "server/async_service.h"

#include <atomic>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "server/callback_service.h"
#include "server/status.h"

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

// Shared by both kinds of call: the context, the done notification that
// reports cancellation, and a count of the two tags still to come.
class CallBase {
 public:
  CallBase(AsyncService* service, grpc::ServerCompletionQueue* cq)
      : service_(service), cq_(cq), done_tag_(this) {
    context_.AsyncNotifyWhenDone(done_tag_.AsTag());
  }
  virtual ~CallBase() = default;

 protected:
  // The request matched a call: the done tag will come too.
  void Started() { refs_.fetch_add(1); }
  void Unref() {
    if (refs_.fetch_sub(1) == 1) delete this;
  }
  core::Engine::CancelCheck CancelCheck() {
    return [this] {
      return cancelled_.load(std::memory_order_relaxed) ||
             std::chrono::system_clock::now() > context_.deadline();
    };
  }

  AsyncService* const service_;            // Not owned.
  grpc::ServerCompletionQueue* const cq_;  // Not owned.
  grpc::ServerContext context_;

 private:
  class DoneTag final : public Tag {
   public:
    explicit DoneTag(CallBase* call) : call_(call) {}
    void Proceed(bool /*ok*/) override {
      call_->cancelled_.store(call_->context_.IsCancelled());
      call_->Unref();
    }

   private:
    CallBase* const call_;
  };

  std::atomic<int> refs_{1};
  std::atomic<bool> cancelled_{false};
  DoneTag done_tag_;
};

class UnaryCall final : public CallBase, public Tag {
 public:
  UnaryCall(AsyncService* service, grpc::ServerCompletionQueue* cq)
      : CallBase(service, cq), responder_(&context_) {
    service->RequestRelu(&context_, &request_, &responder_, cq, cq, AsTag());
  }

  void Proceed(bool ok) override {
    if (finishing_ || !ok) {  // finished, or never started (shutdown)
      Unref();
      return;
    }
    Started();
    service_->RequestUnary(cq_);
    finishing_ = true;
    absl::Status status;
    {
      absl::StatusOr<CallGate::Ticket> ticket =
          service_->gate()->Admit(context_);
      status = ticket.status();
      if (ticket.ok()) {
        status = ExplainCancellation(
            service_->handler()->Relu(&request_, &response_, CancelCheck()),
            context_);
      }
    }  // the ticket is released before the client can see the status
    if (status.ok()) {
      responder_.Finish(response_, grpc::Status::OK, AsTag());
    } else {
      responder_.FinishWithError(ToGrpcStatus(status), AsTag());
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
        if (!ok) {
          Unref();
          return;
        }
        Started();
        service_->RequestStream(cq_);
        return Begin();
      case State::kReading:
        if (!ok) return Finish(grpc::Status::OK);  // the client half-closed
        return Answer();
      case State::kWriting:
        if (!ok) {
          return Finish(
              grpc::Status(grpc::StatusCode::CANCELLED, "stream closed"));
        }
        request_.Clear();
        state_ = State::kReading;
        stream_.Read(&request_, AsTag());
        return;
      case State::kFinishing:
        Unref();
        return;
    }
  }

 private:
  enum class State { kRequested, kReading, kWriting, kFinishing };

  void Begin() {
    absl::StatusOr<CallGate::Ticket> ticket = service_->gate()->Admit(context_);
    if (!ticket.ok()) return Finish(ToGrpcStatus(ticket.status()));
    ticket_ = *std::move(ticket);
    state_ = State::kReading;
    stream_.Read(&request_, AsTag());
  }

  void Answer() {
    response_.Clear();
    const absl::Status status = ExplainCancellation(
        service_->handler()->Relu(&request_, &response_, CancelCheck()),
        context_);

    if (!status.ok()) {
      return Finish(ToGrpcStatus(absl::Status(
          status.code(),
          absl::StrCat("message ", index_, ": ", status.message()))));
    }
    ++index_;
    state_ = State::kWriting;
    stream_.Write(response_, AsTag());
  }

  void Finish(const grpc::Status& status) {
    state_ = State::kFinishing;
    ticket_ = CallGate::Ticket();
    stream_.Finish(status, AsTag());
  }

  grpc::ServerAsyncReaderWriter<v1::ReluResponse, v1::ReluRequest> stream_;
  v1::ReluRequest request_;
  v1::ReluResponse response_;
  CallGate::Ticket ticket_;
  State state_ = State::kRequested;
  int64_t index_ = 0;
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
  return ServeServerInfo(gate_, *info_, context, response);
}

}  // namespace activation::server
