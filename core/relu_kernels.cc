// The ReLU inner loops. Each entry point is compiled for AVX-512, AVX2 and
// baseline x86-64 (GCC target_clones) and picked at load time, so one binary
// runs on any x86-64 CPU at the speed of the best instructions it has.
//
// The loops are plain C++ that GCC vectorizes: no intrinsics, so the scalar
// and vector paths cannot disagree. The one exception is FLOAT16 with F16C
// (ReluFloat16F16C): conversion intrinsics around the same op source,
// instantiated for GCC vector types. This file is built with
// -fno-trapping-math (lets GCC if-convert the selects; no value changes, we
// never read floating-point exception flags) and -ffp-contract=off (a fused
// multiply-add would round differently from TensorFlow).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

#include "core/dtype.h"
#include "core/internal/bits.h"
#include "core/internal/relu_plan.h"
#include "core/relu.h"

// GCC's clones, except under ThreadSanitizer: GCC instruments the clones'
// ifunc resolvers, which the dynamic linker runs before TSan's runtime is
// initialised (every executable crashes at load). TSan builds run the
// baseline kernels.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
    !defined(__SANITIZE_THREAD__)
#define ACTIVATION_CLONES 1
#define ACTIVATION_MULTIVERSION                                                \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default"), \
                 flatten))
#else
#define ACTIVATION_MULTIVERSION __attribute__((flatten))
#endif

namespace activation::core::internal {
namespace {

inline bool IsHalfNaN(uint16_t bits) { return (bits & 0x7FFFu) > 0x7C00u; }
inline bool IsBFloat16NaN(uint16_t bits) { return (bits & 0x7FFFu) > 0x7F80u; }

template <typename T>
inline T Load(const uint8_t* p, size_t i) {
  T value;
  std::memcpy(&value, p + i * sizeof(T), sizeof(T));
  return value;
}

template <typename T>
inline void Store(uint8_t* p, size_t i, T value) {
  std::memcpy(p + i * sizeof(T), &value, sizeof(T));
}

template <typename T, typename Op>
inline void MapOutOfPlace(const uint8_t* __restrict in, uint8_t* __restrict out,
                          size_t count, const Op& op) {
  for (size_t i = 0; i < count; ++i) Store<T>(out, i, op(Load<T>(in, i)));
}

// Two loops rather than one so that GCC knows, in each, whether the pointers
// alias: the in-place loop reads and writes through the same pointer.
template <typename T, typename Op>
inline void Map(const uint8_t* input, uint8_t* output, size_t count,
                const Op& op) {
  if (input == output) {
    uint8_t* data = output;
    for (size_t i = 0; i < count; ++i) Store<T>(data, i, op(Load<T>(data, i)));
    return;
  }
  // Stores that straddle cache lines cost more than loads that do: peel
  // elements until the output is 64-byte aligned, then tell GCC so. (With
  // output and input 16 bytes apart mod 32, this is 1.25x faster in cache.)
  const auto address = reinterpret_cast<uintptr_t>(output);
  if (address % sizeof(T) != 0) {  // can never be aligned
    MapOutOfPlace<T>(input, output, count, op);
    return;
  }
  const size_t head = std::min(count, (-address % 64) / sizeof(T));
  MapOutOfPlace<T>(input, output, head, op);
  const size_t done = head * sizeof(T);
  if (head == count) return;
  MapOutOfPlace<T>(
      input + done,
      static_cast<uint8_t*>(__builtin_assume_aligned(output + done, 64)),
      count - head, op);
}

template <typename Fn>
inline void WithBool(bool value, const Fn& fn) {
  if (value) {
    fn(std::true_type());
  } else {
    fn(std::false_type());
  }
}

// max and min that propagate NaN from `a` and return `a` on ties, as Eigen's
// scalar_max_op<PropagateNaN> does inside TensorFlow's Relu and Maximum.
template <typename V>
inline V MaxKeepA(V a, V b) {
  return a < b ? b : a;
}
template <typename V>
inline V MinKeepA(V a, V b) {
  return b < a ? b : a;
}

// The ops below are written once for a scalar T and for GCC vectors of T
// (V): operators mix vectors with scalars elementwise, and `?:` on a vector
// condition selects per lane. Splat makes a V from a T (V{} is all zeros).
// (Instantiated for __m256, they draw GCC's -Wpsabi note that AVX vector
// returns change the ABI; the build turns it off for this file, as they have
// internal linkage and are inlined: no call crosses an ABI boundary.)
template <typename V, typename T>
inline V Splat(T value) {
  if constexpr (std::is_arithmetic_v<V>) {
    return value;
  } else {
    return value - V{};  // exact, -0 included
  }
}

// DOCUMENTED mode: max_value wins, then identity from threshold up, then the
// slope. Both selects are written so that NaN, for which every comparison is
// false, falls through to `x` and keeps its bits; no separate NaN test.
template <typename T, bool kHasMax, bool kZeroSlope>
struct DocumentedOp {
  T max_value;
  T negative_slope;
  T threshold;

