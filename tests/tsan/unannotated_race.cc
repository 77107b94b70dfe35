// The pattern absl_mutex_annotations_test.cc checks, built without
// absl_mutex_annotations.cc: two threads increment a field guarded by an
// absl::Mutex. Against Debian's uninstrumented Abseil, ThreadSanitizer
// reports a data race here (ctest expects that report): the reason every
// executable of the TSan build links the annotations. If this stops
// reporting, Abseil is instrumented and the annotations can go.

#include <cstdio>
#include <thread>

#include "absl/synchronization/mutex.h"

int main() {
  absl::Mutex mu;
  int count = 0;  // Guarded by mu.
  auto add = [&] {
    for (int i = 0; i < 1000; ++i) {
      absl::MutexLock lock(&mu);
      ++count;
    }
  };
  std::thread first(add);
  std::thread second(add);
  first.join();
  second.join();
  std::printf("count %d\n", count);
  return count == 2000 ? 0 : 1;
}
