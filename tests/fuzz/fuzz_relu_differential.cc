// Differential fuzzing of the ReLU kernels. From the fuzzer's bytes: a dtype,
// a mode, parameters (picked from boundary values or taken as raw bits) and a
// payload. Checks that ReluOp::Create accepts exactly the valid parameters,
// and that for accepted ones every way of running the op gives the same
// bytes: core::Relu out of place at every output alignment, in place, one
// byte off alignment (in and out of place), Engine::Relu in parallel chunks,
// and, for FLOAT16, the F16C and portable kernels called directly. All of
// them must match the scalar reference (tests/testing/reference_relu.h).
//
// Input layout: [dtype][flags][param]x3[payload...], each param a selector
// byte and, for raw bits, 1, 4 or 8 more bytes (see ReadParam).

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/dtype.h"
#include "core/engine.h"
#include "core/internal/relu_plan.h"
#include "core/relu.h"
#include "tests/fuzz/fuzz_engine.h"
#include "tests/testing/reference_relu.h"

namespace activation {
namespace {

using core::DataType;
using core::ReluParams;

// Reads the fuzzer's bytes front to back; past the end, reads zeros.
class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint8_t Byte() { return pos_ < size_ ? data_[pos_++] : 0; }
  template <typename T>
  T Bits() {
    unsigned char bytes[sizeof(T)] = {};
    for (unsigned char& b : bytes) b = Byte();
    T value;
    std::memcpy(&value, bytes, sizeof(T));
    return value;
  }
  const uint8_t* rest() const { return data_ + pos_; }
  size_t rest_size() const { return size_ - pos_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Parameters where the kernels branch: zeros, the ends of every integer
// type and half each way, the float16/float32 limits and their rounding
// edges, subnormals.
constexpr double kInterestingParams[] = {
    0.0,
    -0.0,
    0.5,
    1.0,
    6.0,
    0.1,
    0.2,
    -0.7,
    3.5,
    1e-50,
    127.0,
    127.5,
    128.0,
    -128.5,
    255.5,
    32767.5,
    65535.5,
    2147483647.5,
    2147483648.0,
    4294967295.5,
    9223372036854775807.0,  // 2^63
    -9223372036854775808.0,
    18446744073709551616.0,  // 2^64
    1e10,
    -1e30,
    65504.0,  // largest binary16
    65520.0,  // rounds to binary16 infinity
    3.4028234663852886e38,
    3.4028235677973366e38,  // rounds to float32 infinity
    std::numeric_limits<double>::max(),
    std::numeric_limits<double>::denorm_min(),
    1.401298464324817e-45,  // float32 denorm_min
    5.960464477539063e-08,  // binary16 denorm_min
    std::numeric_limits<double>::infinity(),
    std::numeric_limits<double>::quiet_NaN(),
};

// Selector s: s % 4 == 0 picks kInterestingParams[s / 4]; 1 reads a double's
// bits, 2 a float's, 3 a signed byte k giving k / 4.
double ReadParam(ByteReader& in) {
  const uint8_t selector = in.Byte();
  constexpr size_t kCount = sizeof(kInterestingParams) / sizeof(double);
  switch (selector % 4) {
    case 0:
      return kInterestingParams[(selector / 4) % kCount];
    case 1:
      return in.Bits<double>();
    case 2:
      return in.Bits<float>();
    default:
      return static_cast<int8_t>(in.Byte()) / 4.0;
  }
}

[[noreturn]] void Fail(const char* what, DataType dtype, const ReluParams& p,
                       size_t index) {
  std::fprintf(stderr,
               "fuzz_relu_differential: %s: %s mode=%s max_value=%s "
               "slope=%.17g threshold=%.17g at element %zu\n",
               what, std::string(core::DataTypeName(dtype)).c_str(),
               p.mode == core::Mode::kKeras ? "KERAS" : "DOCUMENTED",
               p.max_value ? std::to_string(*p.max_value).c_str() : "none",
               p.negative_slope, p.threshold, index);
  std::abort();
}

// Returns whether `p` is valid for `dtype`, from docs/semantics.md rather
// than from core/relu.cc.
bool ExpectValid(const ReluParams& p, DataType dtype) {
  auto fits_float = [](double v) {
    return std::fabs(v) < 3.4028235677973366e38;  // rounds below infinity
  };
  if (p.max_value && !(std::isfinite(*p.max_value) && *p.max_value >= 0)) {
    return false;
  }
  if (!std::isfinite(p.negative_slope) || !(p.negative_slope >= 0)) {
    return false;
  }
  if (!std::isfinite(p.threshold)) return false;
  if (p.mode == core::Mode::kKeras) {
    if (!core::IsFloatingPoint(dtype)) return false;
    if (p.max_value && !fits_float(*p.max_value)) return false;
    if (!fits_float(p.negative_slope) || !fits_float(p.threshold)) {
      return false;
    }
  }
  return true;
}

// A heap buffer of exactly `size` bytes after `offset` bytes, its start
// 64-byte aligned: AddressSanitizer sees any access past the end.
class Buffer {
 public:
  Buffer(size_t size, size_t offset)
      : base_(static_cast<uint8_t*>(
            ::operator new(size + offset, std::align_val_t(64)))),
        offset_(offset) {}
  ~Buffer() { ::operator delete(base_, std::align_val_t(64)); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() const { return base_ + offset_; }

 private:
  uint8_t* base_;
  size_t offset_;
};

// Checks that `actual` holds the same bytes as `want`.
void ExpectSameBytes(const char* what, const uint8_t* want,
                     const uint8_t* actual, size_t bytes, DataType dtype,
                     const ReluParams& p) {
  if (bytes == 0 || std::memcmp(want, actual, bytes) == 0) return;
  size_t i = 0;
  while (want[i] == actual[i]) ++i;
  Fail(what, dtype, p, i / core::ItemSize(dtype));
}

void CheckOp(const core::ReluOp& op, const ReluParams& p, const uint8_t* data,
             size_t count, size_t out_offset) {
  const DataType dtype = op.dtype();
  const size_t bytes = count * core::ItemSize(dtype);
  Buffer input(bytes, 0);
  if (bytes > 0) std::memcpy(input.data(), data, bytes);

  Buffer reference(bytes, 0);
  testing::RefReluBytes(p, dtype, input.data(), reference.data(), count);

  // Out of place, the output at every offset mod 64 the fuzzer picks.
  Buffer out(bytes, out_offset);
  if (!core::Relu(p, dtype, input.data(), out.data(), count).ok()) {
    Fail("Relu refused an op Create accepted", dtype, p, 0);
  }
  const size_t bad =
      testing::FirstMismatch(p, dtype, reference.data(), out.data(), count);
  if (bad != count) Fail("differs from the reference", dtype, p, bad);

  Buffer in_place(bytes, 0);
  if (bytes > 0) std::memcpy(in_place.data(), data, bytes);
  if (!op.Apply(in_place.data(), in_place.data(), count).ok()) std::abort();
  ExpectSameBytes("in place differs", out.data(), in_place.data(), bytes, dtype,
                  p);

  // One byte off alignment: out of place, then in place.
  Buffer odd_in(bytes, 1);
  Buffer odd_out(bytes, 1);
  if (bytes > 0) std::memcpy(odd_in.data(), data, bytes);
  if (!op.Apply(odd_in.data(), odd_out.data(), count).ok()) std::abort();
  ExpectSameBytes("unaligned differs", out.data(), odd_out.data(), bytes, dtype,
                  p);
  if (!op.Apply(odd_in.data(), odd_in.data(), count).ok()) std::abort();
  ExpectSameBytes("unaligned in place differs", out.data(), odd_in.data(),
                  bytes, dtype, p);

  Buffer parallel(bytes, 0);
  if (!testing::FuzzEngine()
           .Relu(op, input.data(), parallel.data(), count)
           .ok()) {
    std::abort();
  }
  ExpectSameBytes("Engine (parallel) differs", out.data(), parallel.data(),
                  bytes, dtype, p);

  if (dtype == DataType::kFloat16) {
    Buffer portable(bytes, 1);
    core::internal::ReluFloat16Portable(op.plan().f, input.data(),
                                        portable.data(), count);
    ExpectSameBytes("ReluFloat16Portable differs", out.data(), portable.data(),
                    bytes, dtype, p);
    if (core::internal::CpuHasF16C()) {
      Buffer f16c(bytes, 1);
      core::internal::ReluFloat16F16C(op.plan().f, input.data(), f16c.data(),
                                      count);
      ExpectSameBytes("ReluFloat16F16C differs", out.data(), f16c.data(), bytes,
                      dtype, p);
    }
  }
}

void FuzzOne(const uint8_t* data, size_t size) {
  ByteReader in(data, size);
  const DataType dtype = core::kAllDataTypes[in.Byte() % 12];
  const uint8_t flags = in.Byte();
  ReluParams p;
  p.mode = (flags & 1) ? core::Mode::kKeras : core::Mode::kDocumented;
  const double max_value = ReadParam(in);
  if (flags & 2) p.max_value = max_value;
  p.negative_slope = ReadParam(in);
  p.threshold = ReadParam(in);
  const size_t out_offset = (flags >> 2) % 64;

  absl::StatusOr<core::ReluOp> op = core::ReluOp::Create(p, dtype);
  if (op.ok() != ExpectValid(p, dtype)) {
    Fail(op.ok() ? "Create accepted invalid params"
                 : "Create refused valid params",
         dtype, p, 0);
  }
  if (!op.ok()) {
    if (op.status().code() != absl::StatusCode::kInvalidArgument) {
      Fail("Create refused with a code other than InvalidArgument", dtype, p,
           0);
    }
    return;
  }
  const size_t count = in.rest_size() / core::ItemSize(dtype);
  CheckOp(*op, p, in.rest(), count, out_offset);
}

}  // namespace
}  // namespace activation

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  activation::FuzzOne(data, size);
  return 0;
}
