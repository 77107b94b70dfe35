// ReLU throughput against memcpy over the same bytes.
//
//   build/bench/relu_bench --benchmark_min_time=0.2
//
// Reports bytes/s of input processed. "threads:0" means all cores; memcpy
// with threads > 1 splits the copy over a TBB arena of the same size, so
// every ReLU row has a memcpy row doing the same data movement.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "benchmark/benchmark.h"
#include "core/dtype.h"
#include "core/engine.h"
#include "core/internal/bits.h"
#include "core/internal/relu_plan.h"
#include "core/relu.h"
#include "tbb/blocked_range.h"
#include "tbb/info.h"
#include "tbb/parallel_for.h"
#include "tbb/task_arena.h"

namespace activation::core {
namespace {

constexpr int64_t kMinElements = 1 << 10;
constexpr int64_t kMaxElements = 1 << 26;

// A page-touched buffer of random bytes that decode to a mix of negative and
// positive elements.
std::vector<uint8_t> RandomBytes(size_t bytes) {
  std::vector<uint8_t> data(bytes);
  std::mt19937 rng(1);
  for (size_t i = 0; i < bytes; i += 4) {
    const uint32_t r = rng();
    std::memcpy(data.data() + i, &r, std::min<size_t>(4, bytes - i));
  }
  return data;
}

int Threads(const benchmark::State& state) {
  const int threads = static_cast<int>(state.range(1));
  return threads == 0 ? tbb::info::default_concurrency() : threads;
}

void SetCounters(benchmark::State& state, size_t bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(bytes));
  state.counters["threads"] = Threads(state);
}

void BM_Memcpy(benchmark::State& state, size_t item_size) {
  const size_t bytes = static_cast<size_t>(state.range(0)) * item_size;
  const std::vector<uint8_t> in = RandomBytes(bytes);
  std::vector<uint8_t> out(bytes, 1);
  tbb::task_arena arena(Threads(state));
  const size_t grain = EngineOptions().grain_elements * item_size;
  for (auto _ : state) {
    if (Threads(state) == 1 || bytes <= grain) {
      std::memcpy(out.data(), in.data(), bytes);
    } else {
      arena.execute([&] {
        tbb::parallel_for(
            tbb::blocked_range<size_t>(0, bytes, grain),
            [&](const tbb::blocked_range<size_t>& r) {
              std::memcpy(out.data() + r.begin(), in.data() + r.begin(),
                          r.size());
            },
            tbb::simple_partitioner());
      });
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  SetCounters(state, bytes);
}

void BM_Relu(benchmark::State& state, DataType dtype, bool in_place,
             double negative_slope = 0.1) {
  const size_t count = static_cast<size_t>(state.range(0));
  const size_t bytes = count * ItemSize(dtype);
  std::vector<uint8_t> in = RandomBytes(bytes);
  std::vector<uint8_t> out(bytes, 1);
  EngineOptions options;
  options.threads = static_cast<int>(state.range(1));
  auto engine = Engine::Create(options);
  ReluParams params;
  params.max_value = 6.0;
  params.negative_slope = negative_slope;
  for (auto _ : state) {
    uint8_t* dst = in_place ? in.data() : out.data();
    if (!(*engine)->Relu(params, dtype, in.data(), dst, count).ok()) {
      state.SkipWithError("Relu failed");
      break;
    }
    benchmark::DoNotOptimize(dst);
    benchmark::ClobberMemory();
  }
  SetCounters(state, bytes);
}

// The serial loop itself, without the engine: the floor for small tensors.
void BM_ReluSerialLoop(benchmark::State& state) {
  const size_t count = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> in = RandomBytes(count * 4);
  std::vector<uint8_t> out(in.size(), 1);
  ReluParams params;
  params.max_value = 6.0;
  params.negative_slope = 0.1;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        Relu(params, DataType::kFloat32, in.data(), out.data(), count));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(in.size()));
}

// FLOAT32 out of place over all cores at a fixed size, for several grains.
void BM_GrainSweep(benchmark::State& state) {
  const size_t count = static_cast<size_t>(state.range(0));
  std::vector<uint8_t> in = RandomBytes(count * 4);
  std::vector<uint8_t> out(in.size(), 1);
  EngineOptions options;
  options.grain_elements = static_cast<size_t>(state.range(1));
  auto engine = Engine::Create(options);
  for (auto _ : state) {
    benchmark::DoNotOptimize((*engine)->Relu(ReluParams(), DataType::kFloat32,
                                             in.data(), out.data(), count));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(in.size()));
}

void SizesAndThreads(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 0}) {
    for (int64_t n = kMinElements; n <= kMaxElements; n *= 4) {
      b->Args({n, threads});
    }
  }
  b->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Memcpy, float32_bytes, 4)->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Relu, float32_out_of_place, DataType::kFloat32, false)
    ->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Relu, float32_in_place, DataType::kFloat32, true)
    ->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Memcpy, float16_bytes, 2)->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Relu, float16_out_of_place, DataType::kFloat16, false)
    ->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Relu, float16_in_place, DataType::kFloat16, true)
    ->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Relu, bfloat16_out_of_place, DataType::kBFloat16, false)
    ->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Memcpy, int8_bytes, 1)->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Relu, int8_out_of_place, DataType::kInt8, false)
    ->Apply(SizesAndThreads);
