#include "server/relu_handler.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/engine.h"
#include "core/relu.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::server {
namespace {

using ::activation::testing::StatusIs;
using ::testing::ElementsAre;

std::unique_ptr<core::Engine> MakeEngine(int threads = 0) {
  core::EngineOptions options;
  options.threads = threads;
  auto engine = core::Engine::Create(options);
  EXPECT_OK(engine);
  return *std::move(engine);
}

// The core parameters `wire` stands for, or nullopt for a mode the wire
// does not define (the handler must refuse it).
std::optional<core::ReluParams> CoreParams(const v1::ReluParams& wire) {
  core::ReluParams params;
  if (wire.has_max_value()) params.max_value = wire.max_value();
  params.negative_slope = wire.negative_slope();
  params.threshold = wire.threshold();
  switch (wire.mode()) {
    case v1::MODE_UNSPECIFIED:
    case v1::MODE_DOCUMENTED:
      params.mode = core::Mode::kDocumented;
      return params;
    case v1::MODE_KERAS:
      params.mode = core::Mode::kKeras;
      return params;
    default:
      return std::nullopt;
  }
}

// The tensor's payload bytes, wherever they are.
std::string PayloadOf(const v1::Tensor& tensor) {
  if (tensor.float_data_size() > 0) {
    return std::string(
        reinterpret_cast<const char*>(tensor.float_data().data()),
        tensor.float_data_size() * sizeof(float));
  }
  return tensor.raw_data();
}

// Returns core::Relu of `input` (count elements of `dtype`).
std::string CoreRelu(const core::ReluParams& params, core::DataType dtype,
                     const std::string& input, size_t count) {
  std::string output(input.size(), '\0');
  EXPECT_OK(core::Relu(params, dtype, input.data(), output.data(), count));
  return output;
}

TEST(ReluHandlerTest, MovesThePayloadIntoTheResponseAndComputesInPlace) {
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), 1000);
  // 64 elements: big enough to live on the heap rather than inside the
  // std::string (whose small-string buffer a swap has to copy).
  std::vector<float> values(64);
  for (size_t i = 0; i < values.size(); ++i) values[i] = float(i) - 32;
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
  request.mutable_input()->add_shape(8);
  request.mutable_input()->add_shape(8);
  request.mutable_input()->set_raw_data(values.data(), values.size() * 4);
  const char* payload = request.input().raw_data().data();
  request.mutable_params()->set_max_value(6.0);
  v1::ReluResponse response;
  ASSERT_OK(handler.Relu(&request, &response, nullptr));
  // The very buffer that came in goes out: no copy.
  EXPECT_EQ(response.output().raw_data().data(), payload);
  EXPECT_THAT(response.output().shape(), ::testing::ElementsAre(8, 8));
  std::vector<float> out(values.size());
  std::memcpy(out.data(), response.output().raw_data().data(), out.size() * 4);
  for (size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(out[i], std::min(std::max(values[i], 0.0f), 6.0f)) << i;
  }
  EXPECT_TRUE(request.input().raw_data().empty());
}

// Over and under the engine's grain (64Ki elements, where it splits the
// tensor into chunks), for every dtype and both modes where they apply.
TEST(ReluHandlerTest, EveryDtypeComputesWhatCoreReluComputes) {
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), 1 << 20);
  std::mt19937 rng(31);
  for (core::DataType dtype : core::kAllDataTypes) {
    for (const int64_t rows : {3, 2003}) {
      for (const v1::Mode mode : {v1::MODE_DOCUMENTED, v1::MODE_KERAS}) {
        const bool floating = dtype == core::DataType::kFloat32 ||
                              dtype == core::DataType::kFloat64 ||
                              dtype == core::DataType::kFloat16 ||
                              dtype == core::DataType::kBFloat16;
        if (mode == v1::MODE_KERAS && !floating) continue;
        SCOPED_TRACE(::testing::Message()
                     << core::DataTypeName(dtype) << " rows " << rows
                     << " mode " << v1::Mode_Name(mode));
        const size_t count = static_cast<size_t>(rows) * 37;
        std::string input(count * core::ItemSize(dtype), '\0');
        for (char& b : input) b = static_cast<char>(rng());
        v1::ReluRequest request;
        request.mutable_input()->set_dtype(
            static_cast<v1::DataType>(static_cast<int>(dtype)));
        request.mutable_input()->add_shape(rows);
        request.mutable_input()->add_shape(37);
        request.mutable_input()->set_raw_data(input);
        request.mutable_params()->set_max_value(4.0);
        request.mutable_params()->set_negative_slope(0.5);
        request.mutable_params()->set_threshold(-1.0);
        request.mutable_params()->set_mode(mode);

        v1::ReluResponse response;
        ComputeStats stats;
        ASSERT_OK(handler.Relu(&request, &response, nullptr, &stats));
        EXPECT_EQ(response.output().dtype(), request.input().dtype());
        EXPECT_THAT(response.output().shape(), ElementsAre(rows, 37));
        EXPECT_EQ(response.output().float_data_size(), 0);
        EXPECT_EQ(response.output().raw_data(),
                  CoreRelu(*CoreParams(request.params()), dtype, input, count));
        EXPECT_TRUE(stats.ran);
        EXPECT_EQ(stats.dtype, dtype);
        EXPECT_EQ(stats.elements, count);
      }
    }
  }
}

