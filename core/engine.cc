#include "core/engine.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

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

// An input in pieces (Engine::Pieces), with where each starts in the
// tensor's bytes, so that any range of elements can be computed on its own.
class PieceMap {
 public:
  // Returns InvalidArgument when the pieces do not add up to `bytes` or one
  // overlaps the `bytes` at `output`.
  static absl::StatusOr<PieceMap> Create(Engine::Pieces pieces,
                                         const uint8_t* output, size_t bytes) {
    PieceMap map;
    map.pieces_.reserve(pieces.size());
    map.starts_.reserve(pieces.size());
    size_t size = 0;
    for (absl::Span<const uint8_t> piece : pieces) {
      if (piece.empty()) continue;
      const auto in = reinterpret_cast<uintptr_t>(piece.data());
      const auto out = reinterpret_cast<uintptr_t>(output);
      if (in < out + bytes && out < in + piece.size()) {
        return absl::InvalidArgumentError("an input piece overlaps the output");
      }
      map.pieces_.push_back(piece);
      map.starts_.push_back(size);
      size += piece.size();
    }
    if (size != bytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the input pieces hold ", size, " bytes; ", bytes, " expected"));
    }
    return map;
  }

  // Computes the elements [begin, end) into `output`, each at its offset.
  void Run(const internal::ReluPlan& plan, size_t item_size, size_t begin,
           size_t end, uint8_t* output) const {
    size_t at = begin * item_size;  // the next element's first byte
    const size_t stop = end * item_size;
    // The last piece starting at or before `at` holds it (none is empty).
    size_t k = std::upper_bound(starts_.begin(), starts_.end(), at) -
               starts_.begin() - 1;
    while (at < stop) {
      const size_t offset = at - starts_[k];
      const size_t left = pieces_[k].size() - offset;
      if (left >= item_size) {
        const size_t n = std::min(left, stop - at) / item_size;
        internal::RunRelu(plan, pieces_[k].data() + offset, output + at, n);
        at += n * item_size;
      } else {
        // The element straddles pieces: gather it first.
        uint8_t element[sizeof(uint64_t)];
        for (size_t got = 0; got < item_size; ++k) {
          const size_t from = at + got - starts_[k];
          const size_t take =
              std::min(item_size - got, pieces_[k].size() - from);
          std::memcpy(element + got, pieces_[k].data() + from, take);
          got += take;
          if (got == item_size) break;
        }
        internal::RunRelu(plan, element, output + at, 1);
        at += item_size;
      }
      if (at < stop && at == starts_[k] + pieces_[k].size()) ++k;
    }
  }

 private:
  std::vector<absl::Span<const uint8_t>> pieces_;  // none empty
  std::vector<size_t> starts_;                     // of each piece
};

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
  const internal::ReluPlan& plan = op.plan();
  const size_t item_size = ItemSize(op.dtype());
  if (absl::Status s = internal::CheckBuffers(input, output, count * item_size);
      !s.ok()) {
    return s;
  }
  const auto* in = static_cast<const uint8_t*>(input);
  auto* out = static_cast<uint8_t*>(output);
  return Spread(count, cancelled, [&](size_t begin, size_t end) {
    const size_t offset = begin * item_size;
    internal::RunRelu(plan, in + offset, out + offset, end - begin);
  });
}

absl::Status Engine::Relu(const ReluOp& op, Pieces input, void* output,
                          size_t count, const CancelCheck& cancelled) const {
  const size_t item_size = ItemSize(op.dtype());
  auto* out = static_cast<uint8_t*>(output);
  absl::StatusOr<PieceMap> map =
      PieceMap::Create(input, out, count * item_size);
  if (!map.ok()) return map.status();
  return Spread(count, cancelled, [&](size_t begin, size_t end) {
    map->Run(op.plan(), item_size, begin, end, out);
  });
}

absl::Status Engine::Spread(
    size_t count, const CancelCheck& cancelled,
    absl::FunctionRef<void(size_t, size_t)> compute) const {
  if (cancelled && cancelled()) return absl::CancelledError("call cancelled");
  const size_t grain = options_.grain_elements;
  if (count <= grain) {
    compute(0, count);
    return absl::OkStatus();
  }
  if (concurrency() == 1) {
    // The same chunks, in order on the calling thread, so that a cancelled
    // call still stops between them.
    for (size_t begin = 0; begin < count; begin += grain) {
      if (begin > 0 && cancelled && cancelled()) {
        return absl::CancelledError("call cancelled");
      }
      compute(begin, begin + std::min(grain, count - begin));
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
        compute(range.begin(), range.end());
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
