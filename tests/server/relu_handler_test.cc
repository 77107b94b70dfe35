#include "server/relu_handler.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/engine.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::server {
namespace {

using ::activation::testing::StatusIs;

std::unique_ptr<core::Engine> MakeEngine(int threads = 0) {
  core::EngineOptions options;
  options.threads = threads;
  auto engine = core::Engine::Create(options);
  EXPECT_OK(engine);
  return *std::move(engine);
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

// Malformed requests of every kind get an error, never a crash (this test
// also runs under ASan/UBSan), and accepted ones compute.
TEST(ReluHandlerTest, RandomRequestsNeverCrash) {
  auto engine = MakeEngine();
  ReluHandler handler(engine.get(), 1 << 16);
  std::mt19937_64 rng(23);
  int accepted = 0;
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
    v1::ReluResponse response;
    const absl::Status status = handler.Relu(&request, &response, nullptr);
    if (status.ok()) {
      ++accepted;
    } else {
      EXPECT_THAT(status.code(),
                  ::testing::AnyOf(absl::StatusCode::kInvalidArgument,
                                   absl::StatusCode::kResourceExhausted))
          << status;
      EXPECT_FALSE(status.message().empty());
    }
  }
  EXPECT_GT(accepted, 100);  // the generator does reach the compute path
}

}  // namespace
}  // namespace activation::server
