// Reference conversions for the 16-bit float formats, independent of
// core/internal/bits.h: GCC's _Float16 (libgcc's soft conversions) for
// binary16, exact arithmetic for bfloat16. (Under clang, which the fuzzers
// use, exact arithmetic for binary16 too.)

#ifndef ACTIVATION_TESTS_TESTING_REFERENCE_FLOAT_H_
#define ACTIVATION_TESTS_TESTING_REFERENCE_FLOAT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace activation::testing {

#if defined(__clang__)
// Clang 14 has no _Float16 on x86-64: exact arithmetic both ways, as for
// bfloat16 below.

// Rounds to binary16, ties to even, in one rounding (also from double);
// NaN gives the quiet NaN with `value`'s sign.
inline uint16_t RefHalfFromDouble(double value) {
  const uint16_t sign = std::signbit(value) ? 0x8000 : 0;
  if (std::isnan(value)) return sign | 0x7E00;
  if (std::isinf(value) || value == 0.0) {
    return sign | (std::isinf(value) ? 0x7C00 : 0);
  }
  int exponent;
  std::frexp(value, &exponent);  // |value| in [2^(exponent-1), 2^exponent)
  // binary16 keeps 11 significant bits; below 2^-14 its quantum is 2^-24.
  const int quantum_exp = std::max(exponent - 11, -24);
  const double rounded = std::ldexp(
      std::nearbyint(std::ldexp(std::fabs(value), -quantum_exp)), quantum_exp);
  if (rounded >= 65536.0) return sign | 0x7C00;
  if (rounded < 0x1p-14) {  // subnormal
    return sign | static_cast<uint16_t>(std::ldexp(rounded, 24));
  }
  int e;
  const double m = std::frexp(rounded, &e);  // rounded = m * 2^e
  return sign | static_cast<uint16_t>((e + 14) << 10) |
         static_cast<uint16_t>(std::ldexp(m, 11) - 1024);
}

inline float RefHalfToFloat(uint16_t bits) {
  const int exponent = (bits >> 10) & 0x1F;
  const int mantissa = bits & 0x3FF;
  const double sign = (bits & 0x8000) ? -1.0 : 1.0;
  if (exponent == 0x1F && mantissa != 0) {  // NaN: sign and payload kept
    const uint32_t wide = (static_cast<uint32_t>(bits & 0x8000) << 16) |
                          0x7FC00000u | (static_cast<uint32_t>(mantissa) << 13);
    float value;
    std::memcpy(&value, &wide, sizeof(value));
    return value;
  }
  if (exponent == 0x1F) return static_cast<float>(sign * HUGE_VAL);
  if (exponent == 0) {
    return static_cast<float>(std::copysign(std::ldexp(mantissa, -24), sign));
  }
  return static_cast<float>(
      std::copysign(std::ldexp(1024 + mantissa, exponent - 25), sign));
}
#else
// Rounds to binary16, ties to even, in one rounding (also from double).
inline uint16_t RefHalfFromDouble(double value) {
  const _Float16 h = static_cast<_Float16>(value);
  uint16_t bits;
  std::memcpy(&bits, &h, sizeof(bits));
  return bits;
}

inline float RefHalfToFloat(uint16_t bits) {
  _Float16 h;
  std::memcpy(&h, &bits, sizeof(h));
  return static_cast<float>(h);
}
#endif

inline float RefBFloat16ToFloat(uint16_t bits) {
  const uint32_t wide = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &wide, sizeof(value));
  return value;
}

// Rounds to bfloat16, ties to even (nearbyint in the default rounding mode);
// NaN gives the quiet NaN with `value`'s sign and upper payload bits.
inline uint16_t RefBFloat16FromDouble(double value) {
  const float as_float = static_cast<float>(value);
  uint32_t float_bits;
  std::memcpy(&float_bits, &as_float, sizeof(float_bits));
  if (std::isnan(value))
    return static_cast<uint16_t>((float_bits >> 16) | 0x40);
  if (std::isinf(value) || value == 0.0) {
    return static_cast<uint16_t>(float_bits >> 16);
  }
  int exponent;
  std::frexp(value, &exponent);  // |value| in [2^(exponent-1), 2^exponent)
  // bfloat16 keeps 8 significant bits; below 2^-126 its quantum is 2^-133.
  const int quantum_exp = std::max(exponent - 8, -133);
  const double rounded =
      std::ldexp(std::nearbyint(std::ldexp(value, -quantum_exp)), quantum_exp);
  const float result = static_cast<float>(rounded);  // exact, or overflows
  uint32_t bits;
  std::memcpy(&bits, &result, sizeof(bits));
  return static_cast<uint16_t>(bits >> 16);
}

}  // namespace activation::testing

#endif  // ACTIVATION_TESTS_TESTING_REFERENCE_FLOAT_H_
