// NEON pieces of the int8 kernels (armv7 and aarch64; raw intrinsics, as xsimd 8.1 has no
// widening int8 operations): the requantising epilogue, the depthwise tap accumulator and the
// GEMM policy of the neon level (i8_gemm.hpp), which keeps activations raw (padding as the zero
// point; the driver subtracts zero point x column weight sum) and multiplies bytes with
// vmull_s8 into int16 (-128 * -128 = 16384 fits; two such products summed in int16, as vmlal_s8
// would, do not), pairs widened into int32 by vpadalq_s16. Included only by the NEON int8 TUs.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace lsuv::kernels::simd {
namespace {

// fixed_point.hpp's multiply_by_quantized_multiplier on 4 lanes, bit for bit: vqshlq_s32 is the
// saturating left shift, vqrdmulhq_s32 the saturating rounding doubling high multiply
// (floor((2ab + 2^31) / 2^32), INT32_MIN^2 saturated), and vrshlq_s32 by -exponent rounds half
// up, so negative values are first moved down by one (saturating: INT32_MIN stays) to round
// half away from zero as rounding_divide_by_pot does.
inline int32x4_t multiply_by_quantized_multiplier4(int32x4_t x, int32x4_t multiplier,
                                                   int32x4_t shift) {
  const int32x4_t zero = vdupq_n_s32(0);
  const int32x4_t left = vmaxq_s32(shift, zero);
  const int32x4_t right = vminq_s32(shift, zero);  // -exponent
  const int32x4_t high = vqrdmulhq_s32(vqshlq_s32(x, left), multiplier);
  const int32x4_t fixup = vshrq_n_s32(vandq_s32(high, right), 31);
  return vrshlq_s32(vqaddq_s32(high, fixup), right);
}

inline int16x4_t requantize4(const std::int32_t* acc, const std::int32_t* multiplier,
                             const std::int32_t* shift, std::int32_t zero_point, std::int32_t lo,
                             std::int32_t hi) {
  int32x4_t v =
      multiply_by_quantized_multiplier4(vld1q_s32(acc), vld1q_s32(multiplier), vld1q_s32(shift));
  v = vminq_s32(vmaxq_s32(v, vdupq_n_s32(lo - zero_point)), vdupq_n_s32(hi - zero_point));
  return vmovn_s32(vaddq_s32(v, vdupq_n_s32(zero_point)));
}

// count accumulators (any count) into count bytes, 8 at a time; the rest through a copy.
inline void requantize_neon(const std::int32_t* acc, std::int32_t count,
                            const std::int32_t* multiplier, const std::int32_t* shift,
                            std::int32_t zero_point, std::int32_t lo, std::int32_t hi,
                            std::int8_t* out) {
  const auto eight = [&](const std::int32_t* a, const std::int32_t* m, const std::int32_t* s,
                         std::int8_t* o) {
    const int16x8_t words = vcombine_s16(requantize4(a, m, s, zero_point, lo, hi),
                                         requantize4(a + 4, m + 4, s + 4, zero_point, lo, hi));
    vst1_s8(o, vmovn_s16(words));
  };
  std::int32_t i = 0;
  for (; i + 8 <= count; i += 8) eight(acc + i, multiplier + i, shift + i, out + i);
  if (i == count) return;
  std::int32_t a[8] = {}, m[8] = {}, s[8] = {};
  std::int8_t o[8];
  const std::size_t rest = static_cast<std::size_t>(count - i);
  std::memcpy(a, acc + i, rest * sizeof(std::int32_t));
  std::memcpy(m, multiplier + i, rest * sizeof(std::int32_t));
  std::memcpy(s, shift + i, rest * sizeof(std::int32_t));
  eight(a, m, s, o);
  std::memcpy(out + i, o, rest);
}

// acc[j] += sum_t ws[t][c0 + j] * (xs[t][c0 + j] - zero_point) for j < count (<= 16): the
// centred activation in int16 (vsubl_s8), multiplied and accumulated into int32 (vmlal_s16).
inline void dw_accumulate_neon(const std::int8_t* const* xs, const std::int8_t* const* ws,
                               std::int32_t taps, std::int32_t c0, std::int32_t count,
                               std::int32_t zero_point, std::int32_t* acc) {
  if (count < 16) {
    for (std::int32_t t = 0; t < taps; ++t)
      for (std::int32_t j = 0; j < count; ++j)
        acc[j] = static_cast<std::int32_t>(
            static_cast<std::uint32_t>(acc[j]) +
            static_cast<std::uint32_t>(ws[t][c0 + j] * (xs[t][c0 + j] - zero_point)));
    return;
  }
  const int8x8_t z = vdup_n_s8(static_cast<std::int8_t>(zero_point));
  int32x4_t a0 = vld1q_s32(acc), a1 = vld1q_s32(acc + 4), a2 = vld1q_s32(acc + 8),
            a3 = vld1q_s32(acc + 12);
  for (std::int32_t t = 0; t < taps; ++t) {
    const int8x16_t x = vld1q_s8(xs[t] + c0);
    const int8x16_t w = vld1q_s8(ws[t] + c0);
    const int16x8_t xl = vsubl_s8(vget_low_s8(x), z), xh = vsubl_s8(vget_high_s8(x), z);
    const int16x8_t wl = vmovl_s8(vget_low_s8(w)), wh = vmovl_s8(vget_high_s8(w));
    a0 = vmlal_s16(a0, vget_low_s16(xl), vget_low_s16(wl));
    a1 = vmlal_s16(a1, vget_high_s16(xl), vget_high_s16(wl));
    a2 = vmlal_s16(a2, vget_low_s16(xh), vget_low_s16(wh));
    a3 = vmlal_s16(a3, vget_high_s16(xh), vget_high_s16(wh));
  }
  vst1q_s32(acc, a0);
  vst1q_s32(acc + 4, a1);
  vst1q_s32(acc + 8, a2);
  vst1q_s32(acc + 12, a3);
}

inline std::int32_t horizontal_sum(int32x4_t v) {
#if defined(__aarch64__)
  return vaddvq_s32(v);
#else
  const int32x2_t pair = vadd_s32(vget_low_s32(v), vget_high_s32(v));
  return vget_lane_s32(vpadd_s32(pair, pair), 0);
#endif
}

// Members shared by the NEON policies: raw activations, the NEON epilogue and depthwise.
struct I8NeonCommon {
  using Row = std::int8_t;
  using Weight = std::int8_t;
  static constexpr std::int32_t kDepthwiseChannels = 16;
  static Row encode(std::int8_t x, std::int32_t /*zero_point*/) { return x; }
  static void encode_run(const std::int8_t* x, std::int32_t n, std::int32_t /*zero_point*/,
                         Row* out) {
    std::memcpy(out, x, static_cast<std::size_t>(n));
  }
  static std::int32_t zero_point_factor(std::int32_t zero_point) { return zero_point; }
  static void requantize(const std::int32_t* acc, std::int32_t count,
                         const std::int32_t* multiplier, const std::int32_t* shift,
                         std::int32_t zero_point, std::int32_t lo, std::int32_t hi,
                         std::int8_t* out) {
    requantize_neon(acc, count, multiplier, shift, zero_point, lo, hi, out);
  }
  static void dw_accumulate(const std::int8_t* const* xs, const std::int8_t* const* ws,
                            std::int32_t taps, std::int32_t c0, std::int32_t count,
                            std::int32_t zero_point, std::int32_t* acc) {
    dw_accumulate_neon(xs, ws, taps, c0, count, zero_point, acc);
  }
};

// The vmull policy: the panel holds each column's padded K contiguously; a 2 x 8 tile keeps one
// int32x4 of pair sums per output and reduces it at the end.
struct I8Neon : I8NeonCommon {
  static constexpr std::int32_t kRows = 2;
  static constexpr std::int32_t kCols = 8;
  static constexpr std::int32_t kGroup = 0;
  static constexpr std::int32_t kAlignK = 16;

