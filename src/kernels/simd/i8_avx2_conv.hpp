// The int8 convolution of the avx2 level for one group and no accumulator moments: an indirect
// GEMM like the VNNI one (i8_vnni_conv.hpp). Each image is encoded once into a padded copy of
// centred int16 activations (x - zero point; the border 0, the reference's skipped taps), so
// the reduction of every output pixel is a few contiguous runs of that copy
// (i8_conv_runs.hpp), consumed a pair of int16 at a time: one 32-bit broadcast per pixel
// against vectors of packed weight pairs (8 columns x 2 int16), multiplied and summed by
// _mm256_madd_epi16. That product is exact: a centred activation is in [-255, 255] and a
// weight in [-128, 127], so a pair sums to at most 65280 in magnitude, in int32 (maddubs would
// saturate such pairs in int16). A tile is 6 output pixels x 16 output channels (12
// accumulators), or 12 pixels x 8 channels for a block of at most 8 channels (a first layer's
// 8 filters); the epilogue adds the bias and requantises the accumulators in registers with
// exactly fixed_point.hpp's arithmetic.
//
// Included only by the avx2 int8 TU.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/i8_params.hpp"
#include "kernels/params.hpp"
#include "kernels/simd/i8_conv_runs.hpp"
#include "kernels/simd/i8_x86.hpp"
#include "kernels/simd/sizes.hpp"

namespace lsuv::kernels::simd {
namespace {

constexpr std::int32_t kAvx2ConvRows = 6;         // output pixels of a 16-channel tile
constexpr std::int32_t kAvx2ConvNarrowRows = 12;  // output pixels of an 8-channel tile
constexpr std::int32_t kAvx2ConvBlock = 16;       // output channels of a column block

// The scratch (i8_conv_runs.hpp): weight pairs in blocks of 16 columns (a last block of at
// most 8 columns packed 8 wide), the image in int16.
constexpr IndirectLayout avx2_conv_layout(const Conv2dParams& p) {
  return indirect_layout<2, kAvx2ConvBlock, 2>(p);
}

constexpr bool conv2d_i8_avx2_applies(const Conv2dParams& p, const I8Epilogue& e) {
  return p.groups == 1 && conv_runs<2>(p).runs <= kIndirectMaxRuns &&
         e.accumulator_moments == nullptr;
}

// Columns of block `block` as packed (16, or 8 for a last block of at most 8 columns).
inline std::int32_t avx2_block_width(const Conv2dParams& p, std::int32_t block) {
  return p.out_c - block * kAvx2ConvBlock <= 8 ? 8 : kAvx2ConvBlock;
}

// Packs every column block's weights as the tiles read them, and each column's bias. Run t's
// element i is weight row t * length + i (the weights' [kh][kw][in] order is the runs' order);
// the element that pads a run to whole pairs gets a zero weight.
inline void pack_avx2_conv(const Conv2dParams& p, const IndirectLayout& l,
                           const std::int8_t* weights, const std::int32_t* bias,
                           std::int16_t* panel, std::int32_t* offsets) {
  const std::int32_t run_elements = l.r.units * 2;
  for (std::int32_t block = 0; block < l.blocks; ++block) {
    const std::int32_t width = avx2_block_width(p, block);
    std::int16_t* dst = panel + static_cast<std::size_t>(block) * l.units * kAvx2ConvBlock * 2;
    for (std::int32_t j = 0; j < width; ++j) {
      const std::int32_t o = block * kAvx2ConvBlock + j;
      for (std::int32_t t = 0; t < l.r.runs; ++t)
        for (std::int32_t i = 0; i < run_elements; ++i) {
          const std::size_t row = static_cast<std::size_t>(t) * l.r.length + i;
          const std::int32_t k = t * run_elements + i;
          dst[(static_cast<std::size_t>(k / 2) * width + j) * 2 + k % 2] =
              o < p.out_c && i < l.r.length ? weights[row * p.out_c + o] : std::int8_t{0};
        }
    }
    for (std::int32_t j = 0; j < kAvx2ConvBlock; ++j) {
      const std::int32_t o = block * kAvx2ConvBlock + j;
      offsets[o] = bias != nullptr && o < p.out_c ? bias[o] : 0;
    }
  }
}

// image (NHWC, in_c channels) centred into int16 in the padded copy of g pixels, the border 0.
inline void encode_avx2_image(const Conv2dParams& p, PaddedImage g, const std::int8_t* image,
                              std::int32_t zero_point, std::int16_t* padded) {
  const __m256i z = _mm256_set1_epi16(static_cast<std::int16_t>(zero_point));
  fill_padded_image(
      p, g, image, std::int16_t{0}, padded,
      [&](const std::int8_t* src, std::size_t n, std::int16_t* dst) {
        std::size_t i = 0;
        for (; i + 16 <= n; i += 16)
          _mm256_storeu_si256(
              reinterpret_cast<__m256i*>(dst + i),
              _mm256_sub_epi16(
                  _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i))),
                  z));
        for (; i < n; ++i) dst[i] = static_cast<std::int16_t>(src[i] - zero_point);
      });
}

