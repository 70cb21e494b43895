// Convolution and linear layers as one indirect GEMM (XNNPACK's igemm): output rows are pixels
// (batch x out_h x out_w), columns are output channels, and the reduction runs over the kernel
// taps, each tap one contiguous run of input channels reached through a pointer (or a zero
// buffer where the tap falls into padding). Weights stay in the model's [kh][kw][in][out]
// layout; each call packs the columns it works on into cache-resident panels, which costs
// K x N copies against M x K x N multiply-adds.
//
// Included only by f32_kernels_impl.hpp (per-ISA TUs). Everything here has internal linkage, so
// no instance compiled with one ISA's flags can be picked by the linker for another.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/params.hpp"
#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {
namespace {

// The longest run of channels one tap contributes to a K block; also the zero buffer's length.
constexpr std::int32_t kMaxSegment = 512;
// Reduction length of one K block (whole taps of up to kMaxSegment channels).
constexpr std::int32_t kMaxBlockK = 512;
constexpr std::int32_t kMaxBlockTaps = 64;
// Packed weight floats per call (64 KiB on the stack): K block x the columns of an N block.
constexpr std::int32_t kPanelFloats = 16384;

alignas(64) const float kZeros[kMaxSegment] = {};

template <class T>
constexpr T min_of(T a, T b) {
  return a < b ? a : b;
}
template <class T>
constexpr T max_of(T a, T b) {
  return a < b ? b : a;
}

// Register tiles. With 16 vector registers (SSE2, AVX2, ARMv7 NEON): 6 rows x 2 vectors (12
// accumulators) or 12 rows x 1 vector; with 32 (AVX-512, AArch64) 8 x 2 or 16 x 1, leaving
// general registers for the row pointers.
template <class Arch>
struct TileShape {
  static constexpr bool kWideFile =
      std::is_base_of<xsimd::avx512f, Arch>::value || std::is_same<Arch, xsimd::neon64>::value;
  static constexpr std::int32_t kWidth = static_cast<std::int32_t>(xsimd::batch<float, Arch>::size);
  static constexpr std::int32_t kRows2 = kWideFile ? 8 : 6;    // rows of the 2-vector tile
  static constexpr std::int32_t kRows1 = kWideFile ? 16 : 12;  // rows of the 1-vector tile
  static constexpr std::int32_t kMaxRows = kRows1;
};

// One register tile: rows x (vectors * W) outputs over `taps` runs of `length` channels.
// ptrs[t * Rows + r] is row r's run for tap t; panel holds taps * length rows of Vectors * W
// packed weights. Rows >= rows and columns >= cols are computed but never stored.
template <class Arch, std::int32_t Rows, std::int32_t Vectors>
void igemm_tile(std::int32_t taps, std::int32_t length, const float* const* ptrs,
                const float* panel, const float* bias, bool accumulate, float* c, std::size_t ldc,
                std::int32_t rows, std::int32_t cols) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  constexpr std::int32_t NR = W * Vectors;
  B acc[Rows][Vectors];
  alignas(64) float edge[NR];
  if (accumulate) {
    for (std::int32_t r = 0; r < Rows; ++r) {
      const float* row = c + static_cast<std::size_t>(r < rows ? r : 0) * ldc;
      if (cols == NR) {
        for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v] = B::load_unaligned(row + v * W);
      } else {
        for (std::int32_t j = 0; j < NR; ++j) edge[j] = j < cols ? row[j] : 0.0f;
        for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v] = B::load_aligned(edge + v * W);
      }
    }
  } else {
    for (std::int32_t j = 0; j < NR; ++j) edge[j] = (bias != nullptr && j < cols) ? bias[j] : 0.0f;
    for (std::int32_t v = 0; v < Vectors; ++v) {
      const B b = B::load_aligned(edge + v * W);
      for (std::int32_t r = 0; r < Rows; ++r) acc[r][v] = b;
    }
  }
  const float* w = panel;
  for (std::int32_t t = 0; t < taps; ++t) {
    const float* a[Rows];
    for (std::int32_t r = 0; r < Rows; ++r) a[r] = ptrs[t * Rows + r];
    for (std::int32_t k = 0; k < length; ++k) {
      B wv[Vectors];
      for (std::int32_t v = 0; v < Vectors; ++v) wv[v] = B::load_aligned(w + v * W);
      w += NR;
      for (std::int32_t r = 0; r < Rows; ++r) {
        const B x(a[r][k]);
        for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v] = xsimd::fma(x, wv[v], acc[r][v]);
      }
    }
  }
  for (std::int32_t r = 0; r < rows; ++r) {
    float* row = c + static_cast<std::size_t>(r) * ldc;
    if (cols == NR) {
      for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v].store_unaligned(row + v * W);
    } else {
      for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v].store_aligned(edge + v * W);
      for (std::int32_t j = 0; j < cols; ++j) row[j] = edge[j];
    }
  }
}

