// Tells ThreadSanitizer the order gRPC keeps between threads where Debian's
// libgrpc and libgrpc++ (built without TSan) keep it out of its sight. Linked
// into every executable of a -fsanitize=thread build, never into any other
// build; in an executable without gRPC nothing calls it.
//
// Three hand-offs, each gRPC's documented contract:
//
// 1. A completion queue returns a tag's event after the operation that
//    carries the tag was started (grpc/grpc.h, grpc_call_start_batch). Here
//    every callback of the callback API runs that way: without a background
//    poller, libgrpc++ runs callbacks on its own threads, which take the
//    events from a completion queue with grpc_completion_queue_next
//    (CompletionQueue::CallbackAlternativeCQ). The queue is a lock-free list
//    inside libgrpc, so TSan saw no order between, say, a client creating a
//    ClientContext and starting its call, and the reactor's callback on
//    another thread reading that context. Annotated as a message queue:
//    release on the tag when a batch starts, acquire on it when an event
//    with that tag is returned.
//
// 2. Every callback-API call holds a reference on its grpc::Server from the
//    request until its reactor's OnDone has returned and gRPC has freed the
//    call (Server::CallbackRequest's destructor calls
//    UnrefWithPossibleNotify). Server::Shutdown drops the server's own
//    reference in UnrefAndWaitLocked and waits there for the count to reach
//    zero, so everything a reactor did in OnDone happens before Shutdown
//    returns: that is what lets a server's owner free what its reactors used
//    (our CallGate) once Shutdown has returned. The count is an atomic
//    decremented with memory_order_acq_rel inside libgrpc++, and only the
//    last decrement takes a mutex. Annotated as a release on the counter
//    before each decrement and an acquire after the wait.
//
// 3. A server reactor's OnDone comes after all its other reactions. The last
//    reaction's thread hands OnDone to gRPC's executor, or runs it itself
//    for an inlineable reactor (our unary one), both through
//    ServerCallbackCall::ScheduleOnDone: a hand-off TSan does not see
//    either; nor does it see the count of outstanding reactions when
//    libgrpc++'s own code (OnCancel's closure) takes it to zero. Annotated
//    there as an acquire on that count (whose decrements in our binary are
//    instrumented) and a release on the reactor; the acquire is the
//    first thing our reactors' OnDone does (AfterEveryReaction in
//    server/call.h), as nothing of gRPC's is interposable on that thread
//    before it.
//
// Each function is defined here, in the executable, which the dynamic linker
// prefers to the library's for every caller (libgrpc++ calls them through its
// PLT), and calls the library's definition found with dlsym(RTLD_NEXT).

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>

#include "grpc/grpc.h"
#include "grpcpp/server.h"

#if !defined(__SANITIZE_THREAD__)
#error "grpc_annotations.cc belongs in -fsanitize=thread builds only"
#endif

namespace {

// Returns the library's definition of `symbol`, hidden by the executable's.
// Aborts when it is missing: a gRPC whose names differ must fail loudly, not
// run unannotated.
template <typename Fn>
Fn Next(const char* symbol) {
  void* fn = dlsym(RTLD_NEXT, symbol);
  if (fn == nullptr) {
    std::fprintf(stderr, "grpc_annotations: no %s in gRPC: %s\n", symbol,
                 dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(fn);
}

// The event's tag was started before; this thread comes after that.
grpc_event Received(grpc_event event) {
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}

}  // namespace

extern "C" {

grpc_call_error grpc_call_start_batch(grpc_call* call, const grpc_op* ops,
                                      size_t nops, void* tag, void* reserved) {
  using Fn =
      grpc_call_error (*)(grpc_call*, const grpc_op*, size_t, void*, void*);
  static const Fn real = Next<Fn>("grpc_call_start_batch");
  __tsan_release(tag);
  return real(call, ops, nops, tag, reserved);
}

grpc_event grpc_completion_queue_next(grpc_completion_queue* cq,
                                      gpr_timespec deadline, void* reserved) {
  using Fn = grpc_event (*)(grpc_completion_queue*, gpr_timespec, void*);
  static const Fn real = Next<Fn>("grpc_completion_queue_next");
  return Received(real(cq, deadline, reserved));
}

grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq, void* tag,
                                       gpr_timespec deadline, void* reserved) {
  using Fn = grpc_event (*)(grpc_completion_queue*, void*, gpr_timespec, void*);
  static const Fn real = Next<Fn>("grpc_completion_queue_pluck");
  return Received(real(cq, tag, deadline, reserved));
}

}  // extern "C"

namespace grpc {

// Drops a call's reference, after its OnDone. Only the release half: the
// caller touches nothing of the server afterwards, which Shutdown may free
// as soon as the count is zero.
void Server::UnrefWithPossibleNotify() {
  using Fn = void (*)(Server*);
  static const Fn real = Next<Fn>("_ZN4grpc6Server23UnrefWithPossibleNotifyEv");
  __tsan_release(&shutdown_refs_outstanding_);
  real(this);
}

// Drops the server's own reference and waits for the calls' (Shutdown):
// afterwards every call's release is visible.
void Server::UnrefAndWaitLocked() {
  using Fn = void (*)(Server*);
  static const Fn real = Next<Fn>("_ZN4grpc6Server18UnrefAndWaitLockedEv");
  __tsan_release(&shutdown_refs_outstanding_);
  real(this);
  __tsan_acquire(&shutdown_refs_outstanding_);
}

namespace internal {

// Runs OnDone, now or on gRPC's executor, after the call's last reaction.
void ServerCallbackCall::ScheduleOnDone(bool inline_ondone) {
  using Fn = void (*)(ServerCallbackCall*, bool);
  static const Fn real =
      Next<Fn>("_ZN4grpc8internal18ServerCallbackCall14ScheduleOnDoneEb");
  // This thread took the call's count of outstanding reactions to zero: it
  // comes after every reaction whose decrement TSan saw (ours, inlined from
  // gRPC's headers), including those libgrpc++'s own did not order.
  __tsan_acquire(&callbacks_outstanding_);
  __tsan_release(reactor());
  real(this, inline_ondone);
}

}  // namespace internal
}  // namespace grpc
