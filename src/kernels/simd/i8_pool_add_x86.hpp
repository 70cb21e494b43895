// The AVX2 policy of the int8 add and pooling (i8_pool_add.hpp): the add in 8 int32 lanes
// through the epilogue's multiply_by_quantized_multiplier8 (i8_x86.hpp), pooling in blocks of 16
// channels: bytes for the maximum, int16 sums widened into int32 every 256 taps (256 * -128 is
// the int16 minimum), and the rounded division by a float reciprocal corrected to the exact
// quotient. Included only by TUs compiled with -mavx2.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/i8_params.hpp"
#include "kernels/simd/i8_x86.hpp"

namespace lsuv::kernels::simd {
namespace {

// The rounded division of 8 lanes: q = floor(a / d) with a = |sum| + d / 2, then sum's sign.
// a / d is at most 128.5 (|sum| <= 128 d), so the float estimate a * (1 / d), off by a few
// 2^-24 relative, truncates to q - 1, q or q + 1; the exact remainder a - estimate * d picks q.
inline __m256i rounded_division8(__m256i sum, __m256i divisor, __m256i half, __m256 reciprocal) {
  const __m256i a = _mm256_add_epi32(_mm256_abs_epi32(sum), half);
  __m256i q = _mm256_cvttps_epi32(_mm256_mul_ps(_mm256_cvtepi32_ps(a), reciprocal));
  const __m256i r = _mm256_sub_epi32(a, _mm256_mullo_epi32(q, divisor));
  q = _mm256_sub_epi32(q, _mm256_cmpgt_epi32(r, _mm256_sub_epi32(divisor, _mm256_set1_epi32(1))));
  q = _mm256_add_epi32(q, _mm256_cmpgt_epi32(_mm256_setzero_si256(), r));
  return _mm256_sign_epi32(q, sum);
}

struct I8PoolAddAvx2 {
  static constexpr std::size_t kAddLanes = 8;
  static constexpr std::int32_t kPoolChannels = 16;

  struct AddConstants {
    explicit AddConstants(const AddI8Params& a)
        : count(a.count),
          left_shift(_mm_cvtsi32_si128(a.left_shift)),
          output_multiplier(_mm256_set1_epi32(a.output_multiplier)),
          output_shift(_mm256_set1_epi32(a.output_shift)),
          lo(_mm256_set1_epi32(a.output_min - a.output_zero_point)),
          hi(_mm256_set1_epi32(a.output_max - a.output_zero_point)),
          output_zero_point(_mm256_set1_epi32(a.output_zero_point)) {
      for (std::int32_t k = 0; k < count; ++k) {
        zero_point[k] = _mm256_set1_epi32(a.input_zero_point[k]);
        multiplier[k] = _mm256_set1_epi32(a.input_multiplier[k]);
        right[k] = _mm256_set1_epi32(-a.input_shift[k]);
      }
    }
    std::int32_t count;
    __m128i left_shift;
    __m256i zero_point[kMaxAddInputs], multiplier[kMaxAddInputs], right[kMaxAddInputs];
    __m256i output_multiplier, output_shift, lo, hi, output_zero_point;
  };

  // The centred inputs times 2^left_shift fit in 28 bits: the shift loses nothing. Input shifts
  // are at most 0, so an input's requantisation has no left shift to saturate.
  static void add_lanes(const AddConstants& c, const std::int8_t* const* xs, std::int8_t* out) {
    __m256i sum = _mm256_setzero_si256();
    for (std::int32_t k = 0; k < c.count; ++k) {
      const __m256i x =
          _mm256_cvtepi8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(xs[k])));
      const __m256i centred = _mm256_sll_epi32(_mm256_sub_epi32(x, c.zero_point[k]), c.left_shift);
      sum = _mm256_add_epi32(sum, rounding_high_mul_divide8(centred, c.multiplier[k], c.right[k]));
    }
    __m256i v = multiply_by_quantized_multiplier8(sum, c.output_multiplier, c.output_shift);
    v = _mm256_min_epi32(_mm256_max_epi32(v, c.lo), c.hi);
    store_bytes8(_mm256_add_epi32(v, c.output_zero_point), out);
  }

  static void max_window(const std::int8_t* base, std::int32_t rows, std::int32_t cols,
                         std::size_t row_stride, std::size_t col_stride, std::int8_t* out) {
    __m128i m = _mm_set1_epi8(-128);
    for (std::int32_t r = 0; r < rows; ++r) {
      const std::int8_t* row = base + r * row_stride;
      for (std::int32_t c = 0; c < cols; ++c)
        m = _mm_max_epi8(m,
                         _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c * col_stride)));
    }
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out), m);
  }

  static void sum_window(const std::int8_t* base, std::int32_t rows, std::int32_t cols,
                         std::size_t row_stride, std::size_t col_stride, std::int32_t* acc) {
    __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
    __m256i words = _mm256_setzero_si256();
    std::int32_t pending = 0;
    const auto widen = [&] {
      lo = _mm256_add_epi32(lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(words)));
      hi = _mm256_add_epi32(hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(words, 1)));
      words = _mm256_setzero_si256();
      pending = 0;
    };
    for (std::int32_t r = 0; r < rows; ++r) {
      const std::int8_t* row = base + r * row_stride;
      for (std::int32_t c = 0; c < cols; ++c) {
        words = _mm256_add_epi16(
            words, _mm256_cvtepi8_epi16(
                       _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + c * col_stride))));
        if (++pending == 256) widen();
      }
    }
    widen();
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc), lo);
    _mm256_store_si256(reinterpret_cast<__m256i*>(acc + 8), hi);
  }

  static void round_divide(const std::int32_t* acc, std::int32_t offset, std::int32_t divisor,
                           float reciprocal, std::int8_t* out) {
    const __m256i o = _mm256_set1_epi32(offset);
    const __m256i d = _mm256_set1_epi32(divisor);
    const __m256i half = _mm256_set1_epi32(divisor / 2);
    const __m256 r = _mm256_set1_ps(reciprocal);
    for (int i = 0; i < 16; i += 8)
      store_bytes8(rounded_division8(_mm256_add_epi32(load8x32(acc + i), o), d, half, r), out + i);
  }
};

}  // namespace
}  // namespace lsuv::kernels::simd
