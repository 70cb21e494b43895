// The int8 3x3 stride-1 convolution of the avx2 level in Winograd's F(2x2, 3x3), exactly in
// integers: each 2x2 block of output pixels takes 16 products per input and output channel
// instead of 36. The filter transform is scaled by 4 to stay integral (U = G' g G'^T with
// G' = 2G = [2 0 0; 1 1 1; 1 -1 1; 0 0 2], |U| <= 9 * 128 = 1152), the input transform
// (V = B^T d B of a 4x4 patch of centred activations, |V| <= 4 * 255 = 1020) is integral too,
// so both fit int16 and _mm256_madd_epi16 multiplies them exactly (pairs of input channels,
// |pair| <= 2 * 1152 * 1020, in int32). The output transform Y = A^T M A of the 16 channel
// sums M is then 4 times the 2x2 block's exact sums: every step is an int32 addition, so in
// wrap-around arithmetic Y is exact as long as 4 times the sum fits int32, which it does for
// in_c * 9 * 32640 * 4 < 2^31 (conv2d_i8_winograd_applies bounds in_c); Y / 4 (an exact shift)
// plus the bias is the reference's accumulator, requantised as the other kernels do.
//
// Per image: the centred padded copy (i8_conv_runs.hpp, extended to whole 2x2 blocks), then
// groups of 6 blocks: their input transforms, for each block of 16 output channels the 16
// GEMMs (6 blocks x 16 channels over the input channels, the 6 x 2-vector register tile of
// i8_avx2_conv.hpp) into M, and the output transform with the requantising epilogue.
//
// Included only by the avx2 int8 TU.
#pragma once

#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "kernels/i8_params.hpp"
#include "kernels/params.hpp"
#include "kernels/simd/i8_avx2_conv.hpp"
#include "kernels/simd/i8_conv_runs.hpp"
#include "kernels/simd/i8_x86.hpp"
#include "kernels/simd/sizes.hpp"