  template <typename V>
  V operator()(V x) const {
    const V below = kZeroSlope ? V{} : negative_slope * (x - threshold);
    V r = x < threshold ? below : x;
    if constexpr (kHasMax) r = x >= max_value ? Splat<V>(max_value) : r;
    return r;
  }
};

// KERAS mode, alpha != 0 with no cap and no threshold: tf.nn.leaky_relu.
template <typename T>
struct LeakyOp {
  T alpha;

  template <typename V>
  V operator()(V x) const {
    return x > V{} ? x : alpha * x;
  }
};

// KERAS mode otherwise: the op sequence of tf.keras.backend.relu.
template <typename T, bool kAlpha, bool kThreshold, bool kHasMax>
struct KerasOp {
  T alpha;
  T max_value;
  T threshold;

  template <typename V>
  V operator()(V x) const {
    V y = kThreshold ? x * (x > threshold ? Splat<V>(T(1)) : V{})
                     : MaxKeepA(x, V{});
    // Keras clips to [0, max_value]; without a threshold y is MaxKeepA(x, 0)
    // already, which MaxKeepA(., 0) leaves as it is (NaN and -0 included).
    if constexpr (kHasMax) {
      y = MinKeepA(kThreshold ? MaxKeepA(y, V{}) : y, Splat<V>(max_value));
    }
    if constexpr (kAlpha) {
      const V negative_part = MaxKeepA(kThreshold ? threshold - x : -x, V{});
      y = y - alpha * negative_part;
    }
    return y;
  }
};

// Runs a float32 op on 16-bit floats: widen, compute, round to nearest even.
// A NaN input comes out unchanged, whatever the op does with it.
template <bool kBFloat16, typename FloatOp>
struct HalfOp {
  FloatOp op;

  uint16_t operator()(uint16_t h) const {
    const float x = kBFloat16 ? BFloat16BitsToFloat(h) : HalfBitsToFloat(h);
    const float y = op(x);
    const uint16_t r = kBFloat16 ? FloatToBFloat16Bits(y) : FloatToHalfBits(y);
    const bool nan = kBFloat16 ? IsBFloat16NaN(h) : IsHalfNaN(h);
    return nan ? h : r;
  }
};

// Calls fn(op) with the op `c` calls for, computing in T.
template <typename T, typename Fn>
inline void WithFloatOp(const FloatConstants& c, const Fn& fn) {
  const T max_value = static_cast<T>(c.max_value);
  const T slope = static_cast<T>(c.negative_slope);
  const T threshold = static_cast<T>(c.threshold);
  if (!c.keras) {
    WithBool(c.has_max, [&](auto has_max) {
      WithBool(slope == T(0), [&](auto zero_slope) {
        fn(DocumentedOp<T, decltype(has_max)::value,
                        decltype(zero_slope)::value>{max_value, slope,
                                                     threshold});
      });
    });
    return;
  }
  const bool alpha = slope != T(0);
  const bool thresholded = threshold != T(0);
  if (alpha && !c.has_max && !thresholded) {
    fn(LeakyOp<T>{slope});
    return;
  }
  WithBool(alpha, [&](auto a) {
    WithBool(thresholded, [&](auto t) {
      WithBool(c.has_max, [&](auto m) {
        fn(KerasOp<T, decltype(a)::value, decltype(t)::value,
                   decltype(m)::value>{slope, max_value, threshold});
      });
    });
  });
}

// Truncates toward zero, saturating at the limits of signed I. No NaN.
template <typename I>
inline I SaturatingTrunc(double d) {
  constexpr I kMin = std::numeric_limits<I>::min();
  constexpr I kMax = std::numeric_limits<I>::max();
  if constexpr (sizeof(I) < sizeof(int64_t)) {
    d = d < static_cast<double>(kMin) ? static_cast<double>(kMin) : d;
    d = d > static_cast<double>(kMax) ? static_cast<double>(kMax) : d;
    return static_cast<I>(d);
  } else {
    constexpr double kLimit = 0x1p63;
    return d >= kLimit ? kMax : (d <= -kLimit ? kMin : static_cast<I>(d));
  }
}

template <typename I, bool kHasMax, bool kZeroSlope>
struct IntOp {
  I max_ceil;
  I max_result;
  I threshold_ceil;
  bool identity_reachable;
  double negative_slope;
  double threshold;