// c[r][v] += the products of `pairs` int16 pairs from at[r] with the panel's pairs (Vectors * 8
// columns each, from w on; w moves past them). Unrolled over the tile, so the accumulators stay
// in registers (GCC 12 otherwise keeps them in memory where this is inlined into a loop).
template <std::int32_t Rows, std::int32_t Vectors>
inline void madd_pairs(const std::int16_t* const* at, std::int32_t pairs, const std::int16_t*& w,
                       __m256i (&c)[Rows][Vectors]) {
  for (std::int32_t q = 0; q < pairs; ++q) {
    __m256i wv[Vectors];
#pragma GCC unroll 4
    for (std::int32_t v = 0; v < Vectors; ++v)
      wv[v] = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + 16 * v));
    w += 16 * Vectors;
#pragma GCC unroll 16
    for (std::int32_t r = 0; r < Rows; ++r) {
      const __m256i x = _mm256_set1_epi32(load_u32(at[r] + 2 * q));
#pragma GCC unroll 4
      for (std::int32_t v = 0; v < Vectors; ++v)
        c[r][v] = _mm256_add_epi32(c[r][v], _mm256_madd_epi16(x, wv[v]));
    }
  }
}

// One tile of Rows pixels x Vectors * 8 channels: `rows` of them stored, `cols` channels of
// output columns o0 ...; panel holds the block's pairs, Vectors * 8 columns each; the runs in
// `skip` lie in the padding.
template <std::int32_t Rows, std::int32_t Vectors>
void avx2_conv_tile(const std::int16_t* const* corner, const std::size_t* run_offset,
                    std::int32_t runs, std::int32_t run_pairs, std::uint64_t skip,
                    const std::int16_t* panel, const std::int32_t* offsets, const I8Epilogue& e,
                    std::int32_t o0, std::int32_t rows, std::int32_t cols, std::int8_t* out,
                    std::size_t out_stride) {
  __m256i c[Rows][Vectors];
#pragma GCC unroll 16
  for (auto& row : c)
    for (__m256i& v : row) v = _mm256_setzero_si256();
  const std::int16_t* w = panel;
  for (std::int32_t t = 0; t < runs; ++t) {
    if ((skip >> t) & 1) {
      w += static_cast<std::size_t>(run_pairs) * 16 * Vectors;
      continue;
    }
    const std::int16_t* at[Rows];
    for (std::int32_t r = 0; r < Rows; ++r) at[r] = corner[r] + run_offset[t];
    madd_pairs<Rows, Vectors>(at, run_pairs, w, c);
  }
  for (std::int32_t v = 0; v < Vectors; ++v) {
    const std::int32_t j0 = v * 8;
    if (j0 >= cols) break;
    const std::int32_t lanes = min_of(8, cols - j0);
    const Requantizer8 q = requantizer8(offsets + j0, e.multiplier + o0 + j0, e.shift + o0 + j0,
                                        lanes, e.output_zero_point, e.output_min, e.output_max);
    for (std::int32_t r = 0; r < rows; ++r)
      store_lanes8(requantized8(q, c[r][v]), lanes,
                   out + static_cast<std::size_t>(r) * out_stride + j0);
  }
}

// The tiles of one column block over one image's pixels, Rows at a time.
template <std::int32_t Rows, std::int32_t Vectors>
void avx2_conv_block(const Conv2dParams& p, const IndirectLayout& l, const std::int16_t* padded,
                     const std::size_t* run_offset, const std::int16_t* panel,
                     const std::int32_t* offsets, const I8Epilogue& e, std::int32_t o0,
                     std::int8_t* image_out) {
  const std::int32_t cols = min_of(Vectors * 8, p.out_c - o0);
  for_each_pixel_tile<Rows>(p, l.r, padded, o0, image_out,
                            [&](const std::int16_t* const* corner, std::int32_t rows,
                                std::uint64_t skip, std::int8_t* out) {
                              avx2_conv_tile<Rows, Vectors>(corner, run_offset, l.r.runs, l.r.units,
                                                            skip, panel, offsets, e, o0, rows, cols,
                                                            out, static_cast<std::size_t>(p.out_c));
                            });
}

inline std::size_t conv2d_i8_avx2_scratch_bytes(const Conv2dParams& p) {
  return avx2_conv_layout(p).bytes;
}

inline void conv2d_i8_avx2(const Conv2dParams& p, const std::int8_t* input, std::int32_t zero_point,
                           const std::int8_t* weights, const std::int32_t* bias,
                           std::int8_t* output, const I8Epilogue& e, void* scratch) {
  const IndirectLayout l = avx2_conv_layout(p);
  run_indirect_conv<2, kAvx2ConvBlock, std::int16_t, std::int16_t>(
      p, l, input, output, scratch,
      [&](std::int16_t* panel, std::int32_t* offsets) {
        pack_avx2_conv(p, l, weights, bias, panel, offsets);
      },
      [&](const std::int8_t* image, std::int16_t* padded) {
        encode_avx2_image(p, padded_image(p), image, zero_point, padded);
      },
      [&](std::int32_t block, const std::int16_t* panel, const std::int32_t* offsets,
          const std::int16_t* padded, const std::size_t* run_offset, std::int8_t* image_out) {
        const std::int32_t o0 = block * kAvx2ConvBlock;
        if (avx2_block_width(p, block) == 8)
          avx2_conv_block<kAvx2ConvNarrowRows, 1>(p, l, padded, run_offset, panel, offsets, e, o0,
                                                  image_out);
        else
          avx2_conv_block<kAvx2ConvRows, 2>(p, l, padded, run_offset, panel, offsets, e, o0,
                                            image_out);
      });
}

}  // namespace
}  // namespace lsuv::kernels::simd
