#include "core/engine.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "absl/base/config.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/internal/relu_plan.h"
#include "tbb/blocked_range.h"
#include "tbb/info.h"
#include "tbb/parallel_for.h"
#include "tbb/partitioner.h"
#include "tbb/task_arena.h"
#include "tbb/task_group.h"

#if defined(ABSL_HAVE_THREAD_SANITIZER)
#include <sanitizer/tsan_interface.h>
#endif

namespace activation::core {
namespace {

// Under ThreadSanitizer, tells it the order TBB guarantees but keeps out of
// its sight (Debian's libtbb is not instrumented): what the caller did before
// parallel_for happens before each chunk, each chunk before parallel_for
// returns. No-ops in other builds.
void HappensBefore([[maybe_unused]] const void* sync) {
#if defined(ABSL_HAVE_THREAD_SANITIZER)
  __tsan_release(const_cast<void*>(sync));
#endif
}
void HappensAfter([[maybe_unused]] const void* sync) {
#if defined(ABSL_HAVE_THREAD_SANITIZER)
  __tsan_acquire(const_cast<void*>(sync));
#endif
}

// Where callers hand their calls to TBB's threads. One for all calls: a TBB
// thread must acquire before it reads anything of the call, even its address.
char tbb_hand_off;

}  // namespace

struct Engine::Arena {
  explicit Arena(int threads) : arena(threads) {}
  tbb::task_arena arena;
};

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const EngineOptions& options) {
  if (options.threads < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("threads must be >= 0, got ", options.threads));
  }
  if (options.grain_elements == 0) {
    return absl::InvalidArgumentError("grain_elements must be > 0, got 0");
  }
  const int threads =
      options.threads == 0 ? tbb::info::default_concurrency() : options.threads;
  auto arena = std::make_unique<Arena>(threads);
  arena->arena.initialize();
  return std::unique_ptr<Engine>(new Engine(options, std::move(arena)));
}

Engine::Engine(const EngineOptions& options, std::unique_ptr<Arena> arena)
    : options_(options),
      arena_(std::move(arena)),
      concurrency_(arena_->arena.max_concurrency()) {}

Engine::~Engine() = default;

absl::Status Engine::Relu(const ReluParams& params, DataType dtype,
                          const void* input, void* output, size_t count,
                          const CancelCheck& cancelled) const {
  absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
  if (!op.ok()) return op.status();
  return Relu(*op, input, output, count, cancelled);
}

absl::Status Engine::Relu(const ReluOp& op, const void* input, void* output,
                          size_t count, const CancelCheck& cancelled) const {
  const internal::ReluPlan* const plan = &op.plan();
  const size_t item_size = ItemSize(op.dtype());
  if (absl::Status s = internal::CheckBuffers(input, output, count * item_size);
      !s.ok()) {
    return s;
  }
  if (cancelled && cancelled()) return absl::CancelledError("call cancelled");
  const auto* in = static_cast<const uint8_t*>(input);
  auto* out = static_cast<uint8_t*>(output);
  const size_t grain = options_.grain_elements;
  if (count <= grain) {
    internal::RunRelu(*plan, in, out, count);
    return absl::OkStatus();
  }
  if (concurrency() == 1) {
    // The same chunks, in order on the calling thread, so that a cancelled
    // call still stops between them.
    for (size_t begin = 0; begin < count; begin += grain) {
      if (begin > 0 && cancelled && cancelled()) {
        return absl::CancelledError("call cancelled");
      }
      const size_t offset = begin * item_size;
      internal::RunRelu(*plan, in + offset, out + offset,
                        std::min(grain, count - begin));
    }
    return absl::OkStatus();
  }

  std::atomic<bool> stopped{false};
  tbb::task_group_context context;
  int finished = 0;  // Each chunk's results happen before its end.
  auto body = [&](const tbb::blocked_range<size_t>& range) {
    HappensAfter(&tbb_hand_off);
    if (!stopped.load(std::memory_order_relaxed)) {
      if (cancelled && cancelled()) {
        stopped.store(true, std::memory_order_relaxed);
        context.cancel_group_execution();
      } else {
        const size_t offset = range.begin() * item_size;
        internal::RunRelu(*plan, in + offset, out + offset, range.size());
      }
    }
    HappensBefore(&finished);
  };
  auto run = [&] {
    HappensAfter(&tbb_hand_off);
    tbb::parallel_for(tbb::blocked_range<size_t>(0, count, grain), body,
                      tbb::simple_partitioner(), context);
    HappensBefore(&finished);
  };
  HappensBefore(&tbb_hand_off);
  arena_->arena.execute(run);
  HappensAfter(&finished);
  if (stopped.load()) return absl::CancelledError("call cancelled");
  return absl::OkStatus();
}

}  // namespace activation::core