  I operator()(I x) const {
    I negative = 0;
    if constexpr (!kZeroSlope) {
      negative = SaturatingTrunc<I>(negative_slope *
                                    (static_cast<double>(x) - threshold));
    }
    I r = (identity_reachable & (x >= threshold_ceil)) ? x : negative;
    if constexpr (kHasMax) r = x >= max_ceil ? max_result : r;
    return r;
  }
};

template <typename I>
inline void RunInt(const IntConstants& c, const uint8_t* in, uint8_t* out,
                   size_t count) {
  WithBool(c.has_max, [&](auto has_max) {
    // Unsigned types never take the slope: x < threshold gives a negative
    // product, which saturates to 0.
    WithBool(std::is_unsigned_v<I> || c.zero_slope, [&](auto zero_slope) {
      if constexpr (std::is_signed_v<I> || decltype(zero_slope)::value) {
        const IntOp<I, decltype(has_max)::value, decltype(zero_slope)::value>
            op{static_cast<I>(c.max_ceil_bits),
               static_cast<I>(c.max_result_bits),
               static_cast<I>(c.threshold_ceil_bits),
               c.identity_reachable,
               c.negative_slope,
               c.threshold};
        Map<I>(in, out, count, op);
      }
    });
  });
}

// The kernels, one per element type, overloaded on TypeTag so that RunRelu
// can pick one through VisitDataType. FLOAT16 has two, chosen by CPU below.
ACTIVATION_MULTIVERSION void ReluKernel(TypeTag<float>, const FloatConstants& c,
                                        const uint8_t* in, uint8_t* out,
                                        size_t count) {
  WithFloatOp<float>(c,
                     [&](const auto& op) { Map<float>(in, out, count, op); });
}

ACTIVATION_MULTIVERSION void ReluKernel(TypeTag<double>,
                                        const FloatConstants& c,
                                        const uint8_t* in, uint8_t* out,
                                        size_t count) {
  WithFloatOp<double>(c,
                      [&](const auto& op) { Map<double>(in, out, count, op); });
}

ACTIVATION_MULTIVERSION void ReluKernel(TypeTag<BFloat16>,
                                        const FloatConstants& c,
                                        const uint8_t* in, uint8_t* out,
                                        size_t count) {
  WithFloatOp<float>(c, [&](const auto& op) {
    Map<uint16_t>(in, out, count, HalfOp<true, std::decay_t<decltype(op)>>{op});
  });
}

#define ACTIVATION_DEFINE_INT_KERNEL(type)                                   \
  ACTIVATION_MULTIVERSION void ReluKernel(                                   \
      TypeTag<type>, const IntConstants& c, const uint8_t* in, uint8_t* out, \
      size_t count) {                                                        \
    RunInt<type>(c, in, out, count);                                         \
  }
ACTIVATION_DEFINE_INT_KERNEL(int8_t)
ACTIVATION_DEFINE_INT_KERNEL(int16_t)
ACTIVATION_DEFINE_INT_KERNEL(int32_t)
ACTIVATION_DEFINE_INT_KERNEL(int64_t)
ACTIVATION_DEFINE_INT_KERNEL(uint8_t)
ACTIVATION_DEFINE_INT_KERNEL(uint16_t)
ACTIVATION_DEFINE_INT_KERNEL(uint32_t)
ACTIVATION_DEFINE_INT_KERNEL(uint64_t)
#undef ACTIVATION_DEFINE_INT_KERNEL

}  // namespace

ACTIVATION_MULTIVERSION void ReluFloat16Portable(const FloatConstants& c,
                                                 const uint8_t* in,
                                                 uint8_t* out, size_t count) {
  WithFloatOp<float>(c, [&](const auto& op) {
    Map<uint16_t>(in, out, count,
                  HalfOp<false, std::decay_t<decltype(op)>>{op});
  });
}

#if defined(__x86_64__) && defined(__GNUC__)
#define ACTIVATION_F16C_TARGET __attribute__((target("avx2,f16c")))

bool CpuHasF16C() {
  // F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports
  // does not know "f16c". AVX2 implies the OS saves the AVX state F16C uses.
  static const bool has = [] {
    unsigned eax, ebx, ecx, edx;
    return __builtin_cpu_supports("avx2") &&
           __get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_F16C) != 0;
  }();
  return has;
}

