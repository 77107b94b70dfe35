// Tells ThreadSanitizer about absl::Mutex, absl::CondVar and
// absl::Notification when Abseil itself was built without it (Debian's
// libabsl_synchronization.so). Linked into every executable of a
// -fsanitize=thread build, never into any other build.
//
// Abseil annotates its synchronisation for TSan only when it is compiled with
// -fsanitize=thread. Debian's is not, so TSan never sees its locks taken or
// released and reports every field guarded by an absl::Mutex as a race: ours,
// and gRPC's, whose grpc_core::Mutex and gpr_mu are absl::Mutex too
// (GPR_ABSEIL_SYNC). This file defines the library's out-of-line entry points
// in the executable, which the dynamic linker prefers to the library's for
// every caller (our code, libgrpc, libgpr, and Abseil's own internal calls,
// which go through its PLT). Each definition calls the library's through
// dlsym(RTLD_NEXT) wrapped in the annotations Abseil would have made:
// __tsan_mutex_pre_lock/post_lock around a lock, pre_unlock/post_unlock around
// an unlock, both around a wait that releases and retakes the mutex.
//
// Limits: a wait (CondVar::Wait*, Mutex::Await*) is annotated as releasing and
// retaking a writer lock; no code in this repository or in gRPC waits with a
// reader lock held. absl::BlockingCounter and absl::Barrier are not annotated
// (nothing here uses them).

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "absl/base/config.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#if !defined(ABSL_HAVE_THREAD_SANITIZER)
#error "absl_mutex_annotations.cc belongs in -fsanitize=thread builds only"
#endif
#if !ABSL_OPTION_USE_INLINE_NAMESPACE
#error "the mangled names below assume Abseil's inline namespace"
#endif

namespace {

using absl::Condition;
using absl::CondVar;
using absl::Duration;
using absl::Mutex;
using absl::Notification;
using absl::Time;

#define ACTIVATION_STRINGIFY_INNER(x) #x
#define ACTIVATION_STRINGIFY(x) ACTIVATION_STRINGIFY_INNER(x)

// Returns the definition of `symbol` that the executable's hides: Abseil's.
// `symbol` is the mangled name after "absl::<inline namespace>::"; `konst`
// says whether the member function is const. Aborts when it is missing: an
// Abseil whose names differ must fail loudly, not run unannotated.
void* Next(const char* symbol, bool konst = false) {
  const std::string ns =
      ACTIVATION_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string mangled = std::string(konst ? "_ZNK" : "_ZN") + "4absl" +
                              std::to_string(ns.size()) + ns + symbol;
  void* fn = dlsym(RTLD_NEXT, mangled.c_str());
  if (fn == nullptr) {
    std::fprintf(stderr, "absl_mutex_annotations: no %s in Abseil: %s\n",
                 mangled.c_str(), dlerror());
    std::abort();
  }
  return fn;
}

// Abseil's definitions, as functions taking `this` first (the Itanium ABI).
struct Real {
  using Void = void (*)(Mutex*);
  using Bool = bool (*)(Mutex*);
  using When = void (*)(Mutex*, const Condition&);
  using WhenFor = bool (*)(Mutex*, const Condition&, Duration);
  using WhenUntil = bool (*)(Mutex*, const Condition&, Time);

  Void lock = reinterpret_cast<Void>(Next("5Mutex4LockEv"));
  Void unlock = reinterpret_cast<Void>(Next("5Mutex6UnlockEv"));
  Bool try_lock = reinterpret_cast<Bool>(Next("5Mutex7TryLockEv"));
  Void reader_lock = reinterpret_cast<Void>(Next("5Mutex10ReaderLockEv"));
  Void reader_unlock = reinterpret_cast<Void>(Next("5Mutex12ReaderUnlockEv"));
  Bool reader_try_lock =
      reinterpret_cast<Bool>(Next("5Mutex13ReaderTryLockEv"));
  Void destroy = reinterpret_cast<Void>(Next("5MutexD1Ev"));

