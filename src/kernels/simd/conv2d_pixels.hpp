// Convolution vectorised over output pixels, for layers with few input channels and few output
// channels (the seed model's conv1, 1->8 5x5 stride 2, and conv2, 8->16 3x3): with 8 or 16
// output channels a channel-vectorised tile fills half of a 16-float AVX-512 vector or needs one
// broadcast per FMA, and a first layer's taps are too short to amortise its row pointers.
//
// Here a vector holds 16 consecutive output pixels of one output row, and a tile is kRows output
// rows x kChannels output channels (24 accumulators): each reduction step loads kRows input
// vectors and broadcasts kChannels weights for kRows x kChannels FMAs. The input of one image is
// first copied into zero-padded planes, one per input channel and horizontal stride phase, so
// that every tap of a row of outputs is one contiguous load with no bounds checks (stride 2 reads
// even and odd columns from their own planes). The weights are packed into zero-padded panels of
// kChannels columns. The tile is transposed to NHWC in registers (three rounds of two-source
// permutes), and its moments (a tile is a block of F32Epilogue's contract), the clamp and the
// stores work on the transposed pairs of pixels.
//
// AVX-512 only (the transpose is written with its permutes); included by f32_kernels_impl.hpp
// in the AVX-512 TU.
#pragma once

#if !defined(__AVX512F__)
#error "conv2d_pixels.hpp needs AVX-512 (include it only where __AVX512F__ is defined)"
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/params.hpp"
#include "kernels/simd/elementwise.hpp"
#include "kernels/simd/fmadd.hpp"
#include "kernels/simd/sizes.hpp"
#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {
namespace {

constexpr std::int32_t kPixelRows = 3;      // output rows of a tile
constexpr std::int32_t kPixelChannels = 8;  // output channels of a tile
constexpr std::int32_t kPixelWidth = 16;    // output pixels of a vector
constexpr std::int32_t kPixelMaxOut = 32;   // output channels at most
constexpr std::int32_t kPixelMaxBlocks = kPixelMaxOut / kPixelChannels;

// Where the pixel-vectorised convolution applies and pays: one group, no dilation, horizontal
// stride 1 or 2, at most 8 input and 32 output channels, and output rows at least half a vector
// long. Every other convolution runs the igemm.
constexpr bool conv2d_pixels_applies(const Conv2dParams& p) {
  return p.groups == 1 && p.dilation_h == 1 && p.dilation_w == 1 &&
         (p.stride_w == 1 || p.stride_w == 2) && p.in_c <= 8 && p.out_c <= kPixelMaxOut &&
         p.out_w >= kPixelWidth / 2;
}

// The scratch: the padded planes of one image and the packed weights (floats), then the offset
// of each step of a kernel row in the planes.
struct PixelsLayout {
  std::int32_t plane_h, plane_w;  // rows and columns of one plane
  std::int32_t reduction;         // kernel_h * kernel_w * in_c
  std::int32_t row_steps;         // kernel_w * in_c: the steps of one kernel row
  std::int32_t blocks;            // output channel blocks of kPixelChannels
  std::size_t plane_floats, planes_floats, panel_floats;
  std::size_t panel, steps, bytes;  // byte offsets of the panels and the step offsets; total
};

constexpr PixelsLayout pixels_layout(const Conv2dParams& p) {
  PixelsLayout l{};
  const std::int32_t tile_rows = (p.out_h + kPixelRows - 1) / kPixelRows * kPixelRows;
  const std::int32_t vectors = (p.out_w + kPixelWidth - 1) / kPixelWidth;
  // Every row and column a tile reads, including the rows and lanes it computes and drops.
  l.plane_h = (tile_rows - 1) * p.stride_h + p.kernel_h;
  l.plane_w = vectors * kPixelWidth + (p.kernel_w - 1) / p.stride_w;
  l.reduction = p.kernel_h * p.kernel_w * p.in_c;
  l.row_steps = p.kernel_w * p.in_c;
  l.blocks = (p.out_c + kPixelChannels - 1) / kPixelChannels;
  l.plane_floats = static_cast<std::size_t>(l.plane_h) * l.plane_w;
  l.planes_floats = l.plane_floats * p.in_c * p.stride_w;
  l.panel_floats = static_cast<std::size_t>(l.blocks) * l.reduction * kPixelChannels;
  l.panel = align_up(l.planes_floats * sizeof(float));
  l.steps = l.panel + align_up(l.panel_floats * sizeof(float));
  l.bytes = l.steps + align_up(static_cast<std::size_t>(l.row_steps) * sizeof(std::size_t));
  return l;
}

// panel[block][k][j] = weight of reduction step k (tap-major, then input channel, the weights'
// own order) for output channel block * kPixelChannels + j, zero past out_c.
inline void pack_pixel_panels(const Conv2dParams& p, const PixelsLayout& l, const float* weights,
                              float* panel) {
  for (std::int32_t block = 0; block < l.blocks; ++block) {
    for (std::int32_t k = 0; k < l.reduction; ++k) {
      float* dst = panel + (static_cast<std::size_t>(block) * l.reduction + k) * kPixelChannels;
      for (std::int32_t j = 0; j < kPixelChannels; ++j) {
        const std::int32_t o = block * kPixelChannels + j;
        dst[j] = o < p.out_c ? weights[static_cast<std::size_t>(k) * p.out_c + o] : 0.0f;
      }
    }
  }
}

// The permutes that transpose 8 vectors (channel c, pixels j = 0..15) into 8 vectors of pixel
// pairs (vector m holds pixels 2m and 2m+1, lane (j & 1) * 8 + c, which is also how 16 NHWC
// pixels of 8 channels lie in memory), as three rounds that each exchange one bit of the vector
// index with one bit of the lane index; and the rounds of the way back. Entry [y][lane] of a
// round's table is _mm512_permutex2var_ps's index for the output vector whose exchanged bit is
// y: bit 4 picks the second source (that bit set), bits 0-3 its lane.
struct PixelTranspose {
  std::int32_t forward[3][2][16];     // round r exchanges vector bit r
  std::int32_t inverse_first[2][16];  // undoes forward round 2; then rounds 1 and 0 again
};

constexpr PixelTranspose pixel_transpose() {
  PixelTranspose t{};
  for (std::int32_t y = 0; y < 2; ++y) {
    for (std::int32_t lane = 0; lane < 16; ++lane) {
      const std::int32_t l0 = lane & 1, l1 = (lane >> 1) & 1, l2 = (lane >> 2) & 1;
      const std::int32_t l3 = (lane >> 3) & 1;
      // Rounds 0 and 1 exchange vector bit r (c_r) with lane bit r + 1 (j_{r+1}): the source is
      // the vector with that bit equal to the lane's bit, at the lane with that bit set to y.
      // Each is its own inverse.
      for (std::int32_t round = 0; round < 2; ++round) {
        const std::int32_t bit = round + 1;
        t.forward[round][y][lane] = ((lane >> bit) & 1) << 4 | (lane & ~(1 << bit)) | (y << bit);
      }
      // Round 2 exchanges vector bit 2 (c2) with lane bit 3 (j3) and lands each element at its
      // final lane (j0, c2, c1, c0): after round 1 an element sits at lane (j3, c1, c0, j0).
      t.forward[2][y][lane] = l2 << 4 | (y << 3 | l1 << 2 | l0 << 1 | l3);
      // Its inverse: output lane (j3, c1, c0, j0) of the vector with c2 = y comes from the
      // vector with bit 2 = j3, lane (j0, c2, c1, c0).
      t.inverse_first[y][lane] = l3 << 4 | (l0 << 3 | y << 2 | l2 << 1 | l1);
    }
  }
  return t;
}

alignas(64) constexpr PixelTranspose kPixelTranspose = pixel_transpose();

// One round over 8 vectors: pairs differing in vector bit `bit`, through the table `index`.
inline void permute_round(__m512 v[kPixelChannels], std::int32_t bit,
                          const std::int32_t (&index)[2][16]) {
  const __m512i low = _mm512_load_si512(index[0]);
  const __m512i high = _mm512_load_si512(index[1]);
  __m512 out[kPixelChannels];
  for (std::int32_t i = 0; i < kPixelChannels; ++i) {
    if ((i & bit) != 0) continue;
    out[i] = _mm512_permutex2var_ps(v[i], low, v[i | bit]);
    out[i | bit] = _mm512_permutex2var_ps(v[i], high, v[i | bit]);
  }
  for (std::int32_t i = 0; i < kPixelChannels; ++i) v[i] = out[i];
}

// Channel vectors to pixel pairs in place, and back.
inline void transpose_pixels(__m512 v[kPixelChannels]) {
  for (std::int32_t round = 0; round < 3; ++round)
    permute_round(v, 1 << round, kPixelTranspose.forward[round]);
}
inline void untranspose_pixels(__m512 v[kPixelChannels]) {
  permute_round(v, 4, kPixelTranspose.inverse_first);
  permute_round(v, 2, kPixelTranspose.forward[1]);
  permute_round(v, 1, kPixelTranspose.forward[0]);
}

// The first `count` of 16 lanes (none for count <= 0, all for count >= 16).
inline __mmask16 lanes(std::int32_t count) {
  return count <= 0 ? 0 : count >= 16 ? 0xffff : static_cast<__mmask16>((1u << count) - 1u);
}

// Plane (c, phase) holds input channel c at columns x = column * stride_w + phase - pad_w and
// rows y = row - pad_h, zero outside the image. The planes are zeroed, then each input row is
// dealt phase by phase to its columns: a single-channel stride-2 row takes every other float
// of 32 with one permute per phase (masked loads and stores at the end of the row), and 16
// pixels of 8 channels become 8 channel vectors with the tile's transpose run backwards.
inline void fill_planes(const Conv2dParams& p, const PixelsLayout& l, const float* image,
                        float* planes) {
  std::memset(planes, 0, l.planes_floats * sizeof(float));
  const std::size_t phase_floats = l.plane_floats;
  const std::size_t channel_floats = phase_floats * p.stride_w;
  const __m512i even = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
  for (std::int32_t y = 0; y < p.in_h; ++y) {
    const float* line = image + static_cast<std::size_t>(y) * p.in_w * p.in_c;
    float* row = planes + static_cast<std::size_t>(y + p.pad_h) * l.plane_w;
    if (p.in_c == 1 && p.stride_w == 2) {
      // From an x with x + pad_w even, 32 floats hold 16 columns of phase 0 (even lanes) and
      // the same 16 of phase 1 (odd lanes); with pad_w odd, x = 0 is phase 1's alone.
      std::int32_t x = p.pad_w % 2;
      if (x == 1) row[phase_floats + p.pad_w / 2] = line[0];
      for (; x < p.in_w; x += 32) {
        const std::int32_t left = p.in_w - x;
        const __m512 a = _mm512_maskz_loadu_ps(lanes(left), line + x);
        const __m512 b = _mm512_maskz_loadu_ps(lanes(left - 16), line + x + 16);
        float* dst = row + (x + p.pad_w) / 2;
        _mm512_mask_storeu_ps(dst, lanes((left + 1) / 2), _mm512_permutex2var_ps(a, even, b));
        _mm512_mask_storeu_ps(dst + phase_floats, lanes(left / 2),
                              _mm512_permutex2var_ps(a, odd, b));
      }
      continue;
    }
    for (std::int32_t phase = 0; phase < p.stride_w; ++phase) {
      // The first column whose x is inside the image.
      const std::int32_t column = max_of(0, (p.pad_w - phase + p.stride_w - 1) / p.stride_w);
      std::int32_t x = column * p.stride_w + phase - p.pad_w;
      float* dst = row + phase * phase_floats + column;
      if (p.in_c == kPixelChannels && p.stride_w == 1) {
        // 16 pixels of 8 channels are 8 vectors of pixel pairs: untransposed, one per channel.
        for (; x < p.in_w; x += kPixelWidth, dst += kPixelWidth) {
          const std::int32_t left = min_of(kPixelWidth, p.in_w - x);
          const float* src = line + static_cast<std::size_t>(x) * kPixelChannels;
          __m512 v[kPixelChannels];
          for (std::int32_t m = 0; m < kPixelChannels; ++m) {
            const std::int32_t floats = left * kPixelChannels - 16 * m;
            v[m] = _mm512_maskz_loadu_ps(lanes(floats), src + 16 * m);
          }
          untranspose_pixels(v);
          for (std::int32_t c = 0; c < kPixelChannels; ++c)
            _mm512_mask_storeu_ps(dst + c * channel_floats, lanes(left), v[c]);
        }
        continue;
      }
      for (; x < p.in_w; x += p.stride_w, ++dst) {
        const float* src = line + static_cast<std::size_t>(x) * p.in_c;
        for (std::int32_t c = 0; c < p.in_c; ++c) dst[c * channel_floats] = src[c];
      }
    }
  }
}

// The lanes of pixel pair m that hold one of the first `pixels` pixels.
inline __mmask16 pair_lanes(std::int32_t m, std::int32_t pixels) {
  return static_cast<__mmask16>((2 * m < pixels ? 0x00ffu : 0u) |
                                (2 * m + 1 < pixels ? 0xff00u : 0u));
}

// The block moments of one tile (F32Epilogue's contract with a tile's rows as the block): each
// channel's values shifted by its value in the tile's first pixel, summed in float in the lanes
// of its two pixel halves.
struct TileSums {
  __m512 shift, sum, squares;
  std::uint64_t count;
};

inline void add_tile_row(const __m512 pairs[kPixelChannels], std::int32_t pixels, bool first,
                         TileSums* sums) {
  if (first) {
    // Pixel 0 in both halves (the zero-masking forms keep GCC 12's undefined-source warning away).
    sums->shift = _mm512_maskz_shuffle_f32x4(0xffff, pairs[0], pairs[0], 0x44);
    sums->sum = sums->squares = _mm512_setzero_ps();
    sums->count = 0;
  }
  for (std::int32_t m = 0; 2 * m < pixels; ++m) {
    const __mmask16 valid = pair_lanes(m, pixels);
    const __m512 d = _mm512_sub_ps(pairs[m], sums->shift);
    sums->sum = _mm512_mask_add_ps(sums->sum, valid, sums->sum, d);
    sums->squares = _mm512_mask3_fmadd_ps(d, d, sums->squares, valid);
  }
  sums->count += static_cast<std::uint64_t>(pixels);
}

// Every channel's moments over the tiles of one call so far: count, mean and M2 of the 8
// channels of a block, merged tile by tile with Chan's formula in double.
struct BlockMoments {
  std::uint64_t count;
  __m512d mean, m2;
};

inline __m512d widen(__m256 x) {
  return _mm512_maskz_cvtps_pd(0xff, x);
}

inline void merge_tile(const TileSums& tile, BlockMoments* into) {
  const __m512d count = _mm512_set1_pd(static_cast<double>(tile.count));
  const __m512d sum = widen(
      _mm256_add_ps(_mm512_extractf32x8_ps(tile.sum, 0), _mm512_extractf32x8_ps(tile.sum, 1)));
  const __m512d squares = widen(_mm256_add_ps(_mm512_extractf32x8_ps(tile.squares, 0),
                                              _mm512_extractf32x8_ps(tile.squares, 1)));
  const __m512d mean =
      _mm512_add_pd(widen(_mm512_extractf32x8_ps(tile.shift, 0)), _mm512_div_pd(sum, count));
  // Rounding can leave the block's M2 slightly negative; a NaN stays NaN (its compare is false).
  const __m512d raw = _mm512_sub_pd(squares, _mm512_div_pd(_mm512_mul_pd(sum, sum), count));
  const __m512d m2 = _mm512_mask_blend_pd(_mm512_cmp_pd_mask(raw, _mm512_setzero_pd(), _CMP_LT_OQ),
                                          raw, _mm512_setzero_pd());
  if (into->count == 0) {
    into->mean = mean;
    into->m2 = m2;
  } else {
    const double before = static_cast<double>(into->count);
    const double total = before + static_cast<double>(tile.count);
    const __m512d delta = _mm512_sub_pd(mean, into->mean);
    into->mean =
        _mm512_fmadd_pd(delta, _mm512_set1_pd(static_cast<double>(tile.count) / total), into->mean);
    into->m2 = _mm512_add_pd(
        into->m2,
        _mm512_fmadd_pd(_mm512_mul_pd(delta, delta),
                        _mm512_set1_pd(before * static_cast<double>(tile.count) / total), m2));
  }
  into->count += tile.count;
}

// Stores one tile row of pixel pairs: `pixels` outputs from `row` (NHWC, out_c apart),
// `channels` of them each.
inline void store_pixels(const __m512 pairs[kPixelChannels], float* row, std::int32_t out_c,
                         std::int32_t pixels, std::int32_t channels) {
  const __mmask8 mask = static_cast<__mmask8>((1u << channels) - 1u);
  for (std::int32_t m = 0; 2 * m < pixels; ++m) {
    float* first = row + static_cast<std::size_t>(2 * m) * out_c;
    _mm256_mask_storeu_ps(first, mask, _mm512_extractf32x8_ps(pairs[m], 0));
    if (2 * m + 1 < pixels)
      _mm256_mask_storeu_ps(first + out_c, mask, _mm512_extractf32x8_ps(pairs[m], 1));
  }
}

template <class Arch>
std::size_t conv2d_pixels_scratch_bytes(const Conv2dParams& p) {
  return pixels_layout(p).bytes;
}

template <class Arch>
void conv2d_pixels(const Conv2dParams& p, const float* input, const float* weights,
                   const float* bias, float* output, const F32Epilogue& epilogue, void* scratch) {
  static_assert(std::is_base_of<xsimd::avx512f, Arch>::value, "AVX-512 only (see the top)");
  using B = xsimd::batch<float, Arch>;
  static_assert(B::size == kPixelWidth);
  const PixelsLayout l = pixels_layout(p);
  unsigned char* base = static_cast<unsigned char*>(scratch);
  float* planes = reinterpret_cast<float*>(base);
  float* panel = reinterpret_cast<float*>(base + l.panel);
  std::size_t* steps = reinterpret_cast<std::size_t*>(base + l.steps);
  pack_pixel_panels(p, l, weights, panel);
  // Step kx * in_c + c of a kernel row reads plane (c, kx % stride_w) from column kx / stride_w.
  for (std::int32_t kx = 0; kx < p.kernel_w; ++kx)
    for (std::int32_t c = 0; c < p.in_c; ++c)
      steps[kx * p.in_c + c] =
          static_cast<std::size_t>(c * p.stride_w + kx % p.stride_w) * l.plane_floats +
          static_cast<std::size_t>(kx / p.stride_w);
  const bool clamp = clamps(epilogue);
  const bool moments = epilogue.moments != nullptr;
  BlockMoments block_moments[kPixelMaxBlocks] = {};
  const B lo(epilogue.clamp_min), hi(epilogue.clamp_max);
  const std::size_t image_in = static_cast<std::size_t>(p.in_h) * p.in_w * p.in_c;
  const std::size_t image_out = static_cast<std::size_t>(p.out_h) * p.out_w * p.out_c;
  const std::size_t row_step = static_cast<std::size_t>(p.stride_h) * l.plane_w;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    fill_planes(p, l, input + n * image_in, planes);
    float* image = output + n * image_out;
    for (std::int32_t oy = 0; oy < p.out_h; oy += kPixelRows) {
      const std::int32_t rows = min_of(kPixelRows, p.out_h - oy);
      for (std::int32_t ox = 0; ox < p.out_w; ox += kPixelWidth) {
        const std::int32_t pixels = min_of(kPixelWidth, p.out_w - ox);
        for (std::int32_t block = 0; block < l.blocks; ++block) {
          const std::int32_t o = block * kPixelChannels;
          const std::int32_t channels = min_of(kPixelChannels, p.out_c - o);
          B acc[kPixelRows][kPixelChannels];
          for (std::int32_t j = 0; j < kPixelChannels; ++j) {
            const B b(bias != nullptr && j < channels ? bias[o + j] : 0.0f);
            for (std::int32_t r = 0; r < kPixelRows; ++r) acc[r][j] = b;
          }
          const float* w = panel + static_cast<std::size_t>(block) * l.reduction * kPixelChannels;
          const float* window = planes + static_cast<std::size_t>(oy) * row_step + ox;
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const float* kernel_row = window + static_cast<std::size_t>(ky) * l.plane_w;
            for (std::int32_t step = 0; step < l.row_steps; ++step) {
              const float* x = kernel_row + steps[step];
              B xv[kPixelRows];
              for (std::int32_t r = 0; r < kPixelRows; ++r)
                xv[r] = B::load_unaligned(x + r * row_step);
              for (std::int32_t j = 0; j < kPixelChannels; ++j) {
                const B wv(w[j]);
                for (std::int32_t r = 0; r < kPixelRows; ++r)
                  acc[r][j] = fmadd(xv[r], wv, acc[r][j]);
              }
              w += kPixelChannels;
            }
          }
          // Transposed to pixel pairs; the moments (before the clamp), the clamp, the stores.
          TileSums sums{};
          for (std::int32_t r = 0; r < rows; ++r) {
            __m512 pairs[kPixelChannels];
            for (std::int32_t j = 0; j < kPixelChannels; ++j) pairs[j] = acc[r][j];
            transpose_pixels(pairs);
            if (moments) add_tile_row(pairs, pixels, r == 0, &sums);
            if (clamp)
              for (std::int32_t m = 0; m < kPixelChannels; ++m)
                pairs[m] = clamp_keeping_nan(B(pairs[m]), lo, hi);
            float* row = image + (static_cast<std::size_t>(oy + r) * p.out_w + ox) * p.out_c + o;
            store_pixels(pairs, row, p.out_c, pixels, channels);
          }
          if (moments) merge_tile(sums, &block_moments[block]);
        }
      }
    }
  }
  if (!moments) return;
  for (std::int32_t block = 0; block < l.blocks; ++block) {
    alignas(64) double mean[kPixelChannels], m2[kPixelChannels];
    _mm512_store_pd(mean, block_moments[block].mean);
    _mm512_store_pd(m2, block_moments[block].m2);
    const std::int32_t o = block * kPixelChannels;
    for (std::int32_t j = 0; j < min_of(kPixelChannels, p.out_c - o); ++j)
      merge_moments(epilogue.moments[o + j], {block_moments[block].count, mean[j], m2[j]});
  }
}

}  // namespace
}  // namespace lsuv::kernels::simd