namespace {

// Returns `op` applied to the eight floats `x`. Clang refuses AVX vector
// arguments into code compiled without AVX, as `op` is (GCC's flatten inlines
// it instead): under clang the vectors cross by pointer, and clang inlines
// the op into its AVX2 caller all the same.
template <typename Op>
ACTIVATION_F16C_TARGET inline __m256 ApplyToEight(const Op& op, __m256 x) {
#if defined(__clang__)
  struct Apply {
    static void Run(const Op& op, const __m256* x, __m256* y) { *y = op(*x); }
  };
  __m256 y;
  Apply::Run(op, &x, &y);
  return y;
#else
  return op(x);
#endif
}

// One step of ReluFloat16F16C: 8 halves at `in` to 8 halves at `out` (which
// may be `in`). Widens, runs `op` on all eight lanes at once, rounds to
// nearest even, and puts NaN inputs back with their own bits.
template <typename Op>
ACTIVATION_F16C_TARGET inline void ReluEightHalves(const Op& op,
                                                   const uint8_t* in,
                                                   uint8_t* out) {
  const __m128i halves = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in));
  const __m256 results = ApplyToEight(op, _mm256_cvtph_ps(halves));
  const __m128i narrowed =
      _mm256_cvtps_ph(results, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m128i magnitude = _mm_and_si128(halves, _mm_set1_epi16(0x7fff));
  const __m128i is_nan = _mm_cmpgt_epi16(magnitude, _mm_set1_epi16(0x7c00));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out),
                   _mm_blendv_epi8(narrowed, halves, is_nan));
}

}  // namespace

// FLOAT16 with the F16C conversions, eight elements per step; a tail of
// fewer than eight goes through a zero-padded step.
ACTIVATION_F16C_TARGET __attribute__((flatten)) void ReluFloat16F16C(
    const FloatConstants& c, const uint8_t* in, uint8_t* out, size_t count) {
  constexpr size_t kStep = 8;
  WithFloatOp<float>(c, [&](const auto& op) {
    size_t i = 0;
    for (; i + kStep <= count; i += kStep) {
      ReluEightHalves(op, in + 2 * i, out + 2 * i);
    }
    if (i == count) return;
    alignas(16) uint8_t tail[2 * kStep] = {};
    std::memcpy(tail, in + 2 * i, 2 * (count - i));
    ReluEightHalves(op, tail, tail);
    std::memcpy(out + 2 * i, tail, 2 * (count - i));
  });
}

// The AVX-512 kernels (GCC only: clang refuses the vector arguments between
// functions of different targets that these rely on; see ApplyToEight).
#if !defined(__clang__)
#define ACTIVATION_AVX512_KERNELS 1
// With AVX512_BF16 for vcvtneps2bf16, which only the BFLOAT16 kernel for
// CPUs that have it executes (CpuHasAvx512Bf16); GCC generates no BF16
// instruction of its own.
#define ACTIVATION_AVX512_TARGET                             \
  __attribute__((                                            \
      target("avx512f,avx512bw,avx512dq,avx512vl,avx2,f16c," \
             "avx512bf16")))
#define ACTIVATION_VBMI_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi")))

bool CpuHasAvx512() {
  static const bool has = __builtin_cpu_supports("avx512f") &&
                          __builtin_cpu_supports("avx512bw") &&
                          __builtin_cpu_supports("avx512dq") &&
                          __builtin_cpu_supports("avx512vl") && CpuHasF16C();
  return has;
}

bool CpuHasAvx512Vbmi() {
  static const bool has =
      CpuHasAvx512() && __builtin_cpu_supports("avx512vbmi");
  return has;
}

bool CpuHasAvx512Bf16() {
  static const bool has =
      CpuHasAvx512() && __builtin_cpu_supports("avx512bf16");
  return has;
}

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on the
// _mm512_undefined_ps() it passes as the unused merge source (GCC bug
// 105593, fixed in GCC 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace {

// The 16-bit floats of the AVX-512 kernels, and how BFLOAT16 narrows: in
// integers (BFloat16BitsFromFloatBits) or with AVX512_BF16's vcvtneps2bf16.
enum class Half { kFloat16, kBFloat16, kBFloat16Native };