BENCHMARK_CAPTURE(BM_Relu, int8_in_place, DataType::kInt8, true)
    ->Apply(SizesAndThreads);
// Signed integers with a slope evaluate the lower branch in double.
BENCHMARK_CAPTURE(BM_Relu, int8_out_of_place_slope0, DataType::kInt8, false,
                  0.0)
    ->Apply(SizesAndThreads);
// Every dtype in both modes (KERAS is floating point only), slope and cap
// active, out of place on one thread, next to memcpy of the same bytes: the
// table "Every dtype" of docs/BENCHMARKS.md.
// What a floating-point tensor holds: random bits (every exponent alike: one
// element in 256 of a float32 or bfloat16 is subnormal, and more products
// with the slope are) or values drawn from N(0, 4^2) as activations hold
// (no subnormal input or product). Integers are always random bits.
enum class Values { kRandomBits, kNormal };

std::vector<uint8_t> NormalValues(DataType dtype, size_t count) {
  std::vector<uint8_t> data(count * ItemSize(dtype));
  std::mt19937 rng(1);
  std::normal_distribution<double> dist(0, 4);
  for (size_t i = 0; i < count; ++i) {
    const double v = dist(rng);
    uint8_t* p = data.data() + i * ItemSize(dtype);
    if (dtype == DataType::kFloat64) {
      std::memcpy(p, &v, 8);
    } else if (dtype == DataType::kFloat32) {
      const float f = static_cast<float>(v);
      std::memcpy(p, &f, 4);
    } else {
      const float f = static_cast<float>(v);
      const uint16_t h = dtype == DataType::kFloat16
                             ? internal::FloatToHalfBits(f)
                             : internal::FloatToBFloat16Bits(f);
      std::memcpy(p, &h, 2);
    }
  }
  return data;
}

void BM_ReluMode(benchmark::State& state, DataType dtype, Mode mode,
                 Values values) {
  const size_t count = static_cast<size_t>(state.range(0));
  const size_t bytes = count * ItemSize(dtype);
  const std::vector<uint8_t> in = values == Values::kNormal
                                      ? NormalValues(dtype, count)
                                      : RandomBytes(bytes);
  std::vector<uint8_t> out(bytes, 1);
  ReluParams params;
  params.max_value = 6.0;
  params.negative_slope = 0.1;
  params.mode = mode;
  const absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
  if (!op.ok()) {
    state.SkipWithError("invalid params");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(op->Apply(in.data(), out.data(), count));
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(bytes));
}

// The engine reading its input in pieces as HTTP/2 delivers a message, the
// way the server computes a large request (Engine::Relu over Pieces): 16 KiB
// DATA frames, each after a 9-byte frame header, so every piece after the
// first starts misaligned and some elements straddle two; against the same
// N(0,4) values in one buffer. One thread, out of place.
void BM_ReluFrames(benchmark::State& state, bool in_frames) {
  constexpr size_t kFrame = 16384;
  constexpr size_t kHeader = 9;
  const size_t count = static_cast<size_t>(state.range(0));
  const size_t bytes = count * sizeof(float);
  const std::vector<uint8_t> in = NormalValues(DataType::kFloat32, count);
  std::vector<uint8_t> wire;
  std::vector<absl::Span<const uint8_t>> frames;
  wire.reserve(bytes + (bytes / kFrame + 1) * kHeader);
  for (size_t at = 0; at < bytes; at += kFrame) {
    wire.insert(wire.end(), kHeader, 0);
    const size_t size = std::min(kFrame, bytes - at);
    wire.insert(wire.end(), in.begin() + at, in.begin() + at + size);
    frames.emplace_back(wire.data() + wire.size() - size, size);
  }
  std::vector<uint8_t> out(bytes, 1);
  EngineOptions options;
  options.threads = 1;
  auto engine = Engine::Create(options);
  ReluParams params;
  params.max_value = 6.0;
  params.negative_slope = 0.1;
  const absl::StatusOr<ReluOp> op = ReluOp::Create(params, DataType::kFloat32);
  for (auto _ : state) {
    const absl::Status status =
        in_frames ? (*engine)->Relu(*op, frames, out.data(), count)
                  : (*engine)->Relu(*op, in.data(), out.data(), count);
    if (!status.ok()) {
      state.SkipWithError("Relu failed");
      break;
    }
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(bytes));
}