namespace lsuv::kernels::simd {
namespace {

constexpr std::int32_t kWinogradTiles = 6;  // 2x2 output blocks of a GEMM row tile
constexpr std::int32_t kWinogradCols = 16;  // output channels of a column block
constexpr std::int32_t kWinogradMaxInC = 1024;

constexpr bool conv2d_i8_winograd_applies(const Conv2dParams& p, const I8Epilogue& e) {
  return p.groups == 1 && p.kernel_h == 3 && p.kernel_w == 3 && p.stride_h == 1 &&
         p.stride_w == 1 && p.dilation_h == 1 && p.dilation_w == 1 && p.in_c % 8 == 0 &&
         p.in_c <= kWinogradMaxInC && e.accumulator_moments == nullptr;
}

// The scratch: transformed weights ([position][column block][input pair][16 columns][2]), each
// column's bias, the padded image (whole 2x2 blocks), the input transforms of one group
// ([position][block][in_c]) and its channel sums ([position][block][16 columns]).
struct WinogradLayout {
  std::int32_t blocks_h, blocks_w;  // 2x2 output blocks
  std::int32_t col_blocks;
  PaddedImage g;
  std::size_t panel, offsets, image, v, m, bytes;
};

constexpr WinogradLayout winograd_layout(const Conv2dParams& p) {
  WinogradLayout l{};
  l.blocks_h = (p.out_h + 1) / 2;
  l.blocks_w = (p.out_w + 1) / 2;
  l.col_blocks = (p.out_c + kWinogradCols - 1) / kWinogradCols;
  const PaddedImage exact = padded_image(p);
  l.g = {max_of(exact.h, 2 * l.blocks_h + 2), max_of(exact.w, 2 * l.blocks_w + 2)};
  const std::size_t in_c = static_cast<std::size_t>(p.in_c);
  l.panel = 0;
  l.offsets = align_up(16 * static_cast<std::size_t>(l.col_blocks) * in_c * kWinogradCols * 2);
  l.image = l.offsets + align_up(static_cast<std::size_t>(l.col_blocks) * kWinogradCols * 4);
  l.v = l.image + align_up(static_cast<std::size_t>(l.g.h) * l.g.w * in_c * 2);
  l.m = l.v + align_up(16 * kWinogradTiles * in_c * 2);
  l.bytes = l.m + align_up(16 * kWinogradTiles * kWinogradCols * 4);
  return l;
}

// U = G' g G'^T of one 3x3 filter (g[ky][kx]), 16 values in [-1152, 1152].
inline void winograd_filter(const std::int32_t g[3][3], std::int32_t u[16]) {
  std::int32_t t[4][3];
  for (std::int32_t kx = 0; kx < 3; ++kx) {
    t[0][kx] = 2 * g[0][kx];
    t[1][kx] = g[0][kx] + g[1][kx] + g[2][kx];
    t[2][kx] = g[0][kx] - g[1][kx] + g[2][kx];
    t[3][kx] = 2 * g[2][kx];
  }
  for (std::int32_t i = 0; i < 4; ++i) {
    u[i * 4 + 0] = 2 * t[i][0];
    u[i * 4 + 1] = t[i][0] + t[i][1] + t[i][2];
    u[i * 4 + 2] = t[i][0] - t[i][1] + t[i][2];
    u[i * 4 + 3] = 2 * t[i][2];
  }
}

inline void pack_winograd(const Conv2dParams& p, const WinogradLayout& l,
                          const std::int8_t* weights, const std::int32_t* bias, std::int16_t* panel,
                          std::int32_t* offsets) {
  const std::size_t pairs = static_cast<std::size_t>(p.in_c) / 2;
  const std::size_t position_stride = static_cast<std::size_t>(l.col_blocks) * pairs * 32;
  for (std::int32_t o = 0; o < l.col_blocks * kWinogradCols; ++o) {
    const std::size_t column = static_cast<std::size_t>(o / kWinogradCols) * pairs * 32 +
                               static_cast<std::size_t>(o % kWinogradCols) * 2;
    for (std::int32_t c = 0; c < p.in_c; ++c) {
      std::int32_t g[3][3] = {};
      if (o < p.out_c)
        for (std::int32_t ky = 0; ky < 3; ++ky)
          for (std::int32_t kx = 0; kx < 3; ++kx)
            g[ky][kx] =
                weights[((static_cast<std::size_t>(ky) * 3 + kx) * p.in_c + c) * p.out_c + o];
      std::int32_t u[16];
      winograd_filter(g, u);
      for (std::int32_t xi = 0; xi < 16; ++xi)
        panel[xi * position_stride + column + static_cast<std::size_t>(c / 2) * 32 + c % 2] =
            static_cast<std::int16_t>(u[xi]);
    }
    offsets[o] = bias != nullptr && o < p.out_c ? bias[o] : 0;
  }
}

// V = B^T d B of the 4x4 patch at `patch` (rows `row` elements apart, channels c .. c + 7) into
// v[position * stride].
inline void winograd_input8(const std::int16_t* patch, std::size_t row, std::size_t pixel,
                            std::int16_t* v, std::size_t stride) {
  __m128i d[4][4];
#pragma GCC unroll 4
  for (std::int32_t i = 0; i < 4; ++i)
#pragma GCC unroll 4
    for (std::int32_t j = 0; j < 4; ++j)
      d[i][j] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(patch + i * row + j * pixel));
  __m128i t[4][4];
#pragma GCC unroll 4
  for (std::int32_t j = 0; j < 4; ++j) {
    t[0][j] = _mm_sub_epi16(d[0][j], d[2][j]);
    t[1][j] = _mm_add_epi16(d[1][j], d[2][j]);
    t[2][j] = _mm_sub_epi16(d[2][j], d[1][j]);
    t[3][j] = _mm_sub_epi16(d[1][j], d[3][j]);
  }
#pragma GCC unroll 4
  for (std::int32_t i = 0; i < 4; ++i) {
    const __m128i out[4] = {_mm_sub_epi16(t[i][0], t[i][2]), _mm_add_epi16(t[i][1], t[i][2]),
                            _mm_sub_epi16(t[i][2], t[i][1]), _mm_sub_epi16(t[i][1], t[i][3])};
#pragma GCC unroll 4
    for (std::int32_t j = 0; j < 4; ++j)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(v + (i * 4 + j) * stride), out[j]);
  }
}

// M[position][block][16] = sum over input channels of U * V for the group's blocks: at each
// position a GEMM of kWinogradTiles x 16 over in_c / 2 pairs, the direct tile's inner loop.
inline void winograd_gemm(const std::int16_t* v, std::int32_t in_c, const std::int16_t* panel,
                          std::size_t position_stride, std::int32_t* m) {
  for (std::int32_t xi = 0; xi < 16; ++xi) {
    const std::int16_t* vx = v + static_cast<std::size_t>(xi) * kWinogradTiles * in_c;
    const std::int16_t* w = panel + xi * position_stride;
    __m256i c[kWinogradTiles][2];
#pragma GCC unroll 6
    for (auto& row : c) row[0] = row[1] = _mm256_setzero_si256();
    const std::int16_t* at[kWinogradTiles];
    for (std::int32_t r = 0; r < kWinogradTiles; ++r)
      at[r] = vx + static_cast<std::size_t>(r) * in_c;
    madd_pairs<kWinogradTiles, 2>(at, in_c / 2, w, c);
    std::int32_t* mx = m + xi * kWinogradTiles * kWinogradCols;
#pragma GCC unroll 6
    for (std::int32_t r = 0; r < kWinogradTiles; ++r) {
      _mm256_store_si256(reinterpret_cast<__m256i*>(mx + r * kWinogradCols), c[r][0]);
      _mm256_store_si256(reinterpret_cast<__m256i*>(mx + r * kWinogradCols + 8), c[r][1]);
    }
  }
}

