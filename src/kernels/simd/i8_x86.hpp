// AVX2 pieces of the int8 kernels (raw intrinsics: xsimd 8.1 has no widening int8 operations):
// the requantising epilogue, the depthwise tap accumulator, and the int8 GEMM policy of the
// avx2 level (i8_gemm.hpp), which centres activations into int16 and multiplies int16 pairs
// with _mm256_madd_epi16. That product is exact: (x - zero point) is in [-255, 255] and a
// weight in [-128, 127], so each pair sums to at most 65280 in magnitude, in int32 (maddubs
// would saturate such pairs in int16). Included only by TUs compiled with -mavx2 (the avx2
// TU, and the avx512 VNNI TU, whose epilogue and depthwise these are too).
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/fixed_point.hpp"

namespace lsuv::kernels::simd {
namespace {

inline __m256i load8x32(const std::int32_t* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

inline std::int32_t load_u32(const void* p) {
  std::int32_t v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// fixed_point.hpp's saturating_rounding_doubling_high_mul, then rounding_divide_by_pot by
// `right` (each lane in [0, 31]), on 8 lanes bit for bit: multiply_by_quantized_multiplier for
// a shift of -right.
inline __m256i rounding_high_mul_divide8(__m256i a, __m256i multiplier, __m256i right) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i one = _mm256_set1_epi32(1);
  // saturating_rounding_doubling_high_mul: floor((a * b + 2^30) / 2^31) is bits 31..62 of the
  // 64-bit sum (an exact signed product); even lanes end in the low halves, odd in the high.
  const __m256i nudge = _mm256_set1_epi64x(std::int64_t{1} << 30);
  const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(a, multiplier), nudge);
  const __m256i odd = _mm256_add_epi64(
      _mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(multiplier, 32)), nudge);
  __m256i high = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xaa);
  // INT32_MIN * INT32_MIN gives INT32_MIN there; the contract saturates it to INT32_MAX.
  const __m256i min = _mm256_set1_epi32(kInt32Min);
  high = _mm256_xor_si256(
      high, _mm256_and_si256(_mm256_cmpeq_epi32(a, min), _mm256_cmpeq_epi32(multiplier, min)));
  // rounding_divide_by_pot by right.
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, right), one);
  const __m256i remainder = _mm256_and_si256(high, mask);
  const __m256i threshold =
      _mm256_sub_epi32(_mm256_srai_epi32(mask, 1), _mm256_cmpgt_epi32(zero, high));
  return _mm256_sub_epi32(_mm256_srav_epi32(high, right), _mm256_cmpgt_epi32(remainder, threshold));
}

// fixed_point.hpp's saturating_left_shift on 8 lanes (each `left` in [0, 31]): the shift lost
// no bits exactly when shifting back restores x.
inline __m256i saturating_left_shift8(__m256i x, __m256i left) {
  const __m256i shifted = _mm256_sllv_epi32(x, left);
  const __m256i kept = _mm256_cmpeq_epi32(_mm256_srav_epi32(shifted, left), x);
  const __m256i saturated =
      _mm256_xor_si256(_mm256_set1_epi32(kInt32Max), _mm256_srai_epi32(x, 31));
  return _mm256_blendv_epi8(saturated, shifted, kept);
}

// fixed_point.hpp's multiply_by_quantized_multiplier on 8 lanes, bit for bit.
inline __m256i multiply_by_quantized_multiplier8(__m256i x, __m256i multiplier, __m256i shift) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i left = _mm256_max_epi32(shift, zero);
  const __m256i right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
  return rounding_high_mul_divide8(saturating_left_shift8(x, left), multiplier, right);
}

// 8 int32 lanes already in [-128, 127] into 8 bytes.
inline void store_bytes8(__m256i v, std::int8_t* out) {
  const __m256i words = _mm256_packs_epi32(v, v);
  const __m256i bytes = _mm256_packs_epi16(words, words);
  const __m128i both =
      _mm_unpacklo_epi32(_mm256_castsi256_si128(bytes), _mm256_extracti128_si256(bytes, 1));
  _mm_storel_epi64(reinterpret_cast<__m128i*>(out), both);
}