// Rounds the sixteen floats `x` to bfloat16 with vcvtneps2bf16: round to
// nearest even, NaN quieted as BFloat16BitsFromFloatBits does. It reads
// subnormal floats as zero, so lanes holding one round in integers.
ACTIVATION_AVX512_TARGET inline __m256i NarrowToBFloat16(__m512 x) {
  using U32x16 = uint32_t __attribute__((vector_size(64)));
  const __m256i narrowed = reinterpret_cast<__m256i>(_mm512_cvtneps_pbh(x));
  const __m512i bits = _mm512_castps_si512(x);
  // 1 <= |bits| <= 0x7FFFFF: subnormal, not zero.
  const __mmask16 subnormal = _mm512_cmplt_epu32_mask(
      _mm512_sub_epi32(_mm512_and_si512(bits, _mm512_set1_epi32(0x7fffffff)),
                       _mm512_set1_epi32(1)),
      _mm512_set1_epi32(0x7fffff));
  if (subnormal == 0) return narrowed;
  const U32x16 rounded =
      BFloat16BitsFromFloatBits(reinterpret_cast<U32x16>(bits));
  return _mm256_mask_blend_epi16(
      subnormal, narrowed,
      _mm512_cvtepi32_epi16(reinterpret_cast<__m512i>(rounded)));
}

// ReluEightHalves on `n` (1 to 16) FLOAT16 or BFLOAT16 elements in a ymm
// register: the lanes past `n` are neither read nor written. BFLOAT16 widens
// with a shift.
template <Half kHalf, typename Op>
ACTIVATION_AVX512_TARGET inline void ReluSixteenHalves(const Op& op,
                                                       const uint8_t* in,
                                                       uint8_t* out,
                                                       size_t n = 16) {
  using U32x16 = uint32_t __attribute__((vector_size(64)));
  const __mmask16 lanes = static_cast<__mmask16>((1u << n) - 1);
  const __m256i halves =
      n == 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in))
              : _mm256_maskz_loadu_epi16(lanes, in);
  __m256i narrowed;
  __mmask16 is_nan;
  if constexpr (kHalf != Half::kFloat16) {
    const __m512i wide = _mm512_slli_epi32(_mm512_cvtepu16_epi32(halves), 16);
    const __m512 results = op(_mm512_castsi512_ps(wide));
    if constexpr (kHalf == Half::kBFloat16Native) {
      narrowed = NarrowToBFloat16(results);
    } else {
      const U32x16 rounded = BFloat16BitsFromFloatBits(
          reinterpret_cast<U32x16>(_mm512_castps_si512(results)));
      narrowed = _mm512_cvtepi32_epi16(reinterpret_cast<__m512i>(rounded));
    }
    is_nan = _mm256_cmpgt_epi16_mask(
        _mm256_and_si256(halves, _mm256_set1_epi16(0x7fff)),
        _mm256_set1_epi16(0x7f80));
  } else {
    const __m512 results = op(_mm512_cvtph_ps(halves));
    narrowed =
        _mm512_cvtps_ph(results, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    is_nan = _mm256_cmpgt_epi16_mask(
        _mm256_and_si256(halves, _mm256_set1_epi16(0x7fff)),
        _mm256_set1_epi16(0x7c00));
  }
  const __m256i r = _mm256_mask_blend_epi16(is_nan, narrowed, halves);
  if (n == 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), r);
  } else {
    _mm256_mask_storeu_epi16(out, lanes, r);
  }
}

// Looks the 64 bytes `x` up in the 256-byte table t0..t3 (64 bytes each).
ACTIVATION_VBMI_TARGET inline __m512i LookUp64(__m512i x, __m512i t0,
                                               __m512i t1, __m512i t2,
                                               __m512i t3) {
  // vpermi2b indexes 128 bytes with the low 7 bits; the top bit picks which.
  const __m512i low = _mm512_permutex2var_epi8(t0, x, t1);
  const __m512i high = _mm512_permutex2var_epi8(t2, x, t3);
  return _mm512_mask_blend_epi8(_mm512_movepi8_mask(x), low, high);
}

}  // namespace