// The output transform of block r's sums for 8 channels (m at its first position's lanes,
// positions `stride` apart): the 2x2 block's exact accumulators without the bias.
inline void winograd_output8(const std::int32_t* m, std::size_t stride, __m256i y[2][2]) {
  __m256i s[2][4];
#pragma GCC unroll 4
  for (std::int32_t j = 0; j < 4; ++j) {
    const auto at = [&](std::int32_t i) { return load8x32(m + (i * 4 + j) * stride); };
    const __m256i m1 = at(1), m2 = at(2);
    s[0][j] = _mm256_add_epi32(_mm256_add_epi32(at(0), m1), m2);
    s[1][j] = _mm256_sub_epi32(_mm256_sub_epi32(m1, m2), at(3));
  }
#pragma GCC unroll 4
  for (std::int32_t a = 0; a < 2; ++a) {
    y[a][0] = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(s[a][0], s[a][1]), s[a][2]), 2);
    y[a][1] = _mm256_srai_epi32(_mm256_sub_epi32(_mm256_sub_epi32(s[a][1], s[a][2]), s[a][3]), 2);
  }
}

inline std::size_t conv2d_i8_winograd_scratch_bytes(const Conv2dParams& p) {
  return winograd_layout(p).bytes;
}

inline void conv2d_i8_winograd(const Conv2dParams& p, const std::int8_t* input,
                               std::int32_t zero_point, const std::int8_t* weights,
                               const std::int32_t* bias, std::int8_t* output, const I8Epilogue& e,
                               void* scratch) {
  const WinogradLayout l = winograd_layout(p);
  unsigned char* bytes = static_cast<unsigned char*>(scratch);
  auto* panel = reinterpret_cast<std::int16_t*>(bytes + l.panel);
  auto* offsets = reinterpret_cast<std::int32_t*>(bytes + l.offsets);
  auto* padded = reinterpret_cast<std::int16_t*>(bytes + l.image);
  auto* v = reinterpret_cast<std::int16_t*>(bytes + l.v);
  auto* m = reinterpret_cast<std::int32_t*>(bytes + l.m);
  pack_winograd(p, l, weights, bias, panel, offsets);
  const std::size_t in_c = static_cast<std::size_t>(p.in_c);
  const std::size_t position_stride = static_cast<std::size_t>(l.col_blocks) * (in_c / 2) * 32;
  const std::size_t row = static_cast<std::size_t>(l.g.w) * in_c;
  const std::size_t image_in = static_cast<std::size_t>(p.in_h) * p.in_w * in_c;
  const std::size_t image_out = static_cast<std::size_t>(p.out_h) * p.out_w * p.out_c;
  const std::int32_t tiles = l.blocks_h * l.blocks_w;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    encode_avx2_image(p, l.g, input + n * image_in, zero_point, padded);
    std::int8_t* image_output = output + n * image_out;
    for (std::int32_t t0 = 0; t0 < tiles; t0 += kWinogradTiles) {
      const std::int32_t count = min_of(kWinogradTiles, tiles - t0);
      for (std::int32_t r = 0; r < kWinogradTiles; ++r) {
        const std::int32_t t = t0 + min_of(r, count - 1);
        const std::int16_t* patch = padded + static_cast<std::size_t>(t / l.blocks_w) * 2 * row +
                                    static_cast<std::size_t>(t % l.blocks_w) * 2 * in_c;
        for (std::size_t c = 0; c < in_c; c += 8)
          winograd_input8(patch + c, row, in_c, v + r * in_c + c, kWinogradTiles * in_c);
      }
      for (std::int32_t b = 0; b < l.col_blocks; ++b) {
        winograd_gemm(v, p.in_c, panel + static_cast<std::size_t>(b) * (in_c / 2) * 32,
                      position_stride, m);
        const std::int32_t o0 = b * kWinogradCols;
        for (std::int32_t vec = 0; vec < 2; ++vec) {
          const std::int32_t j0 = o0 + vec * 8;
          if (j0 >= p.out_c) break;
          const std::int32_t lanes = min_of(8, p.out_c - j0);
          const Requantizer8 q = requantizer8(offsets + j0, e.multiplier + j0, e.shift + j0, lanes,
                                              e.output_zero_point, e.output_min, e.output_max);
          for (std::int32_t r = 0; r < count; ++r) {
            __m256i y[2][2];
            winograd_output8(m + r * kWinogradCols + vec * 8, kWinogradTiles * kWinogradCols, y);
            const std::int32_t t = t0 + r;
            const std::int32_t oy0 = t / l.blocks_w * 2, ox0 = t % l.blocks_w * 2;
            for (std::int32_t a = 0; a < 2; ++a)
              for (std::int32_t bx = 0; bx < 2; ++bx) {
                if (oy0 + a >= p.out_h || ox0 + bx >= p.out_w) continue;
                std::int8_t* dst =
                    image_output +
                    (static_cast<std::size_t>(oy0 + a) * p.out_w + ox0 + bx) * p.out_c + j0;
                store_lanes8(requantized8(q, y[a][bx]), lanes, dst);
              }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace lsuv::kernels::simd
