// The fixed-point contract of every int8 kernel, written once: the requantisation arithmetic of
// TFLite's reference kernels (gemmlowp's SaturatingRoundingDoublingHighMul and
// RoundingDivideByPOT, composed as TFLite's default double-rounding MultiplyByQuantizedMultiplier)
// and the conversion of a real multiplier into an int32 multiplier and a shift (TFLite's
// QuantizeMultiplier). Every SIMD level reproduces these bit for bit; the kernel checker holds
// them to it.
//
// A real multiplier r is represented as (multiplier, shift) with r ~= multiplier * 2^(shift - 31):
// multiplier is a Q0.31 fraction in [2^30, 2^31) (or 0), shift in [-31, 30].
//
// The functions are constexpr with internal linkage (static), so every translation unit gets its
// own copy, compiled with its own flags: no copy built with -mavx2 can be picked by the linker
// for a baseline TU (see TOOLCHAIN.md).
#pragma once

#include <cassert>
#include <cstdint>
#include <limits>

namespace lsuv::kernels {

inline constexpr std::int32_t kInt32Min = std::numeric_limits<std::int32_t>::min();
inline constexpr std::int32_t kInt32Max = std::numeric_limits<std::int32_t>::max();

// round(a * b / 2^31), ties towards +infinity, computed exactly in 64 bits; the one product that
// does not fit (INT32_MIN * INT32_MIN = 2^62, whose result would be 2^31) saturates to
// INT32_MAX. (gemmlowp: the nudge is 2^30 for a non-negative product and 1 - 2^30 for a negative
// one, then a division that truncates towards zero.)
static constexpr std::int32_t saturating_rounding_doubling_high_mul(std::int32_t a,
                                                                    std::int32_t b) {
  if (a == kInt32Min && b == kInt32Min) return kInt32Max;
  const std::int64_t ab = static_cast<std::int64_t>(a) * b;
  const std::int64_t nudge = ab >= 0 ? (std::int64_t{1} << 30) : 1 - (std::int64_t{1} << 30);
  return static_cast<std::int32_t>((ab + nudge) / (std::int64_t{1} << 31));
}

// round(x / 2^exponent), ties away from zero, exponent in [0, 31].
static constexpr std::int32_t rounding_divide_by_pot(std::int32_t x, int exponent) {
  assert(exponent >= 0 && exponent <= 31);
  const std::int32_t mask = static_cast<std::int32_t>((std::int64_t{1} << exponent) - 1);
  const std::int32_t remainder = x & mask;
  const std::int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// x * 2^shift clamped to the int32 range, shift in [0, 31].
static constexpr std::int32_t saturating_left_shift(std::int32_t x, int shift) {
  assert(shift >= 0 && shift <= 31);
  const std::int64_t shifted = static_cast<std::int64_t>(x) * (std::int64_t{1} << shift);
  return shifted > kInt32Max
             ? kInt32Max
             : (shifted < kInt32Min ? kInt32Min : static_cast<std::int32_t>(shifted));
}

// x * multiplier * 2^(shift - 31) rounded as TFLite's reference does by default: a positive
// shift scales x up first, then the rounding doubling high multiply, then a rounding right shift
// by -shift (two roundings: 5 * 0.5 / 2 gives 2, not 1). TFLite multiplies x by 2^shift in int32,
// undefined on overflow; here that product saturates, so every input has one defined result
// (identical wherever TFLite's is defined). shift in [-31, 30].
static constexpr std::int32_t multiply_by_quantized_multiplier(std::int32_t x,
                                                               std::int32_t multiplier,
                                                               std::int32_t shift) {
  assert(shift >= -31 && shift <= 30);
  const int left = shift > 0 ? shift : 0;
  const int right = shift > 0 ? 0 : -shift;
  return rounding_divide_by_pot(
      saturating_rounding_doubling_high_mul(saturating_left_shift(x, left), multiplier), right);
}

// value clamped to [lo, hi] and narrowed: the last step of every int8 kernel.
static constexpr std::int8_t clamp_to_int8(std::int64_t value, std::int32_t lo, std::int32_t hi) {
  return static_cast<std::int8_t>(value < lo ? lo : (value > hi ? hi : value));
}

// sum / count rounded half away from zero (TFLite's average pool rounding), count > 0 and
// |sum| + count / 2 within int32.
static constexpr std::int32_t rounded_division(std::int32_t sum, std::int32_t count) {
  assert(count > 0);
  return sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
}

struct QuantizedMultiplier {
  std::int32_t multiplier;
  std::int32_t shift;
};

// TFLite's QuantizeMultiplier: real = q * 2^shift with q in [0.5, 1) (frexp), multiplier =
// round(q * 2^31) with ties away from zero; a q that rounds up to 2^31 becomes 2^30 with shift + 1.
// 0 gives {0, 0}; a multiplier below 2^-32 (shift < -31) flushes to {0, 0}; one of 2^30 or more
// (shift > 30) saturates to {INT32_MAX, 30}, as TFLite's single-rounding build does (its default
// build leaves such shifts, which overflow every accumulator but 0, to the kernels).
// real must be finite and non-negative (scales are); callers validate their inputs first.
QuantizedMultiplier quantize_multiplier(double real);

// The real multiplier (multiplier, shift) stands for: multiplier * 2^(shift - 31), exactly.
double dequantize_multiplier(QuantizedMultiplier q);

}  // namespace lsuv::kernels
