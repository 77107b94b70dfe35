// The reactor of a bidirectional stream of tensors, shared by the services.

#ifndef ACTIVATION_SERVER_STREAM_REACTOR_H_
#define ACTIVATION_SERVER_STREAM_REACTOR_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "server/call.h"
#include "server/call_registry.h"
#include "server/callback_service.h"

namespace activation::server {

// One bidirectional stream of tensors (ReluStream, ModelStreamInfer): read,
// compute, write, repeat; one message in flight. `Step` serves one message:
//   absl::Status Step::Serve(const Backend&, Call&, int64_t index,
//                            grpc::ByteBuffer* in, grpc::ByteBuffer* out);
// fills `out` with the answer to write, or returns the status that ends the
// stream.
// A message holds an admission from its read until its answer is written;
// an idle stream holds none, and the registry ends it after the idle
// timeout or when the server drains. Owned by self_ until OnDone, and by
// the registry's callers while they end it.
template <typename Step>
class StreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public CallRegistry::WaitingCall {
 public:
  static StreamReactor* Start(const Backend& backend, Metrics::Rpc rpc,
                              grpc::CallbackServerContext* context) {
    auto reactor = std::shared_ptr<StreamReactor>(
        new StreamReactor(backend, rpc, context));
    reactor->self_ = reactor;
    backend.calls->Add(reactor);
    if (absl::Status s = reactor->call_.Authorize(*backend.gate); !s.ok()) {
      reactor->End(reactor->call_.Finish(s));
    } else {
      reactor->Read();
    }
    return reactor.get();
  }

  void OnReadDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      if (finished_) return;  // ended while idle
    }
    if (!ok) {  // the client half-closed (all answered) or went away
      End(grpc::Status::OK);
      return;
    }
    if (absl::Status s = Step::Serve(backend_, call_, index_, &in_, &out_);
        !s.ok()) {
      End(call_.Finish(s));
      return;
    }
    ++index_;
    {
      absl::MutexLock lock(&mu_);
      writing_since_ = absl::Now();
    }
    StartWrite(&out_);
  }

  void OnWriteDone(bool ok) override ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      writing_since_ = absl::InfiniteFuture();
    }
    call_.Release();
    out_.Clear();
    if (!ok) {
      End(call_.Finish(absl::CancelledError("stream closed")));
    } else if (backend_.gate->draining()) {
      End(call_.Finish(absl::UnavailableError("server is shutting down")));
    } else {
      Read();
    }
  }

  void OnDone() override ABSL_LOCKS_EXCLUDED(mu_) {
    AfterEveryReaction(this);
    {
      absl::MutexLock lock(&mu_);
      done_ = true;
    }
    call_.Done(context_->IsCancelled());
    backend_.calls->Remove(this);
    self_.reset();  // may delete *this
  }

  bool EndIfIdleSince(CallRegistry::Wait wait, absl::Time cutoff,
                      const absl::Status& status) override
      ABSL_LOCKS_EXCLUDED(mu_) {
    if (wait == CallRegistry::Wait::kClientRead)
      return CancelIfUnreadSince(cutoff);
    {
      absl::MutexLock lock(&mu_);
      if (!reading_ || finished_ || idle_since_ >= cutoff) return false;
      finished_ = true;
    }
    // The pending read now fails, and OnReadDone sees finished_: call_ is
    // this thread's alone.
    Finish(call_.Finish(status));
    return true;
  }

 private:
  StreamReactor(const Backend& backend, Metrics::Rpc rpc,
                grpc::CallbackServerContext* context)
      : backend_(backend),
        context_(context),
        call_(backend.metrics, rpc, *context) {}

  // Cancels the call if an answer has waited for the client to read it
  // since before `cutoff`. Under mu_, so that OnDone cannot run (and gRPC
  // free the context) meanwhile; gRPC runs OnDone on its own threads.
  bool CancelIfUnreadSince(absl::Time cutoff) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (done_ || writing_since_ >= cutoff) return false;
    context_->TryCancel();
    return true;
  }

  void Read() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      reading_ = true;
      idle_since_ = absl::Now();
    }
    StartRead(&in_);
  }

  // Finishes with `status` unless EndIfIdleSince did already.
  void End(const grpc::Status& status) ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Finish(status);
  }

  const Backend backend_;
  grpc::CallbackServerContext* const context_;  // Not owned.
  std::shared_ptr<StreamReactor> self_;
  Call call_;
  int64_t index_ = 0;  // of the message being computed
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
  absl::Mutex mu_;
  bool reading_ ABSL_GUARDED_BY(mu_) = false;  // waiting for a message
  absl::Time idle_since_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time writing_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool done_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace activation::server

#endif  // ACTIVATION_SERVER_STREAM_REACTOR_H_
