// The fixed-point contract (kernels/fixed_point.hpp) on hand-computed corner values, and on
// random inputs against independent definitions of the same roundings in 64-bit integers.
#include <doctest/doctest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <type_traits>

#include "kernels/fixed_point.hpp"

namespace {

namespace k = lsuv::kernels;
using k::kInt32Max;
using k::kInt32Min;

constexpr std::int32_t kHalf = 1 << 30;  // 0.5 as a Q0.31 multiplier

// Hand-computed: a * b / 2^31 rounded, ties towards +infinity.
static_assert(k::saturating_rounding_doubling_high_mul(kInt32Min, kInt32Min) == kInt32Max);
static_assert(k::saturating_rounding_doubling_high_mul(kInt32Max, kInt32Max) == kInt32Max - 1);
static_assert(k::saturating_rounding_doubling_high_mul(kInt32Min, kInt32Max) == kInt32Min + 1);
static_assert(k::saturating_rounding_doubling_high_mul(kInt32Max, kInt32Min) == kInt32Min + 1);
static_assert(k::saturating_rounding_doubling_high_mul(kInt32Min, kHalf) == -kHalf);
static_assert(k::saturating_rounding_doubling_high_mul(5, kInt32Min) == -5);
static_assert(k::saturating_rounding_doubling_high_mul(12345, 0) == 0);
static_assert(k::saturating_rounding_doubling_high_mul(1, kHalf) == 1);      // 0.5 -> 1
static_assert(k::saturating_rounding_doubling_high_mul(3, kHalf) == 2);      // 1.5 -> 2
static_assert(k::saturating_rounding_doubling_high_mul(-1, kHalf) == 0);     // -0.5 -> 0
static_assert(k::saturating_rounding_doubling_high_mul(-3, kHalf) == -1);    // -1.5 -> -1
static_assert(k::saturating_rounding_doubling_high_mul(-5, kHalf) == -2);    // -2.5 -> -2
static_assert(k::saturating_rounding_doubling_high_mul(1, kInt32Max) == 1);  // 1 - 2^-31

// Hand-computed: x / 2^e rounded, ties away from zero.
static_assert(k::rounding_divide_by_pot(5, 1) == 3);    // 2.5
static_assert(k::rounding_divide_by_pot(-5, 1) == -3);  // -2.5
static_assert(k::rounding_divide_by_pot(4, 1) == 2);
static_assert(k::rounding_divide_by_pot(-4, 1) == -2);
static_assert(k::rounding_divide_by_pot(7, 2) == 2);    // 1.75
static_assert(k::rounding_divide_by_pot(-6, 2) == -2);  // -1.5
static_assert(k::rounding_divide_by_pot(-5, 2) == -1);  // -1.25
static_assert(k::rounding_divide_by_pot(-7, 0) == -7);
static_assert(k::rounding_divide_by_pot(kInt32Min, 0) == kInt32Min);
static_assert(k::rounding_divide_by_pot(kInt32Max, 31) == 1);   // 1 - 2^-31
static_assert(k::rounding_divide_by_pot(kInt32Min, 31) == -1);  // exactly -1
static_assert(k::rounding_divide_by_pot(kHalf, 31) == 1);       // 0.5
static_assert(k::rounding_divide_by_pot(-kHalf, 31) == -1);     // -0.5
static_assert(k::rounding_divide_by_pot(kHalf - 1, 31) == 0);
static_assert(k::rounding_divide_by_pot(-kHalf + 1, 31) == 0);
static_assert(k::rounding_divide_by_pot(kInt32Max, 1) == kHalf);  // 2^30 - 0.5
static_assert(k::rounding_divide_by_pot(kInt32Min, 1) == -kHalf);

static_assert(k::saturating_left_shift(3, 2) == 12);
static_assert(k::saturating_left_shift(1 << 29, 2) == kInt32Max);
static_assert(k::saturating_left_shift(-(1 << 29), 2) == kInt32Min);  // exactly INT32_MIN
static_assert(k::saturating_left_shift(-(1 << 29) - 1, 2) == kInt32Min);
static_assert(k::saturating_left_shift(-1, 31) == kInt32Min);
static_assert(k::saturating_left_shift(1, 31) == kInt32Max);

// Hand-computed: x * m * 2^(shift - 31) with TFLite's two roundings.
static_assert(k::multiply_by_quantized_multiplier(100, kHalf, 0) == 50);
static_assert(k::multiply_by_quantized_multiplier(100, kHalf, -1) == 25);
static_assert(k::multiply_by_quantized_multiplier(101, kHalf, 0) == 51);    // 50.5
static_assert(k::multiply_by_quantized_multiplier(-101, kHalf, 0) == -50);  // -50.5
static_assert(k::multiply_by_quantized_multiplier(-101, kHalf, -1) == -25);
// Double rounding: 5 * 0.5 = 2.5 -> 3, then 3 / 2 = 1.5 -> 2 (the exact 1.25 rounds to 1).
static_assert(k::multiply_by_quantized_multiplier(5, kHalf, -1) == 2);
static_assert(k::multiply_by_quantized_multiplier(-5, kHalf, -1) == -1);  // -2.5 -> -2 -> -1
static_assert(k::multiply_by_quantized_multiplier(3, kHalf, 2) == 6);     // left shift first
// The left shift saturates: 2^29 * 4 = 2^31 becomes INT32_MAX, then * 0.5 rounds to 2^30.
static_assert(k::multiply_by_quantized_multiplier(1 << 29, kHalf, 2) == kHalf);
static_assert(k::multiply_by_quantized_multiplier(-(1 << 29) - 1, kHalf, 2) == -kHalf);
static_assert(k::multiply_by_quantized_multiplier(1, kInt32Max, 30) == kHalf);
static_assert(k::multiply_by_quantized_multiplier(kInt32Max, kInt32Max, -31) == 1);
static_assert(k::multiply_by_quantized_multiplier(kInt32Min, kInt32Max, -31) == -1);
static_assert(k::multiply_by_quantized_multiplier(kInt32Min, kInt32Min, -31) == 1);
static_assert(k::multiply_by_quantized_multiplier(kInt32Min, kInt32Min, 0) == kInt32Max);
static_assert(k::multiply_by_quantized_multiplier(kInt32Max, kInt32Max, 0) == kInt32Max - 1);

static_assert(k::clamp_to_int8(200, -128, 127) == 127);
static_assert(k::clamp_to_int8(-1000000000000LL, -128, 127) == -128);
static_assert(k::clamp_to_int8(-3, -5, 6) == -3);
static_assert(k::clamp_to_int8(-30, -5, 6) == -5);

// Independent definitions in 64-bit integers: floor division by a power of two is an arithmetic
// right shift of the int64 value.
std::int32_t high_mul_definition(std::int32_t a, std::int32_t b) {
  const std::int64_t ab = static_cast<std::int64_t>(a) * b;
  const std::int64_t rounded = (ab + (std::int64_t{1} << 30)) >> 31;  // floor(ab / 2^31 + 1/2)
  return rounded > kInt32Max ? kInt32Max : static_cast<std::int32_t>(rounded);
}
std::int32_t divide_definition(std::int32_t x, int e) {
  if (e == 0) return x;
  const std::int64_t magnitude = x < 0 ? -static_cast<std::int64_t>(x) : x;
  const std::int64_t rounded = (magnitude + (std::int64_t{1} << (e - 1))) >> e;
  return static_cast<std::int32_t>(x < 0 ? -rounded : rounded);
}

std::int32_t random_int32(std::mt19937& rng) {
  // Half the draws from small magnitudes, where ties and tiny results live.
  std::uniform_int_distribution<std::int32_t> any(kInt32Min, kInt32Max);
  std::uniform_int_distribution<std::int32_t> small(-300, 300);
  return (rng() & 1) ? any(rng) : small(rng);
}

TEST_CASE("the rounding doubling high multiply and divide by 2^e match their definitions") {
  std::mt19937 rng(10);
  const std::int32_t corners[] = {kInt32Min, kInt32Min + 1, -kHalf,        -1,       0,
                                  1,         kHalf,         kInt32Max - 1, kInt32Max};
  std::int32_t bad = 0;
  for (std::int32_t a : corners)
    for (std::int32_t b : corners)
      bad += k::saturating_rounding_doubling_high_mul(a, b) == high_mul_definition(a, b) ? 0 : 1;
  for (int i = 0; i < 200000; ++i) {
    const std::int32_t a = random_int32(rng), b = random_int32(rng);
    bad += k::saturating_rounding_doubling_high_mul(a, b) == high_mul_definition(a, b) ? 0 : 1;
  }
  CHECK(bad == 0);
  for (int e = 0; e <= 31; ++e) {
    for (std::int32_t x : corners)
      bad += k::rounding_divide_by_pot(x, e) == divide_definition(x, e) ? 0 : 1;
    for (int i = 0; i < 5000; ++i) {
      const std::int32_t x = random_int32(rng);
      bad += k::rounding_divide_by_pot(x, e) == divide_definition(x, e) ? 0 : 1;
    }
    // Exact ties at this exponent, both signs: away from zero.
    if (e > 0) {
      const std::int32_t tie = 3 << (e - 1);  // 1.5 * 2^e (fits for e <= 30)
      if (e <= 30) {
        bad += k::rounding_divide_by_pot(tie, e) == 2 ? 0 : 1;
        bad += k::rounding_divide_by_pot(-tie, e) == -2 ? 0 : 1;
      }
    }
    INFO("exponent ", e);
    CHECK(bad == 0);
  }
}

// The exact product's type: long double where it is wider than double (x86-64, aarch64). Where
// it is not (32-bit ARM), double computes the same, and the long double functions would pull
// libstdc++'s stubs, which clash with picolibc's own (Debian's arm-none-eabi packages: multiple
// definitions of ceill, sqrtl and others).
using Exact = std::conditional_t<(LDBL_MANT_DIG > DBL_MANT_DIG), long double, double>;

TEST_CASE("multiply_by_quantized_multiplier is within one unit of the exact product") {
  std::mt19937 rng(11);
  std::int32_t bad = 0, differs = 0;
  for (int i = 0; i < 100000; ++i) {
    const std::int32_t x = random_int32(rng);
    const std::int32_t m = std::uniform_int_distribution<std::int32_t>(kHalf, kInt32Max)(rng);
    const std::int32_t shift = std::uniform_int_distribution<std::int32_t>(-31, 30)(rng);
    const Exact exact = std::ldexp(static_cast<Exact>(x) * m, shift - 31);
    if (std::fabs(exact) >= kHalf) continue;  // saturated (left shift) or near it
    if (shift > 0 && std::fabs(std::ldexp(static_cast<Exact>(x), shift)) > kInt32Max) continue;
    const std::int32_t got = k::multiply_by_quantized_multiplier(x, m, shift);
    const Exact error = std::fabs(static_cast<Exact>(got) - exact);
    bad += error <= Exact{1} ? 0 : 1;
    differs += static_cast<Exact>(got) == std::round(exact) ? 0 : 1;
  }
  CHECK(bad == 0);
  // Two roundings differ from one only near ties: rarely on random inputs.
  CHECK(differs < 2000);
}

TEST_CASE("quantize_multiplier reproduces TFLite's QuantizeMultiplier") {
  const auto same = [](double real, std::int32_t multiplier, std::int32_t shift) {
    const k::QuantizedMultiplier q = k::quantize_multiplier(real);
    INFO("real ", real, " got ", q.multiplier, ", ", q.shift);
    CHECK(q.multiplier == multiplier);
    CHECK(q.shift == shift);
  };
  same(0.0, 0, 0);
  same(0.5, kHalf, 0);
  same(1.0, kHalf, 1);
  same(0.75, 1610612736, 0);
  same(0.25, kHalf, -1);
  same(1.0 / 3.0, 1431655765, -1);                 // 2/3 * 2^31 = 1431655765.33
  same(0.5 + std::ldexp(1.0, -32), kHalf + 1, 0);  // q * 2^31 = 2^30 + 0.5: away from zero
  same(1.0 - std::ldexp(1.0, -40), kHalf, 1);      // rounds up to 2^31: halved, shift + 1
  same(std::ldexp(1.0, -31), kHalf, -30);
  same(std::ldexp(1.0, -32), kHalf, -31);     // the smallest shift
  same(std::ldexp(1.0, -33), 0, 0);           // shift -32: flushed to zero
  same(std::ldexp(1.5, 29), 1610612736, 30);  // the largest shift
  same(std::ldexp(1.0, 30), kInt32Max, 30);   // shift 31: saturated
  same(1e300, kInt32Max, 30);
  // A round trip is within half a unit of the last place of the multiplier.
  std::mt19937 rng(12);
  std::int32_t bad = 0;
  for (int i = 0; i < 10000; ++i) {
    const double real = std::ldexp(std::uniform_real_distribution<double>(0.5, 1.0)(rng),
                                   std::uniform_int_distribution<int>(-30, 28)(rng));
    const k::QuantizedMultiplier q = k::quantize_multiplier(real);
    const bool in_range =
        (q.multiplier >= kHalf || q.multiplier == 0) && q.shift >= -31 && q.shift <= 30;
    const double back = k::dequantize_multiplier(q);
    bad += in_range && std::fabs(back - real) <= std::ldexp(real, -31) ? 0 : 1;
  }
  CHECK(bad == 0);
}

}  // namespace