// The geometry of one convolution group, flattened into the GEMM's terms.
struct IgemmProblem {
  const Conv2dParams* p;
  const float* input;
  std::int32_t rows;         // batch * out_h * out_w
  std::int32_t channel_off;  // first input channel of the group and K block
  std::int32_t first_tap;    // taps [first_tap, first_tap + taps) of kernel_h * kernel_w
  std::int32_t taps;
};

// Pointers to each tap's input run for output rows [m0, m0 + Rows); rows past the end repeat
// the last row so the tile reads valid memory.
template <std::int32_t Rows>
void build_row_pointers(const IgemmProblem& q, std::int32_t m0, const float** ptrs) {
  const Conv2dParams& p = *q.p;
  const std::int32_t plane = p.out_h * p.out_w;
  for (std::int32_t r = 0; r < Rows; ++r) {
    const std::int32_t m = min_of(m0 + r, q.rows - 1);
    const std::int32_t n = m / plane;
    const std::int32_t oy = (m % plane) / p.out_w;
    const std::int32_t ox = m % p.out_w;
    const std::int32_t y0 = oy * p.stride_h - p.pad_h;
    const std::int32_t x0 = ox * p.stride_w - p.pad_w;
    const float* image = q.input + static_cast<std::size_t>(n) * p.in_h * p.in_w * p.in_c;
    for (std::int32_t t = 0; t < q.taps; ++t) {
      const std::int32_t tap = q.first_tap + t;
      const std::int32_t iy = y0 + (tap / p.kernel_w) * p.dilation_h;
      const std::int32_t ix = x0 + (tap % p.kernel_w) * p.dilation_w;
      const bool inside = iy >= 0 && iy < p.in_h && ix >= 0 && ix < p.in_w;
      ptrs[t * Rows + r] =
          inside ? image + (static_cast<std::size_t>(iy) * p.in_w + ix) * p.in_c + q.channel_off
                 : kZeros;
    }
  }
}

// Copies weight rows of the K block into a panel of `stride`-float rows, zero past `cols`.
void pack_panel(const Conv2dParams& p, const float* weights, std::int32_t first_tap,
                std::int32_t taps, std::int32_t channel_off, std::int32_t length, std::int32_t col0,
                std::int32_t cols, std::int32_t stride, float* panel) {
  const std::int32_t group_in = p.in_c / p.groups;
  for (std::int32_t t = 0; t < taps; ++t) {
    for (std::int32_t k = 0; k < length; ++k) {
      const float* src =
          weights +
          (static_cast<std::size_t>(first_tap + t) * group_in + channel_off + k) * p.out_c + col0;
      float* dst = panel + (static_cast<std::size_t>(t) * length + k) * stride;
      for (std::int32_t j = 0; j < cols; ++j) dst[j] = src[j];
      for (std::int32_t j = cols; j < stride; ++j) dst[j] = 0.0f;
    }
  }
}

// Runs tiles of `Rows` x `Vectors` over all rows for the panels [tile0, tile1) of an N block.
template <class Arch, std::int32_t Rows, std::int32_t Vectors>
void igemm_columns(const IgemmProblem& q, std::int32_t length, const float* panels,
                   std::int32_t panel_floats, std::int32_t col0, std::int32_t cols,
                   const float* bias, bool accumulate, float* output) {
  constexpr std::int32_t NR = TileShape<Arch>::kWidth * Vectors;
  const Conv2dParams& p = *q.p;
  const float* ptrs[kMaxBlockTaps * Rows];
  const std::int32_t tiles = (cols + NR - 1) / NR;
  for (std::int32_t m0 = 0; m0 < q.rows; m0 += Rows) {
    build_row_pointers<Rows>(q, m0, ptrs);
    const std::int32_t rows = min_of(Rows, q.rows - m0);
    float* c = output + static_cast<std::size_t>(m0) * p.out_c + col0;
    for (std::int32_t j = 0; j < tiles; ++j) {
      const std::int32_t tile_cols = min_of(NR, cols - j * NR);
      igemm_tile<Arch, Rows, Vectors>(q.taps, length, ptrs, panels + j * panel_floats,
                                      bias != nullptr ? bias + j * NR : nullptr, accumulate,
                                      c + j * NR, static_cast<std::size_t>(p.out_c), rows,
                                      tile_cols);
    }
  }
}

