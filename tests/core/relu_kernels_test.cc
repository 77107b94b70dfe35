// The kernels RunRelu picks by CPU and size must give the bytes of the
// portable kernels (RunReluPortable), the definition: exhaustively over every
// bit pattern of the 8- and 16-bit types, randomly for the wider ones, in
// place and out of place, unaligned, at lengths that leave vector tails.

#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/dtype.h"
#include "core/internal/relu_plan.h"
#include "core/relu.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::core::internal {
namespace {

std::vector<ReluParams> ParamGrid(Mode mode) {
  std::vector<ReluParams> grid;
  for (std::optional<double> max_value :
       {std::optional<double>(), {0.0}, {0.1}, {6.0}, {100.5}, {1e10}}) {
    for (double slope : {0.0, 0.1, 1.0, 2.5, 300.0, 1e-3}) {
      for (double threshold :
           {0.0, -0.3, 0.7, 3.5, -100.5, 1000.0, 1e-50, -1e20}) {
        ReluParams params;
        params.mode = mode;
        params.max_value = max_value;
        params.negative_slope = slope;
        params.threshold = threshold;
        grid.push_back(params);
      }
    }
  }
  return grid;
}

std::string Describe(const ReluParams& p, DataType dtype) {
  return absl::StrCat(
      DataTypeName(dtype), p.mode == Mode::kKeras ? " KERAS" : " DOCUMENTED",
      " max_value=", p.max_value ? absl::StrCat(*p.max_value) : "none",
      " slope=", p.negative_slope, " threshold=", p.threshold);
}

// Returns the index of the first element where `a` and `b` differ, or -1.
long FirstDifference(const uint8_t* a, const uint8_t* b, size_t count,
                     size_t item) {
  for (size_t i = 0; i < count; ++i) {
    if (std::memcmp(a + i * item, b + i * item, item) != 0) {
      return static_cast<long>(i);
    }
  }
  return -1;
}

// Checks RunRelu against RunReluPortable on `input` and on prefixes of it
// whose lengths leave every tail, out of place with the input and output at
// different misalignments, and in place one byte off alignment.
void ExpectSameAsPortable(const ReluOp& op, const std::vector<uint8_t>& input) {
  const size_t item = ItemSize(op.dtype());
  const size_t total = input.size() / item;
  std::vector<uint8_t> expected(input.size());
  RunReluPortable(op.plan(), input.data(), expected.data(), total);
  for (size_t count : {total, size_t{1}, size_t{15}, size_t{17}, size_t{63},
                       size_t{255}, size_t{256}, size_t{257}, size_t{1003}}) {
    if (count > total) continue;
    const size_t bytes = count * item;
    for (size_t in_offset : {0, 1, 3}) {
      for (size_t out_offset : {0, 2, 5}) {
        std::vector<uint8_t> in(bytes + 8), out(bytes + 8, 0xAB);
        std::memcpy(in.data() + in_offset, input.data(), bytes);
        RunRelu(op.plan(), in.data() + in_offset, out.data() + out_offset,
                count);
        ASSERT_EQ(FirstDifference(out.data() + out_offset, expected.data(),
                                  count, item),
                  -1)
            << "count " << count << " offsets " << in_offset << ", "
            << out_offset;
        ASSERT_EQ(out[out_offset + bytes], 0xAB) << "wrote past the end";
      }
    }
    std::vector<uint8_t> data(bytes + 1);
    std::memcpy(data.data() + 1, input.data(), bytes);
    RunRelu(op.plan(), data.data() + 1, data.data() + 1, count);
    ASSERT_EQ(FirstDifference(data.data() + 1, expected.data(), count, item),
              -1)
        << "in place, count " << count;
  }
}

// Every bit pattern of a `bits`-wide type, in order.
std::vector<uint8_t> EveryPattern(int bits) {
  std::vector<uint8_t> bytes;
  for (uint32_t v = 0; v < (1u << bits); ++v) {
    bytes.push_back(static_cast<uint8_t>(v));
    if (bits == 16) bytes.push_back(static_cast<uint8_t>(v >> 8));
  }
  return bytes;
}

void CheckEveryPattern(DataType dtype, Mode mode) {
  const std::vector<uint8_t> input = EveryPattern(8 * ItemSize(dtype));
  for (const ReluParams& params : ParamGrid(mode)) {
    SCOPED_TRACE(Describe(params, dtype));
    absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
    ASSERT_OK(op);
    ExpectSameAsPortable(*op, input);
  }
}

TEST(ReluKernelsTest, EightBitTablesMatchPortableOnEveryByte) {
  CheckEveryPattern(DataType::kInt8, Mode::kDocumented);
  CheckEveryPattern(DataType::kUInt8, Mode::kDocumented);
}

TEST(ReluKernelsTest, Float16MatchesPortableOnEveryHalf) {
  CheckEveryPattern(DataType::kFloat16, Mode::kDocumented);
  CheckEveryPattern(DataType::kFloat16, Mode::kKeras);
}

TEST(ReluKernelsTest, BFloat16MatchesPortableOnEveryPattern) {
  CheckEveryPattern(DataType::kBFloat16, Mode::kDocumented);
  CheckEveryPattern(DataType::kBFloat16, Mode::kKeras);
}

TEST(ReluKernelsTest, SixteenBitIntegersMatchPortableOnEveryValue) {
  CheckEveryPattern(DataType::kInt16, Mode::kDocumented);
  CheckEveryPattern(DataType::kUInt16, Mode::kDocumented);
}

// Random elements, a quarter of them the type's limits or near the
// parameters' integer boundaries.
template <typename I>
std::vector<uint8_t> RandomIntegers(size_t count, std::mt19937_64& rng) {
  const std::vector<I> special = {std::numeric_limits<I>::min(),
                                  std::numeric_limits<I>::max(),
                                  I(0),
                                  I(1),
                                  static_cast<I>(-1),
                                  I(3),
                                  I(4),
                                  I(6),
                                  I(7),
                                  I(100),
                                  I(101),
                                  static_cast<I>(-100),
                                  static_cast<I>(-101),
                                  I(1000)};
  std::vector<uint8_t> bytes(count * sizeof(I));
  for (size_t i = 0; i < count; ++i) {
    I v = static_cast<I>(rng());
    if (rng() % 4 == 0) v = special[rng() % special.size()];
    if (rng() % 8 == 0) v = static_cast<I>(v >> (rng() % (8 * sizeof(I))));
    std::memcpy(bytes.data() + i * sizeof(I), &v, sizeof(I));
  }
  return bytes;
}

template <typename I>
void CheckRandomIntegers(DataType dtype) {
  std::mt19937_64 rng(static_cast<uint64_t>(dtype));
  std::vector<ReluParams> grid = ParamGrid(Mode::kDocumented);
  // Parameters near the limits of 64-bit integers, where double rounds.
  for (double threshold : {0x1p62, -0x1p63, 0x1p63, 9.2e18, -9.2e18}) {
    for (double slope : {0.5, 1.0, 3.0}) {
      ReluParams params;
      params.negative_slope = slope;
      params.threshold = threshold;
      grid.push_back(params);
    }
  }
  for (const ReluParams& params : grid) {
    SCOPED_TRACE(Describe(params, dtype));
    absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
    ASSERT_OK(op);
    ExpectSameAsPortable(*op, RandomIntegers<I>(4099, rng));
  }
}

TEST(ReluKernelsTest, WideIntegersMatchPortableOnRandomValues) {
  CheckRandomIntegers<int32_t>(DataType::kInt32);
  CheckRandomIntegers<int64_t>(DataType::kInt64);
  CheckRandomIntegers<uint32_t>(DataType::kUInt32);
  CheckRandomIntegers<uint64_t>(DataType::kUInt64);
}

// A 16-bit float kernel RunRelu may pick, by the CPU it needs.
struct HalfKernel {
  const char* name;
  bool (*cpu_has)();
  void (*run)(const FloatConstants& c, const uint8_t* input, uint8_t* output,
              size_t count);
};

// Calls each of `kernels` the CPU can run directly (whichever RunRelu picks
// here) on every 16-bit pattern of `dtype` with every parameter set, out of
// place and in place one byte off alignment, against the portable kernel.
void CheckHalfKernels(DataType dtype, const std::vector<HalfKernel>& kernels) {
  const std::vector<uint8_t> input = EveryPattern(16);
  const size_t count = input.size() / 2;
  for (Mode mode : {Mode::kDocumented, Mode::kKeras}) {
    for (const ReluParams& params : ParamGrid(mode)) {
      SCOPED_TRACE(Describe(params, dtype));
      absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
      ASSERT_OK(op);
      std::vector<uint8_t> portable(input.size());
      RunReluPortable(op->plan(), input.data(), portable.data(), count);
      for (const HalfKernel& kernel : kernels) {
        if (!kernel.cpu_has()) continue;
        std::vector<uint8_t> out(input.size());
        kernel.run(op->plan().f, input.data(), out.data(), count - 3);
        ASSERT_EQ(FirstDifference(out.data(), portable.data(), count - 3, 2),
                  -1)
            << kernel.name;
        std::vector<uint8_t> data(input.size() + 1);
        std::memcpy(data.data() + 1, input.data(), input.size());
        kernel.run(op->plan().f, data.data() + 1, data.data() + 1, count - 5);
        ASSERT_EQ(
            FirstDifference(data.data() + 1, portable.data(), count - 5, 2), -1)
            << kernel.name << ", in place";
      }
    }
  }
}

TEST(ReluKernelsTest, Float16KernelsMatchPortableOnEveryHalf) {
  if (!CpuHasF16C()) GTEST_SKIP() << "this CPU has no F16C";
  CheckHalfKernels(DataType::kFloat16,
                   {{"F16C", CpuHasF16C, ReluFloat16F16C},
                    {"AVX-512", CpuHasAvx512, ReluFloat16Avx512}});
}

TEST(ReluKernelsTest, BFloat16KernelsMatchPortableOnEveryPattern) {
  if (!CpuHasAvx512()) GTEST_SKIP() << "this CPU has no AVX-512";
  CheckHalfKernels(
      DataType::kBFloat16,
      {{"AVX-512, narrowing in integers", CpuHasAvx512, ReluBFloat16Avx512},
       {"AVX512_BF16", CpuHasAvx512Bf16, ReluBFloat16Avx512Bf16}});
}

}  // namespace
}  // namespace activation::core::internal
