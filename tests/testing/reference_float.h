// Reference conversions for the 16-bit float formats, independent of
// core/internal/bits.h: GCC's _Float16 (libgcc's soft conversions) for
// binary16, exact arithmetic for bfloat16.

#ifndef ACTIVATION_TESTS_TESTING_REFERENCE_FLOAT_H_
#define ACTIVATION_TESTS_TESTING_REFERENCE_FLOAT_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace activation::testing {

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
