#include "server/callback_service.h"

#include <memory>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/arena.h"
#include "server/codec.h"

namespace activation::server {
namespace {

// What a computation holds from admission until its response is sent: the
// payload, moved from request to response, and the response's serialized
// copy, plus the call's own state.
uint64_t MemoryFor(const v1::ReluRequest& request) {
  constexpr uint64_t kCallOverhead = 16 << 10;
  return 2 * PayloadBytes(request.input()) + kCallOverhead;
}

// The messages of one computation: an arena whose first block is on the
// stack, so a small request's message objects cost no allocation.
class MessageArena {
 public:
  MessageArena() : arena_(Options(block_, sizeof(block_))) {}

  // Not copyable.
  MessageArena(const MessageArena&) = delete;
  MessageArena& operator=(const MessageArena&) = delete;

  template <typename Message>
  Message* Create() {
    return google::protobuf::Arena::CreateMessage<Message>(&arena_);
  }

 private:
  static google::protobuf::ArenaOptions Options(char* block, size_t size) {
    google::protobuf::ArenaOptions options;
    options.initial_block = block;
    options.initial_block_size = size;
    return options;
  }

  alignas(16) char block_[1024];
  google::protobuf::Arena arena_;
};

// Admits, computes and serializes one parsed request; the response lives on
// `arena`.
absl::Status Compute(const Backend& backend, Call& call, MessageArena& arena,
                     v1::ReluRequest* request, grpc::ByteBuffer* out) {
  if (absl::Status s = call.Admit(*backend.gate, MemoryFor(*request));
      !s.ok()) {
    return s;
  }
  auto* response = arena.Create<v1::ReluResponse>();
  if (absl::Status s = call.Relu(*backend.handler, request, response);
      !s.ok()) {
    return s;
  }
  return SerializeReluResponse(response, out);
}

// One ReluStream call: read, compute, write, repeat; one message in flight.
// A message holds an admission from its read until its answer is written;
// an idle stream holds none, and the registry ends it after the idle
// timeout or when the server drains. Owned by self_ until OnDone, and by
// the registry's callers while they end it.
class StreamReactor final
    : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
      public CallRegistry::WaitingCall {
 public:
  static StreamReactor* Start(const Backend& backend,
                              grpc::CallbackServerContext* context) {
    auto reactor =
        std::shared_ptr<StreamReactor>(new StreamReactor(backend, context));
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
    MessageArena arena;
    auto* request = arena.Create<v1::ReluRequest>();
    absl::Status s = ParseRequest(&in_, request);
    call_.Received(PayloadBytes(request->input()));
    if (s.ok()) s = Compute(backend_, call_, arena, request, &out_);
    if (!s.ok()) {
      End(call_.Finish(absl::Status(
          s.code(), absl::StrCat("message ", index_, ": ", s.message()))));
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
  StreamReactor(const Backend& backend, grpc::CallbackServerContext* context)
      : backend_(backend),
        context_(context),
        call_(backend.metrics, Metrics::Rpc::kReluStream, *context) {}

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

}  // namespace

grpc::ServerUnaryReactor* CallbackService::Relu(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kRelu, context,
      [&](Call& call) {
        // The token before the bytes: a refused caller costs no parse.
        if (absl::Status s = call.Authorize(*backend_.gate); !s.ok()) {
          call.Received();
          return s;
        }
        // gRPC runs a ByteBuffer handler even when the message never
        // arrived (the client cancelled or went away while sending it):
        // that is no invalid request.
        if (!request->Valid()) {
          return absl::CancelledError("the request message did not arrive");
        }
        // The bytes are ours for the call; parsing moves them into the
        // request, computed in place and moved on into the response.
        MessageArena arena;
        auto* parsed = arena.Create<v1::ReluRequest>();
        absl::Status s =
            ParseRequest(const_cast<grpc::ByteBuffer*>(request), parsed);
        call.Received(PayloadBytes(parsed->input()));
        if (!s.ok()) return s;
        return Compute(backend_, call, arena, parsed, response);
      },
      backend_.calls);
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>*
CallbackService::ReluStream(grpc::CallbackServerContext* context) {
  return StreamReactor::Start(backend_, context);
}

grpc::ServerUnaryReactor* CallbackService::GetServerInfo(
    grpc::CallbackServerContext* context,
    const v1::GetServerInfoRequest* /*request*/, v1::ServerInfo* response) {
  return ServeUnary(
      backend_.metrics, Metrics::Rpc::kGetServerInfo, context, [&](Call& call) {
        call.Received();
        if (absl::Status s = call.Authorize(*backend_.gate); !s.ok()) {
          return s;
        }
        *response = *backend_.info;
        call.Sent();
        return absl::OkStatus();
      });
}

}  // namespace activation::server