template <class Arch>
void conv2d_igemm(const Conv2dParams& p, const float* input, const float* weights,
                  const float* bias, float* output) {
  using Shape = TileShape<Arch>;
  constexpr std::int32_t W = Shape::kWidth;
  constexpr std::int32_t NR = 2 * W;
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  const std::int32_t kernel_taps = p.kernel_h * p.kernel_w;
  const std::int32_t segment = min_of(group_in, kMaxSegment);
  const std::int32_t block_taps =
      group_in > kMaxSegment ? 1 : max_of(1, min_of(kMaxBlockK / group_in, kMaxBlockTaps));
  alignas(64) float panels[kPanelFloats];
  IgemmProblem q = {&p, input, p.batch * p.out_h * p.out_w, 0, 0, 0};
  for (std::int32_t g = 0; g < p.groups; ++g) {
    for (std::int32_t c0 = 0; c0 < group_in; c0 += segment) {
      const std::int32_t length = min_of(segment, group_in - c0);
      for (std::int32_t t0 = 0; t0 < kernel_taps; t0 += block_taps) {
        q.first_tap = t0;
        q.taps = min_of(block_taps, kernel_taps - t0);
        q.channel_off = g * group_in + c0;
        const bool accumulate = c0 > 0 || t0 > 0;
        const std::int32_t block_k = q.taps * length;
        const std::int32_t panel_floats = block_k * NR;
        // Columns per N block: as many whole panels as fit, at least one.
        const std::int32_t block_cols = max_of(NR, (kPanelFloats / panel_floats) * NR);
        for (std::int32_t n0 = 0; n0 < group_out; n0 += block_cols) {
          const std::int32_t cols = min_of(block_cols, group_out - n0);
          const std::int32_t col0 = g * group_out + n0;
          // Whole 2-vector panels, then a last panel of at most one vector gets the taller
          // 1-vector tile (a last panel wider than one vector stays 2-vector, partly stored).
          const std::int32_t rest = cols % NR;
          const std::int32_t wide_cols = (rest > 0 && rest <= W) ? cols - rest : cols;
          const std::int32_t wide_tiles = (wide_cols + NR - 1) / NR;
          for (std::int32_t j = 0; j < wide_tiles; ++j)
            pack_panel(p, weights, t0, q.taps, c0, length, col0 + j * NR,
                       min_of(NR, wide_cols - j * NR), NR, panels + j * panel_floats);
          const float* col_bias = (bias != nullptr && !accumulate) ? bias + col0 : nullptr;
          if (wide_cols > 0)
            igemm_columns<Arch, Shape::kRows2, 2>(q, length, panels, panel_floats, col0, wide_cols,
                                                  col_bias, accumulate, output);
          if (wide_cols < cols) {
            float* narrow = panels + wide_tiles * panel_floats;
            pack_panel(p, weights, t0, q.taps, c0, length, col0 + wide_cols, rest, W, narrow);
            igemm_columns<Arch, Shape::kRows1, 1>(
                q, length, narrow, block_k * W, col0 + wide_cols, rest,
                col_bias != nullptr ? col_bias + wide_cols : nullptr, accumulate, output);
          }
        }
      }
    }
  }
}

// Depthwise with one output per input channel: every tap is an elementwise multiply-add over
// the channels, so it vectorises over C directly with no packing.
template <class Arch>
void conv2d_depthwise(const Conv2dParams& p, const float* input, const float* weights,
                      const float* bias, float* output) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  const std::int32_t C = p.in_c;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    const float* image = input + static_cast<std::size_t>(n) * p.in_h * p.in_w * C;
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        float* out = output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * C;
        const std::int32_t y0 = oy * p.stride_h - p.pad_h;
        const std::int32_t x0 = ox * p.stride_w - p.pad_w;
        std::int32_t c = 0;
        for (; c + W <= C; c += W) {
          B acc = bias != nullptr ? B::load_unaligned(bias + c) : B(0.0f);
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const std::int32_t iy = y0 + ky * p.dilation_h;
            if (iy < 0 || iy >= p.in_h) continue;
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t ix = x0 + kx * p.dilation_w;
              if (ix < 0 || ix >= p.in_w) continue;
              const B x =
                  B::load_unaligned(image + (static_cast<std::size_t>(iy) * p.in_w + ix) * C + c);
              const B w = B::load_unaligned(weights +
                                            static_cast<std::size_t>(ky * p.kernel_w + kx) * C + c);
              acc = xsimd::fma(x, w, acc);
            }
          }
          acc.store_unaligned(out + c);
        }
        for (; c < C; ++c) {
          float acc = bias != nullptr ? bias[c] : 0.0f;
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const std::int32_t iy = y0 + ky * p.dilation_h;
            if (iy < 0 || iy >= p.in_h) continue;
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t ix = x0 + kx * p.dilation_w;
              if (ix < 0 || ix >= p.in_w) continue;
              acc += image[(static_cast<std::size_t>(iy) * p.in_w + ix) * C + c] *
                     weights[static_cast<std::size_t>(ky * p.kernel_w + kx) * C + c];
            }
          }
          out[c] = acc;
        }
      }
    }
  }
}

}  // namespace
}  // namespace lsuv::kernels::simd
