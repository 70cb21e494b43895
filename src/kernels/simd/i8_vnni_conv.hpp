// The int8 convolution of the avx512 level on CPUs with AVX512-VNNI, for one group and no
// accumulator moments: an indirect GEMM like the float igemm. Each image is encoded once into a
// zero-point-padded copy (x + 128, the border zero point + 128: the unsigned bytes vpdpbusd
// takes), so the reduction of every output pixel is a few contiguous runs of that copy (see
// i8_conv_runs.hpp) reached through pointers, and no im2col is written. A tile is 6 output pixels x
// 32 output channels (12 accumulators; 8 pixels left the compiler short of registers, it spilled a
// weight vector and measured slower), each quad of input bytes one broadcast per pixel against
// two vectors of packed weight quads; a block of at most 16 channels takes a 12 x 16 tile. The
// correction (128 + zero point) x column sum sits in each column's offset with the bias, so the
// wrap-around int32 sums equal the reference's exact ones (reference_i8.hpp's accumulator
// contract), and the epilogue requantises 16 lanes at a time with exactly fixed_point.hpp's
// arithmetic. Linear layers keep the im2col GEMM: run as this convolution (a batch-tall image of
// one pixel per row), their per-call weight packing (K x N bytes against M x K x N products)
// measured slower at batch 64.
//
// Included only by the AVX-512 VNNI TU.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/fixed_point.hpp"
#include "kernels/i8_params.hpp"
#include "kernels/params.hpp"
#include "kernels/simd/i8_conv_runs.hpp"
#include "kernels/simd/sizes.hpp"

