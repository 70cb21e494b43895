// The NEON policy of the int8 add and pooling (i8_pool_add.hpp; armv7 and aarch64): the add in
// 2 x 4 int32 lanes through the epilogue's multiply_by_quantized_multiplier4 (i8_neon.hpp),
// pooling in blocks of 16 channels: bytes for the maximum, int16 sums (vaddw_s8) widened into
// int32 every 256 taps, and the rounded division by a float reciprocal corrected to the exact
// quotient (armv7 NEON has no vector division; its float arithmetic rounds to nearest as
// aarch64's does). Included only by the NEON int8 TUs.
#pragma once

#include <arm_neon.h>

#include <cstddef>
#include <cstdint>

#include "kernels/i8_params.hpp"
#include "kernels/simd/i8_neon.hpp"

namespace lsuv::kernels::simd {
namespace {

// The rounded division of 4 lanes: q = floor(a / d) with a = |sum| + d / 2, then sum's sign.
// a / d is at most 128.5 (|sum| <= 128 d), so the float estimate a * (1 / d), off by a few
// 2^-24 relative, truncates to q - 1, q or q + 1; the exact remainder a - estimate * d picks q.
inline int32x4_t rounded_division4(int32x4_t sum, int32x4_t divisor, int32x4_t half,
                                   float32x4_t reciprocal) {
  const int32x4_t a = vaddq_s32(vabsq_s32(sum), half);
  int32x4_t q = vcvtq_s32_f32(vmulq_f32(vcvtq_f32_s32(a), reciprocal));
  const int32x4_t r = vmlsq_s32(a, q, divisor);
  // Comparison masks are all ones (-1) where true.
  q = vsubq_s32(q, vreinterpretq_s32_u32(vcgeq_s32(r, divisor)));
  q = vaddq_s32(q, vreinterpretq_s32_u32(vcltq_s32(r, vdupq_n_s32(0))));
  const int32x4_t negative = vreinterpretq_s32_u32(vcltq_s32(sum, vdupq_n_s32(0)));
  return vsubq_s32(veorq_s32(q, negative), negative);
}

struct I8PoolAddNeon {
  static constexpr std::size_t kAddLanes = 8;
  static constexpr std::int32_t kPoolChannels = 16;

  struct AddConstants {
    explicit AddConstants(const AddI8Params& a)
        : count(a.count),
          left_shift(vdupq_n_s32(a.left_shift)),
          output_multiplier(vdupq_n_s32(a.output_multiplier)),
          output_shift(vdupq_n_s32(a.output_shift)),
          lo(vdupq_n_s32(a.output_min - a.output_zero_point)),
          hi(vdupq_n_s32(a.output_max - a.output_zero_point)),
          output_zero_point(vdupq_n_s32(a.output_zero_point)) {
      for (std::int32_t k = 0; k < count; ++k) {
        zero_point[k] = vdup_n_s8(static_cast<std::int8_t>(a.input_zero_point[k]));
        multiplier[k] = vdupq_n_s32(a.input_multiplier[k]);
        shift[k] = vdupq_n_s32(a.input_shift[k]);
      }
    }
    std::int32_t count;
    int32x4_t left_shift;
    int8x8_t zero_point[kMaxAddInputs];
    int32x4_t multiplier[kMaxAddInputs], shift[kMaxAddInputs];
    int32x4_t output_multiplier, output_shift, lo, hi, output_zero_point;
  };

  // x - zero point is exact in int16 (vsubl_s8); times 2^left_shift it fits in 28 bits.
  static void add_lanes(const AddConstants& c, const std::int8_t* const* xs, std::int8_t* out) {
    int32x4_t sum[2] = {vdupq_n_s32(0), vdupq_n_s32(0)};
    for (std::int32_t k = 0; k < c.count; ++k) {
      const int16x8_t centred = vsubl_s8(vld1_s8(xs[k]), c.zero_point[k]);
      const int32x4_t half[2] = {vmovl_s16(vget_low_s16(centred)),
                                 vmovl_s16(vget_high_s16(centred))};
      for (int h = 0; h < 2; ++h)
        sum[h] =
            vaddq_s32(sum[h], multiply_by_quantized_multiplier4(vshlq_s32(half[h], c.left_shift),
                                                                c.multiplier[k], c.shift[k]));
    }
    int16x4_t words[2];
    for (int h = 0; h < 2; ++h) {
      int32x4_t v = multiply_by_quantized_multiplier4(sum[h], c.output_multiplier, c.output_shift);
      v = vminq_s32(vmaxq_s32(v, c.lo), c.hi);
      words[h] = vmovn_s32(vaddq_s32(v, c.output_zero_point));
    }
    vst1_s8(out, vmovn_s16(vcombine_s16(words[0], words[1])));
  }

  static void max_window(const std::int8_t* base, std::int32_t rows, std::int32_t cols,
                         std::size_t row_stride, std::size_t col_stride, std::int8_t* out) {
    int8x16_t m = vdupq_n_s8(-128);
    for (std::int32_t r = 0; r < rows; ++r) {
      const std::int8_t* row = base + r * row_stride;
      for (std::int32_t c = 0; c < cols; ++c) m = vmaxq_s8(m, vld1q_s8(row + c * col_stride));
    }
    vst1q_s8(out, m);
  }

  static void sum_window(const std::int8_t* base, std::int32_t rows, std::int32_t cols,
                         std::size_t row_stride, std::size_t col_stride, std::int32_t* acc) {
    int32x4_t a[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    int16x8_t lo = vdupq_n_s16(0), hi = vdupq_n_s16(0);
    std::int32_t pending = 0;
    const auto widen = [&] {
      a[0] = vaddw_s16(a[0], vget_low_s16(lo));
      a[1] = vaddw_s16(a[1], vget_high_s16(lo));
      a[2] = vaddw_s16(a[2], vget_low_s16(hi));
      a[3] = vaddw_s16(a[3], vget_high_s16(hi));
      lo = hi = vdupq_n_s16(0);
      pending = 0;
    };
    for (std::int32_t r = 0; r < rows; ++r) {
      const std::int8_t* row = base + r * row_stride;
      for (std::int32_t c = 0; c < cols; ++c) {
        const int8x16_t x = vld1q_s8(row + c * col_stride);
        lo = vaddw_s8(lo, vget_low_s8(x));
        hi = vaddw_s8(hi, vget_high_s8(x));
        if (++pending == 256) widen();
      }
    }
    widen();
    for (int i = 0; i < 4; ++i) vst1q_s32(acc + 4 * i, a[i]);
  }

  static void round_divide(const std::int32_t* acc, std::int32_t offset, std::int32_t divisor,
                           float reciprocal, std::int8_t* out) {
    const int32x4_t o = vdupq_n_s32(offset);
    const int32x4_t d = vdupq_n_s32(divisor);
    const int32x4_t half = vdupq_n_s32(divisor / 2);
    const float32x4_t r = vdupq_n_f32(reciprocal);
    int16x4_t words[4];
    for (int i = 0; i < 4; ++i)
      words[i] = vmovn_s32(rounded_division4(vaddq_s32(vld1q_s32(acc + 4 * i), o), d, half, r));
    vst1_s8(out, vmovn_s16(vcombine_s16(words[0], words[1])));
    vst1_s8(out + 8, vmovn_s16(vcombine_s16(words[2], words[3])));
  }
};

}  // namespace
}  // namespace lsuv::kernels::simd