  When lock_when =
      reinterpret_cast<When>(Next("5Mutex8LockWhenERKNS0_9ConditionE"));
  WhenFor lock_when_for = reinterpret_cast<WhenFor>(
      Next("5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  WhenUntil lock_when_until = reinterpret_cast<WhenUntil>(
      Next("5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  When reader_lock_when =
      reinterpret_cast<When>(Next("5Mutex14ReaderLockWhenERKNS0_9ConditionE"));
  WhenFor reader_lock_when_for = reinterpret_cast<WhenFor>(Next(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  WhenUntil reader_lock_when_until = reinterpret_cast<WhenUntil>(
      Next("5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE"));
  When await = reinterpret_cast<When>(Next("5Mutex5AwaitERKNS0_9ConditionE"));
  WhenFor await_for = reinterpret_cast<WhenFor>(
      Next("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE"));
  WhenUntil await_until = reinterpret_cast<WhenUntil>(
      Next("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE"));

  using Wait = void (*)(CondVar*, Mutex*);
  using WaitFor = bool (*)(CondVar*, Mutex*, Duration);
  using WaitUntil = bool (*)(CondVar*, Mutex*, Time);
  Wait wait = reinterpret_cast<Wait>(Next("7CondVar4WaitEPNS0_5MutexE"));
  WaitFor wait_for = reinterpret_cast<WaitFor>(
      Next("7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE"));
  WaitUntil wait_until = reinterpret_cast<WaitUntil>(
      Next("7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE"));

  using Notify = void (*)(Notification*);
  using Await = void (*)(const Notification*);
  using AwaitFor = bool (*)(const Notification*, Duration);
  using AwaitUntil = bool (*)(const Notification*, Time);
  Notify notify = reinterpret_cast<Notify>(Next("12Notification6NotifyEv"));
  Await notified =
      reinterpret_cast<Await>(Next("12Notification19WaitForNotificationEv",
                                   /*konst=*/true));
  AwaitFor notified_for = reinterpret_cast<AwaitFor>(
      Next("12Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
           /*konst=*/true));
  AwaitUntil notified_until = reinterpret_cast<AwaitUntil>(
      Next("12Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
           /*konst=*/true));
};

// Resolves every function on first use, so a missing one aborts at once.
const Real& Abseil() {
  static const Real* const real = new Real;
  return *real;
}

// The mutex whose entry point this thread is inside, if any. Abseil's entry
// points call each other (CondVar::WaitWithTimeout calls WaitWithDeadline,
// through the PLT, so here): only the outermost call on a mutex annotates.
thread_local const void* t_inside = nullptr;

// Marks the current thread inside an entry point on `mu` for its lifetime.
class Entry {
 public:
  explicit Entry(const void* mu)
      : previous_(t_inside), outermost_(t_inside != mu) {
    t_inside = mu;
  }
  ~Entry() { t_inside = previous_; }
  // Not copyable.
  Entry(const Entry&) = delete;
  Entry& operator=(const Entry&) = delete;

  bool outermost() const { return outermost_; }

 private:
  const void* const previous_;
  const bool outermost_;
};

// Runs `call` and returns its result, if any, after `after` has run.
template <typename Call, typename After>
auto Then(Call call, After after) {
  if constexpr (std::is_void_v<decltype(call())>) {
    call();
    after();
  } else {
    auto result = call();
    after();
    return result;
  }
}

// Runs `take`, which returns with `mu` held, annotated as a lock with `flags`.
// Memory accesses inside, such as a Condition evaluated by Abseil, are
// ignored: TSan's rule between pre_lock and post_lock.
template <typename Take>
auto AnnotatedLock(Mutex* mu, unsigned flags, Take take) {
  Entry entry(mu);
  if (!entry.outermost()) return take();
  __tsan_mutex_pre_lock(mu, flags);
  return Then(take, [&] { __tsan_mutex_post_lock(mu, flags, 0); });
}

// Runs `wait`, which releases the writer lock on `mu` and holds it again when
// it returns, annotated as an unlock followed by a lock.
template <typename Wait>
auto AnnotatedWait(Mutex* mu, Wait wait) {
  Entry entry(mu);
  if (!entry.outermost()) return wait();
  __tsan_mutex_pre_unlock(mu, 0);
  __tsan_mutex_post_unlock(mu, 0);
  __tsan_mutex_pre_lock(mu, 0);
  return Then(wait, [&] { __tsan_mutex_post_lock(mu, 0, 0); });
}

// Releases `mu` with `release`, annotated as an unlock with `flags`.
void AnnotatedUnlock(Mutex* mu, unsigned flags, void (*release)(Mutex*)) {
  Entry entry(mu);
  if (!entry.outermost()) return release(mu);
  __tsan_mutex_pre_unlock(mu, flags);
  release(mu);
  __tsan_mutex_post_unlock(mu, flags);
}

// Tries to take `mu` with `try_take`, annotated as a try-lock with `flags`
// (and `failed` when it was not taken).
bool AnnotatedTryLock(Mutex* mu, unsigned flags, unsigned failed,
                      bool (*try_take)(Mutex*)) {
  Entry entry(mu);
  if (!entry.outermost()) return try_take(mu);
  __tsan_mutex_pre_lock(mu, flags);
  const bool taken = try_take(mu);
  __tsan_mutex_post_lock(mu, taken ? flags : flags | failed, 0);
  return taken;
}

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  AnnotatedLock(this, 0, [this] { Abseil().lock(this); });
}

void Mutex::Unlock() { AnnotatedUnlock(this, 0, Abseil().unlock); }

bool Mutex::TryLock() {
  return AnnotatedTryLock(this, __tsan_mutex_try_lock,
                          __tsan_mutex_try_lock_failed, Abseil().try_lock);
}

void Mutex::ReaderLock() {
  AnnotatedLock(this, __tsan_mutex_read_lock,
                [this] { Abseil().reader_lock(this); });
}

void Mutex::ReaderUnlock() {
  AnnotatedUnlock(this, __tsan_mutex_read_lock, Abseil().reader_unlock);
}

bool Mutex::ReaderTryLock() {
  return AnnotatedTryLock(this, __tsan_mutex_try_read_lock,
                          __tsan_mutex_try_read_lock_failed,
                          Abseil().reader_try_lock);
}

// Both destructor symbols (complete and base object) are this definition.
// Whoever destroys a mutex comes after its last unlock, which gRPC ensures by
// reference counts in its uninstrumented code: say so before TSan imitates
// the destroy as a write to the mutex (else an unlock-destroy race report).
Mutex::~Mutex() {
  __tsan_acquire(this);
  __tsan_mutex_destroy(this, 0);
  Abseil().destroy(this);
}

void Mutex::LockWhen(const Condition& cond) {
  AnnotatedLock(this, 0, [&] { Abseil().lock_when(this, cond); });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  return AnnotatedLock(
      this, 0, [&] { return Abseil().lock_when_for(this, cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  return AnnotatedLock(
      this, 0, [&] { return Abseil().lock_when_until(this, cond, deadline); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  AnnotatedLock(this, __tsan_mutex_read_lock,
                [&] { Abseil().reader_lock_when(this, cond); });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  return AnnotatedLock(this, __tsan_mutex_read_lock, [&] {
    return Abseil().reader_lock_when_for(this, cond, timeout);
  });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  return AnnotatedLock(this, __tsan_mutex_read_lock, [&] {
    return Abseil().reader_lock_when_until(this, cond, deadline);
  });
}

void Mutex::Await(const Condition& cond) {
  AnnotatedWait(this, [&] { Abseil().await(this, cond); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  return AnnotatedWait(this,
                       [&] { return Abseil().await_for(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  return AnnotatedWait(
      this, [&] { return Abseil().await_until(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  AnnotatedWait(mu, [&] { Abseil().wait(this, mu); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  return AnnotatedWait(mu,
                       [&] { return Abseil().wait_for(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  return AnnotatedWait(mu,
                       [&] { return Abseil().wait_until(this, mu, deadline); });
}

// A waiter that finds the notification already given returns without taking
// the mutex, on an atomic TSan does not see: order it by the object itself.
void Notification::Notify() {
  __tsan_release(this);
  Abseil().notify(this);
}

void Notification::WaitForNotification() const {
  Abseil().notified(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  const bool notified = Abseil().notified_for(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  const bool notified = Abseil().notified_until(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