TEST(ReluHandlerTest, FloatDataInGivesFloatDataOutWithTheValues) {
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), 1000);
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
  request.mutable_input()->add_shape(2);
  request.mutable_input()->add_shape(3);
  for (float v : {-2.0f, 0.5f, 7.0f, -0.0f, 6.0f, 3.25f}) {
    request.mutable_input()->add_float_data(v);
  }
  request.mutable_params()->set_max_value(6.0);
  v1::ReluResponse response;
  ASSERT_OK(handler.Relu(&request, &response, nullptr));
  EXPECT_EQ(response.output().dtype(), v1::DATA_TYPE_FLOAT32);
  EXPECT_THAT(response.output().shape(), ElementsAre(2, 3));
  EXPECT_THAT(response.output().float_data(),
              ElementsAre(0.0f, 0.5f, 6.0f, 0.0f, 6.0f, 3.25f));
  EXPECT_TRUE(std::signbit(response.output().float_data(3)));  // -0 stays
  EXPECT_TRUE(response.output().raw_data().empty());
  EXPECT_EQ(request.input().float_data_size(), 0);  // moved, not copied
}

TEST(ReluHandlerTest, RefusedRequestReportsNoCompute) {
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), 10);
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
  request.mutable_input()->add_shape(11);
  request.mutable_input()->set_raw_data(std::string(44, '\0'));
  v1::ReluResponse response;
  ComputeStats stats;
  EXPECT_THAT(handler.Relu(&request, &response, nullptr, &stats),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       "input.shape [11] has 11 elements; this server "
                       "accepts at most 10 (--max_elements)"));
  EXPECT_FALSE(stats.ran);
}

TEST(ReluHandlerTest, CancelledHundredMillionElementCallStopsEarly) {
  const size_t n = 100'000'000;
  const std::vector<float> values(n, -1.0f);
  // --threads=1 runs the chunks on the handler's thread; 0 is every core.
  for (int threads : {1, 0}) {
    SCOPED_TRACE(threads);
    auto engine = MakeEngine(threads);
    ReluHandler handler(engine.get(), n);
    v1::ReluRequest request;
    request.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
    request.mutable_input()->add_shape(static_cast<int64_t>(n));
    request.mutable_input()->set_raw_data(values.data(), n * sizeof(float));
    std::atomic<int> polls{0};
    // The client goes away after the engine's first few chunks.
    auto cancelled = [&] { return polls.fetch_add(1) >= 4; };
    v1::ReluResponse response;
    EXPECT_THAT(handler.Relu(&request, &response, cancelled),
                StatusIs(absl::StatusCode::kCancelled, "call cancelled"));
    const std::string& out = response.output().raw_data();
    ASSERT_EQ(out.size(), n * sizeof(float));
    size_t computed = 0;
    for (size_t i = 0; i < n; i += 1024) {  // sample every 1024th element
      float v;
      std::memcpy(&v, out.data() + i * sizeof(float), sizeof(v));
      computed += v == 0.0f;
    }
    EXPECT_LT(computed, n / 1024 / 100) << "more than 1% was computed";
    EXPECT_LT(polls.load(), 100);
  }
}

// The code a refused request of the generator below must get:
// ResourceExhausted when its dtype and shape are valid and it has more than
// `max_elements` elements (checked before the payload and the parameters),
// else InvalidArgument.
absl::StatusCode RefusalCode(const v1::ReluRequest& request,
                             uint64_t max_elements) {
  const v1::Tensor& input = request.input();
  if (input.dtype() < 1 || input.dtype() > 12) {
    return absl::StatusCode::kInvalidArgument;
  }
  uint64_t count = 1;
  bool overflow = false;
  for (int64_t dim : input.shape()) {
    if (dim < 0) return absl::StatusCode::kInvalidArgument;
    if (dim == 0) return absl::StatusCode::kInvalidArgument;  // 0 elements
    overflow = overflow || __builtin_mul_overflow(
                               count, static_cast<uint64_t>(dim), &count);
  }
  return !overflow && count > max_elements
             ? absl::StatusCode::kResourceExhausted
             : absl::StatusCode::kInvalidArgument;
}