// FLOAT16 or BFLOAT16 with AVX-512, sixteen elements per step; the tail
// through masked loads and stores.
template <Half kHalf>
ACTIVATION_AVX512_TARGET __attribute__((flatten)) void ReluHalvesAvx512(
    const FloatConstants& c, const uint8_t* in, uint8_t* out, size_t count) {
  constexpr size_t kStep = 16;
  WithFloatOp<float>(c, [&](const auto& op) {
    size_t i = 0;
    for (; i + kStep <= count; i += kStep) {
      ReluSixteenHalves<kHalf>(op, in + 2 * i, out + 2 * i);
    }
    if (i < count) {
      ReluSixteenHalves<kHalf>(op, in + 2 * i, out + 2 * i, count - i);
    }
  });
}

void ReluFloat16Avx512(const FloatConstants& c, const uint8_t* in, uint8_t* out,
                       size_t count) {
  ReluHalvesAvx512<Half::kFloat16>(c, in, out, count);
}

void ReluBFloat16Avx512(const FloatConstants& c, const uint8_t* in,
                        uint8_t* out, size_t count) {
  ReluHalvesAvx512<Half::kBFloat16>(c, in, out, count);
}

void ReluBFloat16Avx512Bf16(const FloatConstants& c, const uint8_t* in,
                            uint8_t* out, size_t count) {
  ReluHalvesAvx512<Half::kBFloat16Native>(c, in, out, count);
}

// SaturatingTrunc<I>(slope * (x - threshold)) on eight int32 lanes holding
// values of I, computed as IntOp computes it: convert to double, subtract,
// multiply, clamp to I, truncate.
template <typename I>
ACTIVATION_AVX512_TARGET inline __m256i NegativeBranch(__m256i x, __m512d slope,
                                                       __m512d threshold) {
  const __m512d d =
      _mm512_mul_pd(slope, _mm512_sub_pd(_mm512_cvtepi32_pd(x), threshold));
  const __m512d low = _mm512_set1_pd(std::numeric_limits<I>::min());
  const __m512d high = _mm512_set1_pd(std::numeric_limits<I>::max());
  return _mm512_cvttpd_epi32(_mm512_min_pd(_mm512_max_pd(d, low), high));
}

// NegativeBranch on sixteen int32 lanes.
template <typename I>
ACTIVATION_AVX512_TARGET inline __m512i NegativeBranch(__m512i x, __m512d slope,
                                                       __m512d threshold) {
  const __m256i low =
      NegativeBranch<I>(_mm512_castsi512_si256(x), slope, threshold);
  const __m256i high =
      NegativeBranch<I>(_mm512_extracti64x4_epi64(x, 1), slope, threshold);
  return _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
}

// IntOp with a slope on `n` (1 to 16) INT16 or INT32 elements; past `n`,
// neither reads nor writes.
template <typename I, bool kHasMax>
ACTIVATION_AVX512_TARGET inline void ReluSixteenInts(
    const IntConstants& c, __m512d slope, __m512d threshold, const uint8_t* in,
    uint8_t* out, size_t n = 16) {
  static_assert(std::is_same_v<I, int16_t> || std::is_same_v<I, int32_t>);
  const __mmask16 lanes = static_cast<__mmask16>((1u << n) - 1);
  __m512i x;
  if constexpr (sizeof(I) == 2) {
    x = _mm512_cvtepi16_epi32(
        n == 16 ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(in))
                : _mm256_maskz_loadu_epi16(lanes, in));
  } else {
    x = n == 16 ? _mm512_loadu_si512(in) : _mm512_maskz_loadu_epi32(lanes, in);
  }
  __m512i r = NegativeBranch<I>(x, slope, threshold);
  if (c.identity_reachable) {
    const __m512i threshold_ceil =
        _mm512_set1_epi32(static_cast<I>(c.threshold_ceil_bits));
    r = _mm512_mask_blend_epi32(_mm512_cmpge_epi32_mask(x, threshold_ceil), r,
                                x);
  }
  if constexpr (kHasMax) {
    const __m512i max_ceil = _mm512_set1_epi32(static_cast<I>(c.max_ceil_bits));
    r = _mm512_mask_mov_epi32(
        r, _mm512_cmpge_epi32_mask(x, max_ceil),
        _mm512_set1_epi32(static_cast<I>(c.max_result_bits)));
  }
  if constexpr (sizeof(I) == 2) {
    const __m256i narrow = _mm512_cvtepi32_epi16(r);
    if (n == 16) {
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), narrow);
    } else {
      _mm256_mask_storeu_epi16(out, lanes, narrow);
    }
  } else if (n == 16) {
    _mm512_storeu_si512(out, r);
  } else {
    _mm512_mask_storeu_epi32(out, lanes, r);
  }
}