// 8 lanes of int32 from p, the lanes at and past `lanes` (1..8) 0: no read beyond them.
inline __m256i load_lanes8(const std::int32_t* p, std::int32_t lanes) {
  if (lanes == 8) return load8x32(p);
  alignas(32) std::int32_t v[8] = {};
  std::memcpy(v, p, static_cast<std::size_t>(lanes) * sizeof(std::int32_t));
  return _mm256_load_si256(reinterpret_cast<const __m256i*>(v));
}

// The first `lanes` (1..8) of 8 int32 lanes already in [-128, 127] into bytes.
inline void store_lanes8(__m256i v, std::int32_t lanes, std::int8_t* out) {
  if (lanes == 8) {
    store_bytes8(v, out);
    return;
  }
  alignas(8) std::int8_t bytes[8];
  store_bytes8(v, bytes);
  std::memcpy(out, bytes, static_cast<std::size_t>(lanes));
}

// The requantising epilogue of 8 output channels, set up once for many accumulators of them:
// each channel's offset (the bias, added first), multiplier and shift, and the output range
// less the zero point. multiply_by_quantized_multiplier8's shifts are computed once, and its
// saturating left shift runs only when a lane has one (multipliers below one have none).
struct Requantizer8 {
  __m256i offset, multiplier, left, right, lo, hi, zero_point;
  bool any_left;
};

// offset, multiplier and shift hold `lanes` (1..8) channels.
inline Requantizer8 requantizer8(const std::int32_t* offset, const std::int32_t* multiplier,
                                 const std::int32_t* shift, std::int32_t lanes,
                                 std::int32_t zero_point, std::int32_t lo, std::int32_t hi) {
  const __m256i zero = _mm256_setzero_si256();
  const __m256i s = load_lanes8(shift, lanes);
  Requantizer8 q;
  q.offset = load_lanes8(offset, lanes);
  q.multiplier = load_lanes8(multiplier, lanes);
  q.left = _mm256_max_epi32(s, zero);
  q.right = _mm256_max_epi32(_mm256_sub_epi32(zero, s), zero);
  q.lo = _mm256_set1_epi32(lo - zero_point);
  q.hi = _mm256_set1_epi32(hi - zero_point);
  q.zero_point = _mm256_set1_epi32(zero_point);
  q.any_left = _mm256_testz_si256(q.left, q.left) == 0;
  return q;
}

// The output codes of 8 accumulators: offset, requantise, clamp, add the zero point (clamping
// to [lo - zp, hi - zp] before adding zp is the reference's clamp of the exact sum).
inline __m256i requantized8(const Requantizer8& q, __m256i acc) {
  __m256i a = _mm256_add_epi32(acc, q.offset);
  if (q.any_left) a = saturating_left_shift8(a, q.left);
  const __m256i v = rounding_high_mul_divide8(a, q.multiplier, q.right);
  return _mm256_add_epi32(_mm256_min_epi32(_mm256_max_epi32(v, q.lo), q.hi), q.zero_point);
}

// The epilogue of 8 accumulators into 8 bytes: requantise, add the zero point, clamp. Clamping
// to [lo - zp, hi - zp] before adding zp is the reference's clamp of the exact sum.
inline void requantize8(const std::int32_t* acc, const std::int32_t* multiplier,
                        const std::int32_t* shift, std::int32_t zero_point, std::int32_t lo,
                        std::int32_t hi, std::int8_t* out) {
  __m256i v =
      multiply_by_quantized_multiplier8(load8x32(acc), load8x32(multiplier), load8x32(shift));
  v = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(lo - zero_point)),
                       _mm256_set1_epi32(hi - zero_point));
  store_bytes8(_mm256_add_epi32(v, _mm256_set1_epi32(zero_point)), out);
}

// count accumulators (any count) into count bytes; the last partial 8 go through a copy.
inline void requantize_avx2(const std::int32_t* acc, std::int32_t count,
                            const std::int32_t* multiplier, const std::int32_t* shift,
                            std::int32_t zero_point, std::int32_t lo, std::int32_t hi,
                            std::int8_t* out) {
  std::int32_t i = 0;
  for (; i + 8 <= count; i += 8)
    requantize8(acc + i, multiplier + i, shift + i, zero_point, lo, hi, out + i);
  if (i == count) return;
  alignas(32) std::int32_t a[8] = {}, m[8] = {}, s[8] = {};
  alignas(8) std::int8_t o[8];
  const std::size_t rest = static_cast<std::size_t>(count - i);
  std::memcpy(a, acc + i, rest * sizeof(std::int32_t));
  std::memcpy(m, multiplier + i, rest * sizeof(std::int32_t));
  std::memcpy(s, shift + i, rest * sizeof(std::int32_t));
  requantize8(a, m, s, zero_point, lo, hi, o);
  std::memcpy(out + i, o, rest);
}