// Malformed requests of every kind get the right code, never a crash (this
// test also runs under ASan/UBSan), and accepted ones compute what core::Relu
// computes.
TEST(ReluHandlerTest, RandomRequestsGetTheirCodeOrCoreRelusOutput) {
  constexpr uint64_t kMaxElements = 1 << 16;
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), kMaxElements);
  std::mt19937_64 rng(23);
  int accepted = 0;
  int exhausted = 0;
  for (int i = 0; i < 20000; ++i) {
    v1::ReluRequest request;
    v1::Tensor* input = request.mutable_input();
    input->set_dtype(static_cast<v1::DataType>(rng() % 15));
    const int dims = static_cast<int>(rng() % 4);
    int64_t count = 1;
    for (int d = 0; d < dims; ++d) {
      const int64_t dim = rng() % 8 == 0 ? static_cast<int64_t>(rng())
                                         : static_cast<int64_t>(rng() % 6) - 1;
      input->add_shape(dim);
      count *= dim >= 0 && dim < 100 ? dim : 1;
    }
    const size_t item = 1u << (rng() % 4);
    const size_t bytes = rng() % 3 == 0 ? rng() % 64 : count * item;
    std::string raw(bytes, '\0');
    for (char& c : raw) c = static_cast<char>(rng());
    input->set_raw_data(raw);
    if (rng() % 5 == 0) input->add_float_data(1.0f);
    if (rng() % 3 == 0)
      request.mutable_params()->set_max_value(
          static_cast<double>(static_cast<int64_t>(rng() % 20) - 5));
    request.mutable_params()->set_negative_slope((rng() % 7) / 2.0 - 0.5);
    request.mutable_params()->set_threshold((rng() % 9) - 4.0);
    request.mutable_params()->set_mode(static_cast<v1::Mode>(rng() % 4));
    const v1::ReluRequest sent = request;
    v1::ReluResponse response;
    const absl::Status status = handler.Relu(&request, &response, nullptr);
    SCOPED_TRACE(sent.ShortDebugString());
    if (status.ok()) {
      ++accepted;
      const std::optional<core::ReluParams> params = CoreParams(sent.params());
      ASSERT_TRUE(params.has_value());
      const auto dtype = static_cast<core::DataType>(sent.input().dtype());
      const std::string in = PayloadOf(sent.input());
      EXPECT_EQ(
          PayloadOf(response.output()),
          CoreRelu(*params, dtype, in, in.size() / core::ItemSize(dtype)));
    } else {
      exhausted += status.code() == absl::StatusCode::kResourceExhausted;
      EXPECT_EQ(status.code(), RefusalCode(sent, kMaxElements)) << status;
      EXPECT_FALSE(status.message().empty());
    }
  }
  // The generator does reach the compute path and both refusals.
  EXPECT_GT(accepted, 100);
  EXPECT_GT(exhausted, 10);
}

TEST(ReluHandlerTest, SplitPayloadIsComputedFromItsPiecesIntoItsOutput) {
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), 1 << 20);
  const size_t count = 100'003;
  std::string input(count * 2, '\0');
  std::mt19937 rng(4);
  for (char& c : input) c = static_cast<char>(rng());
  // Pieces in allocations of their own, cut at odd sizes (some elements
  // straddle two).
  std::vector<std::string> storage;
  SplitPayload split;
  for (size_t at = 0; at < input.size(); at += 16'393) {
    storage.push_back(input.substr(at, 16'393));
  }
  for (const std::string& piece : storage) {
    split.input.emplace_back(reinterpret_cast<const uint8_t*>(piece.data()),
                             piece.size());
  }
  split.size = input.size();
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_BFLOAT16);
  request.mutable_input()->add_shape(count);
  request.mutable_params()->set_max_value(6);
  request.mutable_params()->set_negative_slope(0.5);
  request.mutable_params()->set_mode(v1::MODE_KERAS);
  v1::ReluResponse response;
  ASSERT_OK(handler.Relu(&request, &split, &response, nullptr));

  EXPECT_EQ(response.output().dtype(), v1::DATA_TYPE_BFLOAT16);
  EXPECT_THAT(response.output().shape(), ElementsAre(count));
  EXPECT_EQ(response.output().raw_data(), "");  // it is split.output
  ASSERT_NE(split.output, nullptr);
  const std::string expected = CoreRelu(
      *CoreParams(request.params()), core::DataType::kBFloat16, input, count);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(split.output.get()),
                        split.size),
            expected);
}

TEST(ReluHandlerTest, SplitPayloadOfTheWrongSizeIsRefusedBeforeAnyOutput) {
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), 1 << 20);
  const std::string input(40'000, '\1');
  SplitPayload split;
  split.input.emplace_back(reinterpret_cast<const uint8_t*>(input.data()),
                           input.size());
  split.size = input.size();
  v1::ReluRequest request;
  request.mutable_input()->set_dtype(v1::DATA_TYPE_FLOAT32);
  request.mutable_input()->add_shape(10'001);
  v1::ReluResponse response;
  EXPECT_THAT(handler.Relu(&request, &split, &response, nullptr),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "input.raw_data has 40000 bytes; shape [10001] of "
                       "FLOAT32 needs 40004"));
  EXPECT_EQ(split.output, nullptr);
}

}  // namespace
}  // namespace activation::server