// INT16 or INT32 with a slope (c.zero_slope false) with AVX-512: sixteen
// elements per step, the tail through masked loads and stores.
template <typename I>
ACTIVATION_AVX512_TARGET __attribute__((flatten)) void ReluSignedAvx512(
    const IntConstants& c, const uint8_t* in, uint8_t* out, size_t count) {
  const __m512d slope = _mm512_set1_pd(c.negative_slope);
  const __m512d threshold = _mm512_set1_pd(c.threshold);
  WithBool(c.has_max, [&](auto has_max) {
    constexpr bool kHasMax = decltype(has_max)::value;
    constexpr size_t kStep = 16;
    size_t i = 0;
    for (; i + kStep <= count; i += kStep) {
      ReluSixteenInts<I, kHasMax>(c, slope, threshold, in + i * sizeof(I),
                                  out + i * sizeof(I));
    }
    if (i < count) {
      ReluSixteenInts<I, kHasMax>(c, slope, threshold, in + i * sizeof(I),
                                  out + i * sizeof(I), count - i);
    }
  });
}

void ReluInt16Avx512(const IntConstants& c, const uint8_t* in, uint8_t* out,
                     size_t count) {
  ReluSignedAvx512<int16_t>(c, in, out, count);
}

void ReluInt32Avx512(const IntConstants& c, const uint8_t* in, uint8_t* out,
                     size_t count) {
  ReluSignedAvx512<int32_t>(c, in, out, count);
}

// Maps `n` (1 to 64) bytes through the table t0..t3; past `n`, neither reads
// nor writes.
ACTIVATION_VBMI_TARGET inline void LookUpBytes(const uint8_t* in, uint8_t* out,
                                               size_t n, __m512i t0, __m512i t1,
                                               __m512i t2, __m512i t3) {
  if (n == 64) {
    _mm512_storeu_si512(out, LookUp64(_mm512_loadu_si512(in), t0, t1, t2, t3));
    return;
  }
  const __mmask64 lanes = (uint64_t{1} << n) - 1;
  const __m512i x = _mm512_maskz_loadu_epi8(lanes, in);
  _mm512_mask_storeu_epi8(out, lanes, LookUp64(x, t0, t1, t2, t3));
}

ACTIVATION_VBMI_TARGET void ApplyByteTableVbmi(const uint8_t* table,
                                               const uint8_t* in, uint8_t* out,
                                               size_t count) {
  const __m512i t0 = _mm512_loadu_si512(table);
  const __m512i t1 = _mm512_loadu_si512(table + 64);
  const __m512i t2 = _mm512_loadu_si512(table + 128);
  const __m512i t3 = _mm512_loadu_si512(table + 192);
  // Stores that straddle cache lines cost more than loads that do (see
  // Map): first the bytes up to the output's next 64-byte boundary.
  size_t i = std::min(count, -reinterpret_cast<uintptr_t>(out) % 64);
  if (i > 0) LookUpBytes(in, out, i, t0, t1, t2, t3);
  for (; i + 64 <= count; i += 64) {
    LookUpBytes(in + i, out + i, 64, t0, t1, t2, t3);
  }
  if (i < count) LookUpBytes(in + i, out + i, count - i, t0, t1, t2, t3);
}
#pragma GCC diagnostic pop
#endif  // !defined(__clang__)
#else
bool CpuHasF16C() { return false; }
void ReluFloat16F16C(const FloatConstants& c, const uint8_t* in, uint8_t* out,
                     size_t count) {
  ReluFloat16Portable(c, in, out, count);
}
#endif

#if !defined(ACTIVATION_AVX512_KERNELS)
bool CpuHasAvx512() { return false; }
bool CpuHasAvx512Vbmi() { return false; }
bool CpuHasAvx512Bf16() { return false; }
void ReluFloat16Avx512(const FloatConstants& c, const uint8_t* in, uint8_t* out,
                       size_t count) {
  ReluFloat16Portable(c, in, out, count);
}
void ReluBFloat16Avx512(const FloatConstants& c, const uint8_t* in,
                        uint8_t* out, size_t count) {
  ReluKernel(TypeTag<BFloat16>(), c, in, out, count);
}
void ReluBFloat16Avx512Bf16(const FloatConstants& c, const uint8_t* in,
                            uint8_t* out, size_t count) {
  ReluKernel(TypeTag<BFloat16>(), c, in, out, count);
}
void ReluInt16Avx512(const IntConstants& c, const uint8_t* in, uint8_t* out,
                     size_t count) {
  ReluKernel(TypeTag<int16_t>(), c, in, out, count);
}
void ReluInt32Avx512(const IntConstants& c, const uint8_t* in, uint8_t* out,
                     size_t count) {
  ReluKernel(TypeTag<int32_t>(), c, in, out, count);
}
void ApplyByteTableVbmi(const uint8_t* table, const uint8_t* in, uint8_t* out,
                        size_t count) {
  for (size_t i = 0; i < count; ++i) out[i] = table[in[i]];
}
#endif

