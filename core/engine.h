// A ReLU engine that spreads large tensors over a TBB task arena.

#ifndef ACTIVATION_CORE_ENGINE_H_
#define ACTIVATION_CORE_ENGINE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/relu.h"

namespace activation::core {

struct EngineOptions {
  // Threads in the engine's arena; 0 means one per core.
  int threads = 0;
  // Tensors with fewer elements run serially on the calling thread, and no
  // parallel chunk is smaller. Chosen by bench/relu_bench.cc.
  size_t grain_elements = 64 * 1024;
};

// Computes ReLU over whole tensors, in parallel for large ones. Results are
// identical for any thread count and any grain. Thread-safe: any number of
// threads may call Relu at once; they share the arena's workers.
class Engine {
 public:
  // Returns true when the caller no longer wants the result. Polled between
  // chunks, from any of the arena's threads.
  using CancelCheck = std::function<bool()>;

  // A tensor's bytes in pieces, in order, as a network stack receives them.
  // An element may straddle two or more pieces; a piece may be empty.
  using Pieces = absl::Span<const absl::Span<const uint8_t>>;

  // Returns InvalidArgument for negative `threads` or a zero grain.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const EngineOptions& options);

  // Not copyable.
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();

  // Applies `op` as ReluOp::Apply does (same contract, same results).
  // Returns Cancelled, with `output` partly written, when `cancelled`
  // returns true.
  absl::Status Relu(const ReluOp& op, const void* input, void* output,
                    size_t count, const CancelCheck& cancelled = nullptr) const;

  // As above, reading the input from `input`, out of place: the pieces'
  // sizes must add up to `count` elements, and none may overlap `output`
  // (InvalidArgument otherwise). Same results and cancellation.
  absl::Status Relu(const ReluOp& op, Pieces input, void* output, size_t count,
                    const CancelCheck& cancelled = nullptr) const;

  // As the first, validating `params` for `dtype` first (see ReluOp::Create).
  absl::Status Relu(const ReluParams& params, DataType dtype, const void* input,
                    void* output, size_t count,
                    const CancelCheck& cancelled = nullptr) const;

  // The number of threads that may work on one call.
  int concurrency() const { return concurrency_; }

 private:
  struct Arena;  // A tbb::task_arena; TBB stays out of this header.

  Engine(const EngineOptions& options, std::unique_ptr<Arena> arena);

  // Runs `compute(begin, end)` over the elements [0, count): on the calling
  // thread for a tensor of at most one grain, else in chunks of a grain over
  // the arena, polling `cancelled` between chunks.
  absl::Status Spread(size_t count, const CancelCheck& cancelled,
                      absl::FunctionRef<void(size_t, size_t)> compute) const;

  const EngineOptions options_;
  std::unique_ptr<Arena> arena_;
  const int concurrency_;
};

}  // namespace activation::core

#endif  // ACTIVATION_CORE_ENGINE_H_