void EveryDtypeSizes(benchmark::internal::Benchmark* b) {
  for (int64_t n : {1 << 20, 1 << 22}) b->Args({n, 1});
  b->UseRealTime();
}

BENCHMARK_CAPTURE(BM_Memcpy, bytes1, 1)->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_Memcpy, bytes2, 2)->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_Memcpy, bytes4, 4)->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_Memcpy, bytes8, 8)->Apply(EveryDtypeSizes);
#define ACTIVATION_BENCH_DTYPE(name, dtype)                                   \
  BENCHMARK_CAPTURE(BM_ReluMode, name##_documented, dtype, Mode::kDocumented, \
                    Values::kRandomBits)                                      \
      ->Apply(EveryDtypeSizes);                                               \
  BENCHMARK_CAPTURE(BM_ReluMode, name##_keras, dtype, Mode::kKeras,           \
                    Values::kRandomBits)                                      \
      ->Apply(EveryDtypeSizes);                                               \
  BENCHMARK_CAPTURE(BM_ReluMode, name##_documented_normal, dtype,             \
                    Mode::kDocumented, Values::kNormal)                       \
      ->Apply(EveryDtypeSizes);                                               \
  BENCHMARK_CAPTURE(BM_ReluMode, name##_keras_normal, dtype, Mode::kKeras,    \
                    Values::kNormal)                                          \
      ->Apply(EveryDtypeSizes)
ACTIVATION_BENCH_DTYPE(float32, DataType::kFloat32);
ACTIVATION_BENCH_DTYPE(float64, DataType::kFloat64);
ACTIVATION_BENCH_DTYPE(float16, DataType::kFloat16);
ACTIVATION_BENCH_DTYPE(bfloat16, DataType::kBFloat16);
#undef ACTIVATION_BENCH_DTYPE
BENCHMARK_CAPTURE(BM_ReluMode, int8_documented, DataType::kInt8,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluMode, uint8_documented, DataType::kUInt8,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluMode, int16_documented, DataType::kInt16,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluMode, uint16_documented, DataType::kUInt16,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluMode, int32_documented, DataType::kInt32,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluMode, uint32_documented, DataType::kUInt32,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluMode, int64_documented, DataType::kInt64,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluMode, uint64_documented, DataType::kUInt64,
                  Mode::kDocumented, Values::kRandomBits)
    ->Apply(EveryDtypeSizes);

// The two AVX-512 BFLOAT16 kernels side by side, called directly (RunRelu
// picks the second where the CPU has AVX512_BF16): narrowing in integers
// against vcvtneps2bf16. DOCUMENTED mode, slope and cap, N(0,4) values.
void BM_BFloat16Narrowing(benchmark::State& state, bool native) {
  if (!internal::CpuHasAvx512() || (native && !internal::CpuHasAvx512Bf16())) {
    state.SkipWithError("this CPU lacks the kernel's instructions");
    return;
  }
  const size_t count = static_cast<size_t>(state.range(0));
  const std::vector<uint8_t> in = NormalValues(DataType::kBFloat16, count);
  std::vector<uint8_t> out(in.size(), 1);
  ReluParams params;
  params.max_value = 6.0;
  params.negative_slope = 0.1;
  const absl::StatusOr<ReluOp> op = ReluOp::Create(params, DataType::kBFloat16);
  if (!op.ok()) {
    state.SkipWithError("invalid params");
    return;
  }
  for (auto _ : state) {
    (native ? internal::ReluBFloat16Avx512Bf16 : internal::ReluBFloat16Avx512)(
        op->plan().f, in.data(), out.data(), count);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(in.size()));
}
BENCHMARK_CAPTURE(BM_BFloat16Narrowing, integers, false)
    ->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_BFloat16Narrowing, vcvtneps2bf16, true)
    ->Apply(EveryDtypeSizes);

BENCHMARK_CAPTURE(BM_ReluFrames, one_buffer, false)->Apply(EveryDtypeSizes);
BENCHMARK_CAPTURE(BM_ReluFrames, http2_frames, true)->Apply(EveryDtypeSizes);

BENCHMARK(BM_ReluSerialLoop)->RangeMultiplier(4)->Range(256, 1 << 18);
BENCHMARK(BM_GrainSweep)
    ->ArgsProduct({{1 << 16, 1 << 18, 1 << 20, 1 << 22},
                   {1 << 12, 1 << 14, 1 << 16, 1 << 18, 1 << 20}})
    ->UseRealTime();

}  // namespace
}  // namespace activation::core

BENCHMARK_MAIN();
