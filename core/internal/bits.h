// Branch-free scalar conversions between float32 and the 16-bit formats.
// Written so that GCC vectorizes loops that call them; inline on purpose.
// The binary16 conversions follow Maratyszcza's FP16 library (MIT): they need
// round-to-nearest and no flush-to-zero, the C++ defaults.

#ifndef ACTIVATION_CORE_INTERNAL_BITS_H_
#define ACTIVATION_CORE_INTERNAL_BITS_H_

#include <cstdint>
#include <cstring>

namespace activation::core::internal {

inline float FloatFromBits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

inline uint32_t BitsFromFloat(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

inline float HalfBitsToFloat(uint16_t half) {
  const uint32_t w = static_cast<uint32_t>(half) << 16;
  const uint32_t sign = w & 0x80000000u;
  const uint32_t two_w = w + w;
  // Normal numbers, infinities and NaNs: rebias the exponent by scaling.
  const uint32_t exp_offset = 0xE0u << 23;
  const float normalized =
      FloatFromBits((two_w >> 4) + exp_offset) * 0x1.0p-112f;
  // Subnormals: let the FPU normalize them.
  const uint32_t magic_mask = 126u << 23;
  const float denormalized = FloatFromBits((two_w >> 17) | magic_mask) - 0.5f;
  const uint32_t denormalized_cutoff = 1u << 27;
  return FloatFromBits(sign | (two_w < denormalized_cutoff
                                   ? BitsFromFloat(denormalized)
                                   : BitsFromFloat(normalized)));
}

inline uint16_t FloatToHalfBits(float value) {
  // Scaling up then down rounds the mantissa to 10 bits, ties to even, with
  // overflow to infinity.
  float base = (__builtin_fabsf(value) * 0x1.0p+112f) * 0x1.0p-110f;
  const uint32_t w = BitsFromFloat(value);
  const uint32_t shl1_w = w + w;
  const uint32_t sign = w & 0x80000000u;
  uint32_t bias = shl1_w & 0xFF000000u;
  bias = bias < 0x71000000u ? 0x71000000u : bias;
  base = FloatFromBits((bias >> 1) + 0x07800000u) + base;
  const uint32_t bits = BitsFromFloat(base);
  const uint32_t exp_bits = (bits >> 13) & 0x00007C00u;
  const uint32_t mantissa_bits = bits & 0x00000FFFu;
  const uint32_t nonsign = exp_bits + mantissa_bits;
  return static_cast<uint16_t>((sign >> 16) |
                               (shl1_w > 0xFF000000u ? 0x7E00u : nonsign));
}

inline float BFloat16BitsToFloat(uint16_t bits) {
  return FloatFromBits(static_cast<uint32_t>(bits) << 16);
}

// Rounds float32 bit patterns to bfloat16 ones (in the low 16 bits), ties to
// even; NaN gives a quiet NaN with the same sign and the upper payload bits.
// U is uint32_t or a GCC vector of uint32_t (the vector kernels use it too).
template <typename U>
inline U BFloat16BitsFromFloatBits(U w) {
  const U rounded = (w + 0x7FFFu + ((w >> 16) & 1u)) >> 16;
  const U quiet_nan = (w >> 16) | 0x0040u;
  return (w & 0x7FFFFFFFu) > 0x7F800000u ? quiet_nan : rounded;
}

inline uint16_t FloatToBFloat16Bits(float value) {
  return static_cast<uint16_t>(BFloat16BitsFromFloatBits(BitsFromFloat(value)));
}

}  // namespace activation::core::internal

#endif  // ACTIVATION_CORE_INTERNAL_BITS_H_
