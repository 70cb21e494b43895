// The int8 conv2d and linear of the avx512 level on a CPU with AVX512-VNNI (i8_dispatch.cpp
// decides; without VNNI the level keeps the avx2 level's int8 kernels). vpdpbusd multiplies
// unsigned by signed bytes and sums each group of four into int32 without saturation, so
// activations are encoded as x + 128 (padding as zero point + 128) and the driver subtracts
// (128 + zero point) times each column's weight sum with the bias: exact in wrap-around int32.
// The epilogue and the depthwise accumulator are the AVX2 ones. This TU alone is compiled with
// the AVX-512 and VNNI flags (see meson.build).
#include <immintrin.h>

#include <cstdint>

#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_tables.hpp"
#include "kernels/simd/i8_vnni_conv.hpp"
#include "kernels/simd/i8_x86.hpp"

namespace lsuv::kernels::simd {
namespace {

// A 12 x 16 tile: one 64-byte vector of weight quads (16 columns x 4 k) against a broadcast
// quad of each row, 12 accumulators.
struct I8Avx512Vnni {
  using Row = std::uint8_t;
  using Weight = std::int8_t;
  static constexpr std::int32_t kRows = 12;
  static constexpr std::int32_t kCols = 16;
  static constexpr std::int32_t kGroup = 4;
  static constexpr std::int32_t kAlignK = 4;
  static constexpr std::int32_t kDepthwiseChannels = 16;

  static Row encode(std::int8_t x, std::int32_t /*zero_point*/) {
    return static_cast<Row>(x + 128);
  }
  static void encode_run(const std::int8_t* x, std::int32_t n, std::int32_t zero_point, Row* out) {
    const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
    std::int32_t i = 0;
    for (; i + 64 <= n; i += 64)
      _mm512_storeu_si512(out + i, _mm512_xor_si512(_mm512_loadu_si512(x + i), flip));
    if (i < n) {
      const __mmask64 tail = (std::uint64_t{1} << (n - i)) - 1;  // n - i < 64
      _mm512_mask_storeu_epi8(out + i, tail,
                              _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, x + i), flip));
    }
    (void)zero_point;
  }
  static std::int32_t zero_point_factor(std::int32_t zero_point) { return 128 + zero_point; }

  static void tile(const Row* rows, std::int32_t kpad, const Weight* panel, std::int32_t* acc) {
    __m512i c[kRows];
    for (__m512i& v : c) v = _mm512_setzero_si512();
    for (std::int32_t k = 0; k < kpad; k += 4) {
      const __m512i w = _mm512_load_si512(panel);
      panel += 4 * kCols;
      for (std::int32_t r = 0; r < kRows; ++r)
        c[r] = _mm512_dpbusd_epi32(
            c[r], _mm512_set1_epi32(load_u32(rows + static_cast<std::size_t>(r) * kpad + k)), w);
    }
    for (std::int32_t r = 0; r < kRows; ++r) _mm512_store_si512(acc + r * kCols, c[r]);
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

// The indirect VNNI convolution (i8_vnni_conv.hpp) where it applies, the im2col GEMM otherwise.
extern const I8Kernels kI8KernelsAvx512Vnni =
    i8_indirect_table<I8Avx512Vnni, &conv2d_i8_vnni_applies, &conv2d_i8_vnni,
                      &conv2d_i8_vnni_scratch_bytes>();

}  // namespace lsuv::kernels::simd
