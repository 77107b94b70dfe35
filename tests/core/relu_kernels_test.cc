// The kernels RunRelu picks between by CPU must give identical bytes.

#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

#include "core/internal/relu_plan.h"
#include "core/relu.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace activation::core::internal {
namespace {

TEST(ReluKernelsTest, Float16F16CMatchesPortableOnEveryHalf) {
  if (!CpuHasF16C()) GTEST_SKIP() << "this CPU has no F16C";
  // Every binary16 bit pattern, plus a tail that is not a multiple of 8.
  std::vector<uint16_t> in(65536 + 5);
  for (size_t i = 0; i < in.size(); ++i) in[i] = static_cast<uint16_t>(i);
  for (bool keras : {false, true}) {
    for (std::optional<double> max_value :
         {std::optional<double>(), {0.0}, {6.0}}) {
      for (double slope : {0.0, 0.1, 3.0}) {
        for (double threshold : {0.0, -0.3, 0.7}) {
          ReluParams params;
          params.mode = keras ? Mode::kKeras : Mode::kDocumented;
          params.max_value = max_value;
          params.negative_slope = slope;
          params.threshold = threshold;
          absl::StatusOr<ReluOp> op =
              ReluOp::Create(params, DataType::kFloat16);
          ASSERT_OK(op);
          const FloatConstants& c = op->plan().f;
          std::vector<uint16_t> portable(in.size());
          std::vector<uint16_t> f16c(in.size());
          const auto* src = reinterpret_cast<const uint8_t*>(in.data());
          ReluFloat16Portable(
              c, src, reinterpret_cast<uint8_t*>(portable.data()), in.size());
          ReluFloat16F16C(c, src, reinterpret_cast<uint8_t*>(f16c.data()),
                          in.size());
          for (size_t i = 0; i < in.size(); ++i) {
            ASSERT_EQ(portable[i], f16c[i])
                << "input 0x" << std::hex << in[i] << " keras " << keras
                << " slope " << slope << " threshold " << threshold;
          }
          // In place, one byte off alignment.
          std::vector<uint8_t> bytes(2 * in.size() + 1);
          std::memcpy(bytes.data() + 1, in.data(), 2 * in.size());
          ReluFloat16F16C(c, bytes.data() + 1, bytes.data() + 1, in.size());
          ASSERT_EQ(
              std::memcmp(bytes.data() + 1, portable.data(), 2 * in.size()), 0)
              << "in place, keras " << keras << " slope " << slope
              << " threshold " << threshold;
        }
      }
    }
  }
}

}  // namespace
}  // namespace activation::core::internal
