// The int8 conv2d and linear of the sse2 level on a CPU with SSE4.1 (i8_dispatch.cpp decides;
// without it the level keeps the reference's int8 kernels). The policy is the avx2 level's in
// 128-bit vectors: activations centred into int16 (_mm_cvtepi8_epi16, the SSE4.1 instruction
// this needs), int16 pairs multiplied and summed into int32 by _mm_madd_epi16 (exact: each pair
// is at most 2 * 255 * 128 in magnitude). The epilogue is the scalar fixed_point.hpp arithmetic:
// SSE has no per-lane variable shifts (AVX2's sllv/srav), and it costs one call per output
// against K multiply-adds. This TU alone is compiled with -msse4.1 (see meson.build).
#include <smmintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/fixed_point.hpp"
#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_tables.hpp"

namespace lsuv::kernels::simd {
namespace {

inline __m128i load_int16x8(const std::int8_t* p) {
  return _mm_cvtepi8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}

// A 6 x 8 tile (12 accumulators of 4 columns): one pair of k of a row broadcast against two
// vectors of 4 columns' pairs.
struct I8Sse41 {
  using Row = std::int16_t;
  using Weight = std::int16_t;
  static constexpr std::int32_t kRows = 6;
  static constexpr std::int32_t kCols = 8;
  static constexpr std::int32_t kGroup = 2;
  static constexpr std::int32_t kAlignK = 2;
  static constexpr std::int32_t kDepthwiseChannels = 16;

  static Row encode(std::int8_t x, std::int32_t zero_point) {
    return static_cast<Row>(x - zero_point);
  }
  static void encode_run(const std::int8_t* x, std::int32_t n, std::int32_t zero_point, Row* out) {
    const __m128i z = _mm_set1_epi16(static_cast<std::int16_t>(zero_point));
    std::int32_t i = 0;
    for (; i + 8 <= n; i += 8)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm_sub_epi16(load_int16x8(x + i), z));
    for (; i < n; ++i) out[i] = encode(x[i], zero_point);
  }
  static std::int32_t zero_point_factor(std::int32_t /*zero_point*/) { return 0; }

  static void tile(const Row* rows, std::int32_t kpad, const Weight* panel, std::int32_t* acc) {
    __m128i c[kRows][2];
    for (auto& row : c) row[0] = row[1] = _mm_setzero_si128();
    for (std::int32_t k = 0; k < kpad; k += 2) {
      const __m128i w0 = _mm_load_si128(reinterpret_cast<const __m128i*>(panel));
      const __m128i w1 = _mm_load_si128(reinterpret_cast<const __m128i*>(panel + 8));
      panel += 2 * kCols;
      for (std::int32_t r = 0; r < kRows; ++r) {
        std::int32_t pair;
        std::memcpy(&pair, rows + static_cast<std::size_t>(r) * kpad + k, sizeof pair);
        const __m128i x = _mm_set1_epi32(pair);
        c[r][0] = _mm_add_epi32(c[r][0], _mm_madd_epi16(x, w0));
        c[r][1] = _mm_add_epi32(c[r][1], _mm_madd_epi16(x, w1));
      }
    }
    for (std::int32_t r = 0; r < kRows; ++r) {
      _mm_store_si128(reinterpret_cast<__m128i*>(acc + r * kCols), c[r][0]);
      _mm_store_si128(reinterpret_cast<__m128i*>(acc + r * kCols + 4), c[r][1]);
    }
  }

  static void requantize(const std::int32_t* acc, std::int32_t count,
                         const std::int32_t* multiplier, const std::int32_t* shift,
                         std::int32_t zero_point, std::int32_t lo, std::int32_t hi,
                         std::int8_t* out) {
    for (std::int32_t j = 0; j < count; ++j)
      out[j] = clamp_to_int8(static_cast<std::int64_t>(multiply_by_quantized_multiplier(
                                 acc[j], multiplier[j], shift[j])) +
                                 zero_point,
                             lo, hi);
  }

  // acc[j] += sum_t ws[t][c0 + j] * (xs[t][c0 + j] - zero_point) for j < count (<= 16): 8
  // channels at a time in int16 (each product is at most 32640 in magnitude), widened into int32.
  static void dw_accumulate(const std::int8_t* const* xs, const std::int8_t* const* ws,
                            std::int32_t taps, std::int32_t c0, std::int32_t count,
                            std::int32_t zero_point, std::int32_t* acc) {
    const __m128i z = _mm_set1_epi16(static_cast<std::int16_t>(zero_point));
    std::int32_t j = 0;
    for (; j + 8 <= count; j += 8) {
      __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + j));
      __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + j + 4));
      for (std::int32_t t = 0; t < taps; ++t) {
        const __m128i product = _mm_mullo_epi16(_mm_sub_epi16(load_int16x8(xs[t] + c0 + j), z),
                                                load_int16x8(ws[t] + c0 + j));
        lo = _mm_add_epi32(lo, _mm_cvtepi16_epi32(product));
        hi = _mm_add_epi32(hi, _mm_cvtepi16_epi32(_mm_srli_si128(product, 8)));
      }
      _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + j), lo);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + j + 4), hi);
    }
    for (std::int32_t t = 0; t < taps; ++t)
      for (std::int32_t i = j; i < count; ++i)
        acc[i] = wrapping_add(acc[i], ws[t][c0 + i] * (xs[t][c0 + i] - zero_point));
  }
};

}  // namespace

extern const I8Kernels kI8KernelsSse41 = i8_dense_table<I8Sse41>();

}  // namespace lsuv::kernels::simd
