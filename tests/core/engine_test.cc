#include "core/engine.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/types/span.h"
#include "core/dtype.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::core {
namespace {

using ::activation::testing::StatusIs;
using ::testing::HasSubstr;

std::unique_ptr<Engine> MakeEngine(int threads, size_t grain) {
  EngineOptions options;
  options.threads = threads;
  options.grain_elements = grain;
  absl::StatusOr<std::unique_ptr<Engine>> engine = Engine::Create(options);
  EXPECT_OK(engine);
  return engine.ok() ? *std::move(engine) : nullptr;
}

std::vector<float> RandomFloats(size_t n) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> dist(-10.0f, 10.0f);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  for (size_t i = 0; i < n; i += 97) {
    values[i] = std::numeric_limits<float>::quiet_NaN();
  }
  return values;
}

TEST(EngineTest, CreateRejectsNegativeThreadsAndZeroGrain) {
  EngineOptions options;
  options.threads = -1;
  EXPECT_THAT(Engine::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "threads must be >= 0, got -1"));
  options.threads = 1;
  options.grain_elements = 0;
  EXPECT_THAT(Engine::Create(options),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("grain_elements")));
}

TEST(EngineTest, ZeroThreadsMeansOnePerCore) {
  auto engine = MakeEngine(0, 1024);
  ASSERT_NE(engine, nullptr);
  EXPECT_GE(engine->concurrency(), 1);
  auto three = MakeEngine(3, 1024);
  ASSERT_NE(three, nullptr);
  EXPECT_EQ(three->concurrency(), 3);
}

