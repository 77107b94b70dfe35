// Makes the reference count of absl::Status's shared representation visible
// to ThreadSanitizer when Abseil itself was built without it (Debian's
// libabsl_status.so). Linked into every executable of a -fsanitize=thread
// build, never into any other build.
//
// Copies of a non-OK Status share one heap StatusRep; the copy that drops the
// last reference deletes it, in Status::UnrefNonInlined, whose atomic
// decrement (memory_order_acq_rel) orders every other copy's reads before the
// delete. Inside the uninstrumented library TSan sees neither the decrement
// nor, as the delete is a tail call, that the library frees the memory: it
// reported our reads of a Status's message on one thread against the last
// copy's destruction on another. This file defines UnrefNonInlined in the
// executable, which the dynamic linker prefers to the library's for every
// caller (our code, libgrpc, and Abseil's own calls through its PLT), with
// the library's logic (load, decrement, delete at zero), compiled here with
// TSan, so the decrement is an instrumented atomic. Increments (Status::Ref,
// inline and relaxed) need no annotation.

#include <atomic>
#include <cstdint>

#include "absl/base/config.h"
#include "absl/status/internal/status_internal.h"
#include "absl/status/status.h"

#if !defined(ABSL_HAVE_THREAD_SANITIZER)
#error "absl_status_annotations.cc belongs in -fsanitize=thread builds only"
#endif
// The definition below does what Abseil 20220623's (absl/status/status.cc)
// does; check it against another Abseil before allowing that one.
#if ABSL_LTS_RELEASE_VERSION != 20220623
#error "absl_status_annotations.cc mirrors Abseil 20220623's UnrefNonInlined"
#endif

namespace absl {
ABSL_NAMESPACE_BEGIN

void Status::UnrefNonInlined(uintptr_t rep) {
  status_internal::StatusRep* r = RepToPointer(rep);
  // The only reference needs no decrement; else the one that takes the count
  // to zero deletes.
  const bool last = r->ref.load(std::memory_order_acquire) == 1 ||
                    r->ref.fetch_sub(1, std::memory_order_acq_rel) == 1;
  if (last) delete r;
}

ABSL_NAMESPACE_END
}  // namespace absl