void MakeByteTable(DataType dtype, const IntConstants& c, uint8_t* table) {
  uint8_t bytes[256];
  for (int i = 0; i < 256; ++i) bytes[i] = static_cast<uint8_t>(i);
  if (dtype == DataType::kInt8) {
    ReluKernel(TypeTag<int8_t>(), c, bytes, table, 256);
  } else {
    ReluKernel(TypeTag<uint8_t>(), c, bytes, table, 256);
  }
}

void RunReluPortable(const ReluPlan& plan, const uint8_t* input,
                     uint8_t* output, size_t count) {
  VisitDataType(plan.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, Float16>) {
      ReluFloat16Portable(plan.f, input, output, count);
    } else if constexpr (std::is_integral_v<T>) {
      ReluKernel(tag, plan.i, input, output, count);
    } else {
      ReluKernel(tag, plan.f, input, output, count);
    }
  });
}

namespace {

// From this many elements the 8-bit types go through a table: building it
// costs one 256-element call.
constexpr size_t kByteTableMinCount = 256;

void RunFloat16(const FloatConstants& c, const uint8_t* in, uint8_t* out,
                size_t count) {
  if (CpuHasAvx512()) {
    ReluFloat16Avx512(c, in, out, count);
  } else if (CpuHasF16C()) {
    ReluFloat16F16C(c, in, out, count);
  } else {
    ReluFloat16Portable(c, in, out, count);
  }
}

}  // namespace

void RunRelu(const ReluPlan& plan, const uint8_t* input, uint8_t* output,
             size_t count) {
  VisitDataType(plan.dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (std::is_same_v<T, int8_t> || std::is_same_v<T, uint8_t>) {
      if (count >= kByteTableMinCount && CpuHasAvx512Vbmi()) {
        alignas(64) uint8_t table[256];
        MakeByteTable(plan.dtype, plan.i, table);
        ApplyByteTableVbmi(table, input, output, count);
        return;
      }
    }
    if constexpr (std::is_same_v<T, int16_t> || std::is_same_v<T, int32_t>) {
      if (!plan.i.zero_slope && CpuHasAvx512()) {
        (sizeof(T) == 2 ? ReluInt16Avx512 : ReluInt32Avx512)(plan.i, input,
                                                             output, count);
        return;
      }
    }
    if constexpr (std::is_same_v<T, Float16>) {
      RunFloat16(plan.f, input, output, count);
    } else if constexpr (std::is_same_v<T, BFloat16>) {
      if (CpuHasAvx512Bf16()) {
        ReluBFloat16Avx512Bf16(plan.f, input, output, count);
      } else if (CpuHasAvx512()) {
        ReluBFloat16Avx512(plan.f, input, output, count);
      } else {
        RunReluPortable(plan, input, output, count);
      }
    } else {
      RunReluPortable(plan, input, output, count);
    }
  });
}

}  // namespace activation::core::internal

namespace activation::core {

absl::string_view KernelIsa() {
#if defined(__x86_64__) && defined(__GNUC__)
  const bool f16c = internal::CpuHasF16C();
#if defined(ACTIVATION_CLONES)
  // The same tests GCC's target_clones resolvers make. (Clang builds no
  // clones, see ACTIVATION_MULTIVERSION, and its 14 knows no "x86-64-v4".)
  if (__builtin_cpu_supports("x86-64-v4")) {
    return f16c ? "x86-64-v4 (AVX-512)+F16C" : "x86-64-v4 (AVX-512)";
  }
  if (__builtin_cpu_supports("x86-64-v3")) {
    return f16c ? "x86-64-v3 (AVX2)+F16C" : "x86-64-v3 (AVX2)";
  }
#endif
  return f16c ? "x86-64+F16C" : "x86-64";
#else
  return "portable";
#endif
}

}  // namespace activation::core