TEST(EngineTest, ParallelResultsEqualSerialForAnyThreadCountAndGrain) {
  const std::vector<float> in = RandomFloats(200'003);
  ReluParams params;
  params.max_value = 6.0;
  params.negative_slope = 0.1;
  params.threshold = -0.5;
  std::vector<float> serial(in.size());
  ASSERT_OK(
      Relu(params, DataType::kFloat32, in.data(), serial.data(), in.size()));
  for (int threads : {1, 2, 8}) {
    for (size_t grain : {size_t{1000}, size_t{4096}, size_t{1} << 20}) {
      auto engine = MakeEngine(threads, grain);
      ASSERT_NE(engine, nullptr);
      std::vector<float> out(in.size());
      ASSERT_OK(engine->Relu(params, DataType::kFloat32, in.data(), out.data(),
                             in.size()));
      EXPECT_EQ(std::memcmp(out.data(), serial.data(), in.size() * 4), 0)
          << threads << " threads, grain " << grain;
      std::vector<float> in_place = in;
      ASSERT_OK(engine->Relu(params, DataType::kFloat32, in_place.data(),
                             in_place.data(), in.size()));
      EXPECT_EQ(std::memcmp(in_place.data(), serial.data(), in.size() * 4), 0)
          << threads << " threads, grain " << grain << ", in place";
    }
  }
}

TEST(EngineTest, ConcurrentCallersShareTheArena) {
  auto engine = MakeEngine(2, 1000);
  ASSERT_NE(engine, nullptr);
  const std::vector<float> in = RandomFloats(50'000);
  ReluParams params;
  std::vector<float> expected(in.size());
  ASSERT_OK(
      Relu(params, DataType::kFloat32, in.data(), expected.data(), in.size()));
  std::vector<std::thread> callers;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int round = 0; round < 20; ++round) {
        std::vector<float> out(in.size());
        if (!engine
                 ->Relu(params, DataType::kFloat32, in.data(), out.data(),
                        in.size())
                 .ok() ||
            std::memcmp(out.data(), expected.data(), in.size() * 4) != 0) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(EngineTest, CancellationStopsBetweenChunks) {
  // One thread runs the chunks in order on the caller; two run them in TBB.
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    auto engine = MakeEngine(threads, 1024);
    ASSERT_NE(engine, nullptr);
    const size_t n = 1 << 22;
    std::vector<float> in(n, -1.0f);
    std::vector<float> out(n, 42.0f);
    std::atomic<int> polls{0};
    // Cancelled from the third poll on: some chunks ran, most did not.
    auto cancelled = [&] { return polls.fetch_add(1) >= 2; };
    EXPECT_THAT(engine->Relu(ReluParams(), DataType::kFloat32, in.data(),
                             out.data(), n, cancelled),
                StatusIs(absl::StatusCode::kCancelled, "call cancelled"));
    size_t untouched = 0;
    for (float v : out) untouched += v == 42.0f;
    EXPECT_GT(untouched, n / 2);
    EXPECT_LT(polls.load(), static_cast<int>(n / 1024));
  }
}

TEST(EngineTest, CancelledBeforeStartDoesNoWork) {
  auto engine = MakeEngine(1, 1024);
  ASSERT_NE(engine, nullptr);
  std::vector<float> in(10, -1.0f);
  std::vector<float> out(10, 42.0f);
  EXPECT_THAT(engine->Relu(ReluParams(), DataType::kFloat32, in.data(),
                           out.data(), in.size(), [] { return true; }),
              StatusIs(absl::StatusCode::kCancelled, "call cancelled"));
  EXPECT_EQ(out, std::vector<float>(10, 42.0f));
}

TEST(EngineTest, RejectsInvalidParamsAndPartialOverlap) {
  auto engine = MakeEngine(2, 1024);
  ASSERT_NE(engine, nullptr);
  std::vector<float> buffer(100, 1.0f);
  ReluParams params;
  params.max_value = -1.0;
  EXPECT_THAT(engine->Relu(params, DataType::kFloat32, buffer.data(),
                           buffer.data(), buffer.size()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "max_value must be >= 0, got -1"));
  EXPECT_THAT(
      engine->Relu(ReluParams(), DataType::kFloat32, buffer.data(),
                   buffer.data() + 1, 50),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("overlap")));
}

TEST(EngineTest, EveryDtypeRunsInParallel) {
  auto engine = MakeEngine(2, 512);
  ASSERT_NE(engine, nullptr);
  std::mt19937 rng(5);
  for (DataType dtype : kAllDataTypes) {
    const size_t n = 10'000;
    std::vector<uint8_t> in(n * ItemSize(dtype));
    for (uint8_t& b : in) b = static_cast<uint8_t>(rng());
    std::vector<uint8_t> serial(in.size());
    std::vector<uint8_t> parallel(in.size());
    ReluParams params;
    params.max_value = 3.0;
    params.negative_slope = 0.25;
    ASSERT_OK(Relu(params, dtype, in.data(), serial.data(), n));
    ASSERT_OK(engine->Relu(params, dtype, in.data(), parallel.data(), n));
    EXPECT_EQ(serial, parallel) << DataTypeName(dtype);
  }
}

TEST(EngineTest, ReluWithAnOpEqualsReluWithItsParamsForEveryDtype) {
  auto engine = MakeEngine(2, 512);
  ASSERT_NE(engine, nullptr);
  std::mt19937 rng(9);
  ReluParams params;
  params.max_value = 5.5;
  params.negative_slope = 0.75;
  params.threshold = -1.5;
  for (DataType dtype : kAllDataTypes) {
    const size_t n = 10'001;
    std::vector<uint8_t> in(n * ItemSize(dtype));
    for (uint8_t& b : in) b = static_cast<uint8_t>(rng());
    absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
    ASSERT_OK(op);
    std::vector<uint8_t> with_params(in.size());
    std::vector<uint8_t> with_op(in.size());
    std::vector<uint8_t> serial(in.size());
    ASSERT_OK(engine->Relu(params, dtype, in.data(), with_params.data(), n));
    ASSERT_OK(engine->Relu(*op, in.data(), with_op.data(), n));
    ASSERT_OK(op->Apply(in.data(), serial.data(), n));
    EXPECT_EQ(with_op, with_params) << DataTypeName(dtype);
    EXPECT_EQ(with_op, serial) << DataTypeName(dtype);
  }
}

// `bytes` in pieces of random sizes, each in an allocation of its own (a
// read past a piece's end is one ASan sees): some empty, many of one to
// three bytes (so that elements straddle two or more pieces), some long.
class RandomPieces {
 public:
  RandomPieces(const std::vector<uint8_t>& bytes, std::mt19937& rng) {
    for (size_t at = 0; at < bytes.size();) {
      constexpr size_t kLongest[] = {0, 3, 100, 20'000};
      const size_t longest = kLongest[rng() % 4];
      size_t size = longest == 0 ? 0 : 1 + rng() % longest;
      size = std::min(size, bytes.size() - at);
      storage_.emplace_back(bytes.begin() + at, bytes.begin() + at + size);
      at += size;
    }
    storage_.emplace_back();  // an empty last piece
    for (const std::vector<uint8_t>& piece : storage_) {
      pieces_.emplace_back(piece.data(), piece.size());
    }
  }

  Engine::Pieces pieces() const { return pieces_; }

 private:
  std::vector<std::vector<uint8_t>> storage_;
  std::vector<absl::Span<const uint8_t>> pieces_;
};

TEST(EngineTest, PiecesGiveTheBitsOfOneBufferForEveryDtypeModeAndThreadCount) {
  std::mt19937 rng(11);
  ReluParams params;
  params.max_value = 5.5;
  params.negative_slope = 0.75;
  params.threshold = -1.5;
  for (int threads : {1, 2}) {
    for (size_t grain : {size_t{333}, size_t{1} << 20}) {
      auto engine = MakeEngine(threads, grain);
      ASSERT_NE(engine, nullptr);
      for (DataType dtype : kAllDataTypes) {
        for (Mode mode : {Mode::kDocumented, Mode::kKeras}) {
          if (mode == Mode::kKeras && !IsFloatingPoint(dtype)) continue;
          SCOPED_TRACE(absl::StrCat(DataTypeName(dtype), " threads ", threads,
                                    " grain ", grain, " mode ",
                                    static_cast<int>(mode)));
          params.mode = mode;
          absl::StatusOr<ReluOp> op = ReluOp::Create(params, dtype);
          ASSERT_OK(op);
          const size_t n = 10'007;
          std::vector<uint8_t> in(n * ItemSize(dtype));
          for (uint8_t& b : in) b = static_cast<uint8_t>(rng());
          std::vector<uint8_t> whole(in.size());
          ASSERT_OK(op->Apply(in.data(), whole.data(), n));
          const RandomPieces pieces(in, rng);
          std::vector<uint8_t> out(in.size(), 0xA5);
          ASSERT_OK(engine->Relu(*op, pieces.pieces(), out.data(), n));
          EXPECT_EQ(out, whole);
        }
      }
    }
  }
}

TEST(EngineTest, PiecesMustAddUpAndStayClearOfTheOutput) {
  auto engine = MakeEngine(2, 1024);
  ASSERT_NE(engine, nullptr);
  absl::StatusOr<ReluOp> op = ReluOp::Create(ReluParams(), DataType::kFloat32);
  ASSERT_OK(op);
  std::vector<uint8_t> in(40);
  std::vector<uint8_t> out(40);
  const std::vector<absl::Span<const uint8_t>> short_by_one = {
      absl::MakeConstSpan(in.data(), 20),
      absl::MakeConstSpan(in.data() + 20, 19)};
  EXPECT_THAT(engine->Relu(*op, short_by_one, out.data(), 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "the input pieces hold 39 bytes; 40 expected"));
  const std::vector<absl::Span<const uint8_t>> into_output = {
      absl::MakeConstSpan(in.data(), 20),
      absl::MakeConstSpan(out.data() + 36, 4),
      absl::MakeConstSpan(in.data(), 16)};
  EXPECT_THAT(engine->Relu(*op, into_output, out.data(), 10),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "an input piece overlaps the output"));
}

TEST(EngineTest, PiecesStopBetweenChunksWhenCancelled) {
  for (int threads : {1, 2}) {
    SCOPED_TRACE(threads);
    auto engine = MakeEngine(threads, 1024);
    ASSERT_NE(engine, nullptr);
    absl::StatusOr<ReluOp> op =
        ReluOp::Create(ReluParams(), DataType::kFloat32);
    ASSERT_OK(op);
    const size_t n = 1 << 22;
    std::vector<float> in(n, -1.0f);
    std::vector<absl::Span<const uint8_t>> pieces;
    const auto* bytes = reinterpret_cast<const uint8_t*>(in.data());
    for (size_t at = 0; at < n * sizeof(float); at += 16381) {
      pieces.emplace_back(bytes + at,
                          std::min<size_t>(16381, n * sizeof(float) - at));
    }
    std::vector<float> out(n, 42.0f);
    std::atomic<int> polls{0};
    auto cancelled = [&] { return polls.fetch_add(1) >= 2; };
    EXPECT_THAT(engine->Relu(*op, pieces, out.data(), n, cancelled),
                StatusIs(absl::StatusCode::kCancelled, "call cancelled"));
    size_t untouched = 0;
    for (float v : out) untouched += v == 42.0f;
    EXPECT_GT(untouched, n / 2);
  }
}

}  // namespace
}  // namespace activation::core