  static void tile(const Row* rows, std::int32_t kpad, const Weight* panel, std::int32_t* acc) {
    int32x4_t c[kRows][kCols];
    for (auto& row : c)
      for (int32x4_t& v : row) v = vdupq_n_s32(0);
    for (std::int32_t k = 0; k < kpad; k += 16) {
      int8x16_t x[kRows];
      for (std::int32_t r = 0; r < kRows; ++r)
        x[r] = vld1q_s8(rows + static_cast<std::size_t>(r) * kpad + k);
      for (std::int32_t j = 0; j < kCols; ++j) {
        const int8x16_t w = vld1q_s8(panel + static_cast<std::size_t>(j) * kpad + k);
        for (std::int32_t r = 0; r < kRows; ++r) {
          c[r][j] = vpadalq_s16(c[r][j], vmull_s8(vget_low_s8(x[r]), vget_low_s8(w)));
          c[r][j] = vpadalq_s16(c[r][j], vmull_s8(vget_high_s8(x[r]), vget_high_s8(w)));
        }
      }
    }
    for (std::int32_t r = 0; r < kRows; ++r)
      for (std::int32_t j = 0; j < kCols; ++j) acc[r * kCols + j] = horizontal_sum(c[r][j]);
  }
};

}  // namespace
}  // namespace lsuv::kernels::simd
