// absl_mutex_annotations.cc under ThreadSanitizer: Debian's absl::Mutex is
// not instrumented, so each test here is a data race to TSan unless the
// executable's annotated entry points stand in for Abseil's (run with
// TSAN_OPTIONS=halt_on_error=1, a report fails the test). The companion
// unannotated_race.cc shows the same pattern reported without them.

#include <dlfcn.h>

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace activation {
namespace {

constexpr int kThreads = 4;
constexpr int kRounds = 1000;

// Runs `body` on kThreads threads and joins them.
template <typename Body>
void OnThreads(Body body) {
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(body);
  for (std::thread& thread : threads) thread.join();
}

// The object file holding `address`.
const void* ObjectOf(const void* address) {
  Dl_info info;
  if (dladdr(address, &info) == 0) return nullptr;
  return info.dli_fbase;
}

TEST(AbslMutexAnnotationsTest, EveryCallerFindsTheExecutablesEntryPoints) {
  // What libgrpc's and libgpr's PLT entries resolve to: the global scope.
  for (const char* symbol :
       {"_ZN4absl7debian35Mutex4LockEv", "_ZN4absl7debian35Mutex6UnlockEv",
        "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE"}) {
    const void* found = dlsym(RTLD_DEFAULT, symbol);
    ASSERT_NE(found, nullptr) << symbol;
    EXPECT_EQ(ObjectOf(found),
              ObjectOf(reinterpret_cast<const void*>(&ObjectOf)))
        << symbol << " resolves outside the test executable";
  }
}

TEST(AbslMutexAnnotationsTest, LockOrdersWritesOfManyThreads) {
  absl::Mutex mu;
  int count = 0;  // Guarded by mu.
  OnThreads([&] {
    for (int i = 0; i < kRounds; ++i) {
      absl::MutexLock lock(&mu);
      ++count;
    }
  });
  absl::MutexLock lock(&mu);
  EXPECT_EQ(count, kThreads * kRounds);
}

TEST(AbslMutexAnnotationsTest, ReaderLockSeesWritesUnderTheWriterLock) {
  absl::Mutex mu;
  int value = 0;  // Guarded by mu.
  int last_read = -1;
  std::thread writer([&] {
    for (int i = 1; i <= kRounds; ++i) {
      absl::MutexLock lock(&mu);
      value = i;
    }
  });
  std::thread reader([&] {
    for (int i = 0; i < kRounds; ++i) {
      absl::ReaderMutexLock lock(&mu);
      EXPECT_GE(value, last_read);
      last_read = value;
    }
  });
  writer.join();
  reader.join();
  absl::ReaderMutexLock lock(&mu);
  EXPECT_EQ(value, kRounds);
}

TEST(AbslMutexAnnotationsTest, TryLockOrdersWritesWhenItSucceeds) {
  absl::Mutex mu;
  int count = 0;  // Guarded by mu.
  OnThreads([&] {
    for (int done = 0; done < kRounds;) {
      if (!mu.TryLock()) continue;
      ++count;
      ++done;
      mu.Unlock();
    }
  });
  absl::MutexLock lock(&mu);
  EXPECT_EQ(count, kThreads * kRounds);
}

TEST(AbslMutexAnnotationsTest, CondVarWaitRetakesTheMutex) {
  absl::Mutex mu;
  absl::CondVar changed;
  int turn = 0;  // Guarded by mu: whose turn, 0 or 1.
  int log = 0;   // Guarded by mu.
  auto player = [&](int me) {
    for (int i = 0; i < kRounds; ++i) {
      absl::MutexLock lock(&mu);
      while (turn != me) changed.WaitWithTimeout(&mu, absl::Seconds(10));
      log = log * 2 % 1000003 + me;
      turn = 1 - me;
      changed.Signal();
    }
  };
  std::thread zero(player, 0);
  std::thread one(player, 1);
  zero.join();
  one.join();
  absl::MutexLock lock(&mu);
  EXPECT_EQ(turn, 0);
  EXPECT_NE(log, 0);
}

TEST(AbslMutexAnnotationsTest, AwaitAndLockWhenSeeTheConditionsWrites) {
  absl::Mutex mu;
  int stage = 0;    // Guarded by mu.
  int payload = 0;  // Guarded by mu.
  std::thread producer([&] {
    absl::MutexLock lock(&mu);
    payload = 42;
    stage = 1;
    mu.Await(absl::Condition(
        +[](int* s) { return *s == 2; }, &stage));
    payload += 1;
    stage = 3;
  });
  mu.LockWhen(absl::Condition(
      +[](int* s) { return *s == 1; }, &stage));
  EXPECT_EQ(payload, 42);
  payload *= 2;
  stage = 2;
  mu.Unlock();
  mu.LockWhenWithTimeout(absl::Condition(
                             +[](int* s) { return *s == 3; }, &stage),
                         absl::Seconds(10));
  EXPECT_EQ(payload, 85);
  mu.Unlock();
  producer.join();
}

TEST(AbslMutexAnnotationsTest, NotificationOrdersWritesBeforeNotify) {
  // The waiter comes late, finds the notification given and takes Abseil's
  // fast path, which reads an atomic and takes no lock.
  int written = 0;
  absl::Notification done;
  std::thread notifier([&] {
    written = 7;
    done.Notify();
  });
  absl::SleepFor(absl::Milliseconds(50));
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(written, 7);
  notifier.join();
}

TEST(AbslMutexAnnotationsTest, MutexesReusingMemoryStartUnlocked) {
  // Destroyed mutexes are forgotten: a new one at the same address, locked by
  // another thread, is not the old one still held.
  for (int i = 0; i < 100; ++i) {
    auto* mu = new absl::Mutex;
    int count = 0;
    std::thread other([&] {
      absl::MutexLock lock(mu);
      ++count;
    });
    {
      absl::MutexLock lock(mu);
      ++count;
    }
    other.join();
    EXPECT_EQ(count, 2);
    delete mu;
  }
}

}  // namespace
}  // namespace activation