namespace lsuv::kernels::simd {
namespace {

constexpr std::int32_t kVnniRows = 6;         // output pixels of a tile
constexpr std::int32_t kVnniCols = 32;        // output channels of a tile (two vectors)
constexpr std::int32_t kVnniNarrowRows = 12;  // output pixels of a one-vector tile

constexpr bool conv2d_i8_vnni_applies(const Conv2dParams& p, const I8Epilogue& e) {
  return p.groups == 1 && (p.dilation_w == 1 || p.in_c % 4 == 0) &&
         conv_runs<4>(p).runs <= kIndirectMaxRuns && e.accumulator_moments == nullptr;
}

// The scratch (i8_conv_runs.hpp): weight quads in blocks of 32 columns, the image in bytes.
constexpr IndirectLayout vnni_layout(const Conv2dParams& p) {
  return indirect_layout<4, kVnniCols, 1>(p);
}

// The zero-masking forms of these intrinsics with every lane selected: the plain ones pass an
// undefined source that GCC 12 reports as maybe uninitialized once inlined.
inline __m512i max32(__m512i a, __m512i b) {
  return _mm512_maskz_max_epi32(0xffff, a, b);
}
inline __m512i min32(__m512i a, __m512i b) {
  return _mm512_maskz_min_epi32(0xffff, a, b);
}
inline __m512i sllv32(__m512i a, __m512i b) {
  return _mm512_maskz_sllv_epi32(0xffff, a, b);
}
inline __m512i srav32(__m512i a, __m512i b) {
  return _mm512_maskz_srav_epi32(0xffff, a, b);
}
inline __m512i srai32(__m512i a, unsigned n) {
  return _mm512_maskz_srai_epi32(0xffff, a, n);
}
inline __m512i mul32(__m512i a, __m512i b) {
  return _mm512_maskz_mul_epi32(0xff, a, b);
}
inline __m512i srli64(__m512i a, unsigned n) {
  return _mm512_maskz_srli_epi64(0xff, a, n);
}
inline __m512i slli64(__m512i a, unsigned n) {
  return _mm512_maskz_slli_epi64(0xff, a, n);
}

// fixed_point.hpp's multiply_by_quantized_multiplier on 16 lanes, bit for bit (the AVX2
// version's steps with mask registers).
inline __m512i multiply_by_quantized_multiplier16(__m512i x, __m512i multiplier, __m512i shift) {
  const __m512i zero = _mm512_setzero_si512();
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i left = max32(shift, zero);
  const __m512i right = max32(_mm512_sub_epi32(zero, shift), zero);
  // saturating_left_shift: the shift lost no bits exactly when shifting back restores x.
  const __m512i shifted = sllv32(x, left);
  const __mmask16 kept = _mm512_cmpeq_epi32_mask(srav32(shifted, left), x);
  const __m512i saturated = _mm512_xor_si512(_mm512_set1_epi32(kInt32Max), srai32(x, 31));
  const __m512i a = _mm512_mask_blend_epi32(kept, saturated, shifted);
  // saturating_rounding_doubling_high_mul: bits 31..62 of a * b + 2^30, even lanes from the low
  // halves' products, odd lanes from the high halves'.
  const __m512i nudge = _mm512_set1_epi64(std::int64_t{1} << 30);
  const __m512i even = _mm512_add_epi64(mul32(a, multiplier), nudge);
  const __m512i odd = _mm512_add_epi64(mul32(srli64(a, 32), srli64(multiplier, 32)), nudge);
  __m512i high = _mm512_mask_blend_epi32(0xaaaa, srli64(even, 31), slli64(odd, 1));
  // INT32_MIN * INT32_MIN gives INT32_MIN there; the contract saturates it to INT32_MAX.
  const __m512i min = _mm512_set1_epi32(kInt32Min);
  const __mmask16 both_min =
      _mm512_cmpeq_epi32_mask(a, min) & _mm512_cmpeq_epi32_mask(multiplier, min);
  high = _mm512_mask_xor_epi32(high, both_min, high, _mm512_set1_epi32(-1));
  // rounding_divide_by_pot by right: round half away from zero.
  const __m512i mask = _mm512_sub_epi32(sllv32(one, right), one);
  const __m512i remainder = _mm512_and_si512(high, mask);
  const __mmask16 negative = _mm512_cmplt_epi32_mask(high, zero);
  const __m512i threshold = _mm512_mask_add_epi32(srai32(mask, 1), negative, srai32(mask, 1), one);
  const __mmask16 up = _mm512_cmpgt_epi32_mask(remainder, threshold);
  return _mm512_mask_add_epi32(srav32(high, right), up, srav32(high, right), one);
}

// Packs every column block's weights as vpdpbusd reads them and each column's offset.
// Run t's byte i is weight row t * length + i (the weights' [kh][kw][in] order is the runs'
// order); the bytes that pad a run to whole quads get zero weights.
inline void pack_vnni(const Conv2dParams& p, const IndirectLayout& l, const std::int8_t* weights,
                      const std::int32_t* bias, std::int32_t zero_point, std::int8_t* panel,
                      std::int32_t* offsets) {
  const std::int32_t run_bytes = l.r.units * 4;
  for (std::int32_t block = 0; block < l.blocks; ++block) {
    std::int8_t* dst = panel + static_cast<std::size_t>(block) * l.units * kVnniCols * 4;
    for (std::int32_t j = 0; j < kVnniCols; ++j) {
      const std::int32_t o = block * kVnniCols + j;
      std::int32_t sum = 0;
      for (std::int32_t t = 0; t < l.r.runs; ++t) {
        for (std::int32_t i = 0; i < run_bytes; ++i) {
          const std::size_t row = static_cast<std::size_t>(t) * l.r.length + i;
          const std::int8_t w =
              o < p.out_c && i < l.r.length ? weights[row * p.out_c + o] : std::int8_t{0};
          const std::int32_t k = t * run_bytes + i;
          dst[(static_cast<std::size_t>(k / 4) * kVnniCols + j) * 4 + k % 4] = w;
          sum += w;
        }
      }
      // (128 + zero point) * sum is at most 255 * 128 * K in magnitude: within int32 under the
      // accumulator contract; the bias and it wrap as the sums do.
      const std::int32_t b = bias != nullptr && o < p.out_c ? bias[o] : 0;
      offsets[block * kVnniCols + j] = static_cast<std::int32_t>(
          static_cast<std::uint32_t>(b) - static_cast<std::uint32_t>((128 + zero_point) * sum));
    }
  }
}

// image (NHWC, in_c channels) as x + 128 into the padded copy, the border as zero point + 128.
inline void encode_vnni_image(const Conv2dParams& p, const std::int8_t* image,
                              std::int32_t zero_point, std::uint8_t* padded) {
  const __m512i flip = _mm512_set1_epi8(static_cast<char>(0x80));
  fill_padded_image(
      p, padded_image(p), image, static_cast<std::uint8_t>(zero_point + 128), padded,
      [&](const std::int8_t* src, std::size_t n, std::uint8_t* dst) {
        std::size_t i = 0;
        for (; i + 64 <= n; i += 64)
          _mm512_storeu_si512(dst + i, _mm512_xor_si512(_mm512_loadu_si512(src + i), flip));
        if (i < n) {
          const __mmask64 tail = (std::uint64_t{1} << (n - i)) - 1;  // n - i < 64
          _mm512_mask_storeu_epi8(dst + i, tail,
                                  _mm512_xor_si512(_mm512_maskz_loadu_epi8(tail, src + i), flip));
        }
      });
}

// One tile of Rows pixels x Vectors * 16 channels of a column block: `rows` of them stored (the
// rest repeat the last pixel), `cols` channels.
template <std::int32_t Rows, std::int32_t Vectors>
void vnni_tile(const std::uint8_t* const* base, const std::size_t* tap_offset, std::int32_t taps,
               std::int32_t tap_quads, const std::int8_t* panel, const std::int32_t* offsets,
               const I8Epilogue& e, std::int32_t o0, std::int32_t rows, std::int32_t cols,
               std::int8_t* out, std::size_t out_stride) {
  __m512i c[Rows][Vectors];
  for (auto& row : c)
    for (__m512i& v : row) v = _mm512_setzero_si512();
  const std::int8_t* w = panel;
  for (std::int32_t t = 0; t < taps; ++t) {
    const std::uint8_t* at[Rows];
    for (std::int32_t r = 0; r < Rows; ++r) at[r] = base[r] + tap_offset[t];
    for (std::int32_t q = 0; q < tap_quads; ++q) {
      __m512i wv[Vectors];
      for (std::int32_t v = 0; v < Vectors; ++v) wv[v] = _mm512_load_si512(w + 64 * v);
      w += 4 * kVnniCols;
      for (std::int32_t r = 0; r < Rows; ++r) {
        std::int32_t quad;
        __builtin_memcpy(&quad, at[r] + 4 * q, sizeof quad);
        const __m512i x = _mm512_set1_epi32(quad);
        for (std::int32_t v = 0; v < Vectors; ++v) c[r][v] = _mm512_dpbusd_epi32(c[r][v], x, wv[v]);
      }
    }
  }
  const __m512i lo = _mm512_set1_epi32(e.output_min - e.output_zero_point);
  const __m512i hi = _mm512_set1_epi32(e.output_max - e.output_zero_point);
  const __m512i zp = _mm512_set1_epi32(e.output_zero_point);
  for (std::int32_t v = 0; v < Vectors; ++v) {
    const std::int32_t j0 = v * 16;
    if (j0 >= cols) break;
    const __mmask16 lanes =
        cols - j0 >= 16 ? 0xffff : static_cast<__mmask16>((1u << (cols - j0)) - 1u);
    const __m512i offset = _mm512_load_si512(offsets + j0);
    const __m512i multiplier = _mm512_maskz_loadu_epi32(lanes, e.multiplier + o0 + j0);
    const __m512i shift = _mm512_maskz_loadu_epi32(lanes, e.shift + o0 + j0);
    for (std::int32_t r = 0; r < rows; ++r) {
      __m512i q =
          multiply_by_quantized_multiplier16(_mm512_add_epi32(c[r][v], offset), multiplier, shift);
      q = _mm512_add_epi32(min32(max32(q, lo), hi), zp);
      _mm_mask_storeu_epi8(out + static_cast<std::size_t>(r) * out_stride + j0, lanes,
                           _mm512_maskz_cvtepi32_epi8(0xffff, q));
    }
  }
}

// The tiles of one column block over one image's pixels, Rows at a time. Runs in the padding
// are not skipped: the border's encoded zero point + 128 is part of the offsets' correction.
template <std::int32_t Rows, std::int32_t Vectors>
void vnni_block(const Conv2dParams& p, const IndirectLayout& l, const std::uint8_t* padded,
                const std::size_t* tap_offset, const std::int8_t* panel,
                const std::int32_t* offsets, const I8Epilogue& e, std::int32_t o0,
                std::int8_t* image_out) {
  const std::int32_t cols = min_of(kVnniCols, p.out_c - o0);
  for_each_pixel_tile<Rows>(p, l.r, padded, o0, image_out,
                            [&](const std::uint8_t* const* base, std::int32_t rows,
                                std::uint64_t /*skip*/, std::int8_t* out) {
                              vnni_tile<Rows, Vectors>(base, tap_offset, l.r.runs, l.r.units, panel,
                                                       offsets, e, o0, rows, cols, out,
                                                       static_cast<std::size_t>(p.out_c));
                            });
}

inline std::size_t conv2d_i8_vnni_scratch_bytes(const Conv2dParams& p) {
  return vnni_layout(p).bytes;
}

inline void conv2d_i8_vnni(const Conv2dParams& p, const std::int8_t* input, std::int32_t zero_point,
                           const std::int8_t* weights, const std::int32_t* bias,
                           std::int8_t* output, const I8Epilogue& e, void* scratch) {
  const IndirectLayout l = vnni_layout(p);
  run_indirect_conv<4, kVnniCols, std::int8_t, std::uint8_t>(
      p, l, input, output, scratch,
      [&](std::int8_t* panel, std::int32_t* offsets) {
        pack_vnni(p, l, weights, bias, zero_point, panel, offsets);
      },
      [&](const std::int8_t* image, std::uint8_t* padded) {
        encode_vnni_image(p, image, zero_point, padded);
      },
      [&](std::int32_t block, const std::int8_t* panel, const std::int32_t* offsets,
          const std::uint8_t* padded, const std::size_t* run_offset, std::int8_t* image_out) {
        const std::int32_t o0 = block * kVnniCols;
        // A block of at most 16 channels takes the taller one-vector tile.
        if (p.out_c - o0 <= 16)
          vnni_block<kVnniNarrowRows, 1>(p, l, padded, run_offset, panel, offsets, e, o0,
                                         image_out);
        else
          vnni_block<kVnniRows, 2>(p, l, padded, run_offset, panel, offsets, e, o0, image_out);
      });
}

}  // namespace
}  // namespace lsuv::kernels::simd