// acc[j] += sum_t ws[t][c0 + j] * (xs[t][c0 + j] - zero_point) for j < count (<= 16): 16
// channels in int16 (each product is at most 32640 in magnitude), widened into int32.
inline void dw_accumulate_avx2(const std::int8_t* const* xs, const std::int8_t* const* ws,
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
  const __m256i z = _mm256_set1_epi16(static_cast<std::int16_t>(zero_point));
  __m256i lo = load8x32(acc), hi = load8x32(acc + 8);
  for (std::int32_t t = 0; t < taps; ++t) {
    const __m256i x = _mm256_sub_epi16(
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(xs[t] + c0))), z);
    const __m256i w =
        _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(ws[t] + c0)));
    const __m256i product = _mm256_mullo_epi16(x, w);
    lo = _mm256_add_epi32(lo, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(product)));
    hi = _mm256_add_epi32(hi, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(product, 1)));
  }
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc), lo);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(acc + 8), hi);
}

// The avx2 level's GEMM policy: rows are centred int16, the panel int16 pairs of k per column;
// a 4 x 16 tile (8 accumulators) broadcasts one pair of a row against two columns' vectors.
struct I8Avx2 {
  using Row = std::int16_t;
  using Weight = std::int16_t;
  static constexpr std::int32_t kRows = 4;
  static constexpr std::int32_t kCols = 16;
  static constexpr std::int32_t kGroup = 2;
  static constexpr std::int32_t kAlignK = 2;
  static constexpr std::int32_t kDepthwiseChannels = 16;

  static Row encode(std::int8_t x, std::int32_t zero_point) {
    return static_cast<Row>(x - zero_point);
  }
  static void encode_run(const std::int8_t* x, std::int32_t n, std::int32_t zero_point, Row* out) {
    const __m256i z = _mm256_set1_epi16(static_cast<std::int16_t>(zero_point));
    std::int32_t i = 0;
    for (; i + 16 <= n; i += 16)
      _mm256_storeu_si256(
          reinterpret_cast<__m256i*>(out + i),
          _mm256_sub_epi16(
              _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x + i))), z));
    for (; i < n; ++i) out[i] = encode(x[i], zero_point);
  }
  static std::int32_t zero_point_factor(std::int32_t /*zero_point*/) { return 0; }

  static void tile(const Row* rows, std::int32_t kpad, const Weight* panel, std::int32_t* acc) {
    __m256i c[kRows][2];
    for (auto& row : c) row[0] = row[1] = _mm256_setzero_si256();
    for (std::int32_t k = 0; k < kpad; k += 2) {
      const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel));
      const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(panel + 16));
      panel += 2 * kCols;
      for (std::int32_t r = 0; r < kRows; ++r) {
        const __m256i x =
            _mm256_set1_epi32(load_u32(rows + static_cast<std::size_t>(r) * kpad + k));
        c[r][0] = _mm256_add_epi32(c[r][0], _mm256_madd_epi16(x, w0));
        c[r][1] = _mm256_add_epi32(c[r][1], _mm256_madd_epi16(x, w1));
      }
    }
    for (std::int32_t r = 0; r < kRows; ++r) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(acc + r * kCols), c[r][0]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(acc + r * kCols + 8), c[r][1]);
    }
  }

  static void requantize(const std::int32_t* acc, std::int32_t count,
                         const std::int32_t* multiplier, const std::int32_t* shift,
                         std::int32_t zero_point, std::int32_t lo, std::int32_t hi,
                         std::int8_t* out) {
    requantize_avx2(acc, count, multiplier, shift, zero_point, lo, hi, out);
  }
  static void dw_accumulate(const std::int8_t* const* xs, const std::int8_t* const* ws,
                            std::int32_t taps, std::int32_t c0, std::int32_t count,
                            std::int32_t zero_point, std::int32_t* acc) {
    dw_accumulate_avx2(xs, ws, taps, c0, count, zero_point, acc);
  }
};

}  // namespace
}  // namespace lsuv::kernels::simd
