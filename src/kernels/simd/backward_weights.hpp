// Conv2d and linear weight gradients as one GEMM over pixels: grad_w[k][o] = sum over output
// pixels p of patch[p][k] * grad_output[p][o], where k runs over the weights' [kh][kw][in]
// rows. A register tile is Rows consecutive k (channels of one tap, or with one group and no
// horizontal dilation the kernel_w * in_c floats of one kernel row, which lie side by side in
// the input as in the weights) by one or two vectors of o; each pixel adds Rows broadcasts of
// its patch times its grad_output vectors. Images go one at a time through the caller's scratch:
// a zero-padded copy of the image, so no tap needs a bounds check (a tile skips the output rows
// and columns whose taps all fall in the padding, as the reference skips them), and, when out_c
// is not a whole number of vectors, the image's grad_output with its rows padded to whole
// vectors. The tiles' sums collect in grad_w from image to image (L2-resident: K x N floats).
// Runs shorter than a tile (a first layer's few channels: 5 floats a kernel row for the seed's
// conv1) would leave most of the tile idle; there a tile's rows gather k from the whole kernel
// through an offset each, over every output pixel (the padding reads zeros). On AVX-512, out_c
// up to 16 is one vector or less: there the tiles are 8-wide AVX2 vectors in the 32-register file,
// which keeps the broadcasts (one load each) below the FMAs.
//
// Included only by backward_impl.hpp (per-ISA TUs); internal linkage throughout.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/backward_params.hpp"
#include "kernels/params.hpp"
#include "kernels/simd/fmadd.hpp"
#include "kernels/simd/igemm.hpp"
#include "kernels/simd/narrow_arch.hpp"
#include "kernels/simd/sizes.hpp"
#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {
namespace {

// Tile rows (k) for one and two vectors of o: with 32 registers 24 x 1 or 12 x 2 accumulators,
// with 16 registers 12 x 1 or 6 x 2.
template <class Arch>
struct WeightTile {
  static constexpr std::int32_t kRows1 = TileShape<Arch>::kWideFile ? 24 : 12;
  static constexpr std::int32_t kRows2 = TileShape<Arch>::kWideFile ? 12 : 6;
};
// The vectors of a weight-gradient call: the level's own, or on AVX-512 AVX2's for out_c <= 16.
template <class Arch>
constexpr bool weight_grad_narrow(const Conv2dParams& p) {
  return !std::is_same<typename NarrowArch<Arch>::type, Arch>::value && p.out_c <= 16;
}

// Floats a tile may read past the last patch float it uses (rows past the run, never stored).
constexpr std::int32_t kPatchSlack = 32;

// How one weight-gradient call is cut up, and where its scratch pieces live.
struct WeightGradLayout {
  bool row_runs;      // a run is a kernel row (kernel_w * in_c floats), else one tap
  std::int32_t run;   // K floats per run
  std::int32_t runs;  // runs per kernel
  std::int32_t padded_h, padded_w;
  std::int32_t ld;     // floats per grad_output row as the tiles read it
  bool pack_gradient;  // out_c is not whole vectors: rows are copied with zero columns
  std::size_t image, gradient, bytes;
};

// The SIMD path covers one group (the others run the reference).
constexpr bool weight_grad_applies(const Conv2dParams& p) {
  return p.groups == 1;
}

template <class Arch>
WeightGradLayout weight_grad_layout(const Conv2dParams& p) {
  const std::int32_t W = weight_grad_narrow<Arch>(p)
                             ? TileShape<typename NarrowArch<Arch>::type>::kWidth
                             : TileShape<Arch>::kWidth;
  WeightGradLayout l{};
  l.row_runs = p.dilation_w == 1;
  l.run = l.row_runs ? p.kernel_w * p.in_c : p.in_c;
  l.runs = l.row_runs ? p.kernel_h : p.kernel_h * p.kernel_w;
  l.padded_h = p.in_h + 2 * p.pad_h;
  l.padded_w = p.in_w + 2 * p.pad_w;
  l.ld = (p.out_c + W - 1) / W * W;
  l.pack_gradient = l.ld != p.out_c;
  std::size_t at = 0;
  l.image = at;
  at += align_up((static_cast<std::size_t>(l.padded_h) * l.padded_w * p.in_c + kPatchSlack) *
                 sizeof(float));
  l.gradient = at;
  if (l.pack_gradient)
    at += align_up(static_cast<std::size_t>(p.out_h) * p.out_w * l.ld * sizeof(float));
  l.bytes = at;
  return l;
}

// ceil(a / b) for b > 0 and any a.
constexpr std::int32_t ceil_div(std::int32_t a, std::int32_t b) {
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

// Output positions [lo, hi) along one axis whose taps kx in [k_first, k_last] reach at least one
// input position inside [0, in): out * stride - pad + k * dilation.
struct Range {
  std::int32_t lo, hi;
};
constexpr Range reaching(std::int32_t in, std::int32_t out, std::int32_t stride, std::int32_t pad,
                         std::int32_t dilation, std::int32_t k_first, std::int32_t k_last) {
  const std::int32_t lo = ceil_div(pad - k_last * dilation, stride);
  const std::int32_t top = in - 1 + pad - k_first * dilation;
  const std::int32_t hi = top < 0 ? 0 : top / stride + 1;
  return {max_of(lo, 0), min_of(hi, out)};
}

// One tile: grad_w rows [0, rows) x columns [0, cols) at `out` (row stride out_c) += the sums over
// output rows oy in [ys.lo, ys.hi) and columns [xs.lo, xs.hi) of patch (from `patch`, the tile's
// first float at output pixel (0, 0); pixel steps of x_step floats, output rows of y_step; row r
// at patch + r, or at patch + offsets[r] when gathering) times the grad_output vectors
// (`gradient` at pixel (0, 0), ld floats per pixel, out_w pixels a row).
template <class Arch, std::int32_t Rows, std::int32_t Vectors>
__attribute__((noinline)) void weight_grad_tile(const float* patch, const std::int32_t* offsets,
                                                std::size_t x_step, std::size_t y_step,
                                                const float* gradient, std::int32_t ld,
                                                std::int32_t out_w, Range ys, Range xs, float* out,
                                                std::int32_t out_c, std::int32_t rows,
                                                std::int32_t cols) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  constexpr std::int32_t NR = W * Vectors;
  B acc[Rows][Vectors];
  for (std::int32_t r = 0; r < Rows; ++r)
    for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v] = B(0.0f);
  for (std::int32_t oy = ys.lo; oy < ys.hi; ++oy) {
    const float* x = patch + oy * y_step + xs.lo * x_step;
    const float* g = gradient + (static_cast<std::size_t>(oy) * out_w + xs.lo) * ld;
    for (std::int32_t ox = xs.lo; ox < xs.hi; ++ox) {
      B gv[Vectors];
      for (std::int32_t v = 0; v < Vectors; ++v) gv[v] = B::load_unaligned(g + v * W);
      for (std::int32_t r = 0; r < Rows; ++r) {
        const B xv(offsets != nullptr ? x[offsets[r]] : x[r]);
        for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v] = fmadd(xv, gv[v], acc[r][v]);
      }
      x += x_step;
      g += ld;
    }
  }
  alignas(64) float edge[NR];
  for (std::int32_t r = 0; r < rows; ++r) {
    float* row = out + static_cast<std::size_t>(r) * out_c;
    if (cols == NR) {
      for (std::int32_t v = 0; v < Vectors; ++v)
        (B::load_unaligned(row + v * W) + acc[r][v]).store_unaligned(row + v * W);
    } else {
      for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v].store_aligned(edge + v * W);
      for (std::int32_t j = 0; j < cols; ++j) row[j] += edge[j];
    }
  }
}

// The call with tiles of Arch's row counts over BArch's vectors (weight_grad_layout's choice).
template <class Arch, class BArch>
void weight_grad_run(const Conv2dParams& p, const float* input, const float* grad_output,
                     float* grad_weights, GradWrite mode, void* scratch) {
  constexpr std::int32_t W = TileShape<BArch>::kWidth;
  constexpr std::int32_t R1 = WeightTile<Arch>::kRows1;
  constexpr std::int32_t R2 = WeightTile<Arch>::kRows2;
  assert(weight_grad_applies(p));
  assert(scratch != nullptr && reinterpret_cast<std::uintptr_t>(scratch) % kScratchAlignment == 0);
  const WeightGradLayout l = weight_grad_layout<Arch>(p);
  assert(l.ld % W == 0);
  const std::size_t k_rows = static_cast<std::size_t>(p.kernel_h) * p.kernel_w * p.in_c;
  if (mode == GradWrite::assign)
    std::memset(grad_weights, 0, k_rows * static_cast<std::size_t>(p.out_c) * sizeof(float));
  unsigned char* base = static_cast<unsigned char*>(scratch);
  float* image = reinterpret_cast<float*>(base + l.image);
  float* packed = reinterpret_cast<float*>(base + l.gradient);
  const std::size_t C = static_cast<std::size_t>(p.in_c);
  const std::size_t image_floats = static_cast<std::size_t>(l.padded_h) * l.padded_w * C;
  // The padding and the slack stay zero; each image overwrites the interior only.
  std::memset(image, 0, (image_floats + kPatchSlack) * sizeof(float));
  const std::size_t pixels = static_cast<std::size_t>(p.out_h) * p.out_w;
  if (l.pack_gradient) std::memset(packed, 0, pixels * l.ld * sizeof(float));
  const std::size_t x_step = static_cast<std::size_t>(p.stride_w) * C;
  const std::size_t y_step = static_cast<std::size_t>(p.stride_h) * l.padded_w * C;
  const std::int32_t vectors = l.ld / W;
  // Two-vector tiles over the column pairs, then a one-vector tile for an odd vector, over the
  // same rows: a K block is the shorter two-vector tile's rows when there is one.
  const std::int32_t step = vectors >= 2 ? R2 : R1;
  const bool gather = l.run < step;
  const Range all_y = {0, p.out_h}, all_x = {0, p.out_w};
  constexpr std::int32_t kMaxRows = R1 > R2 ? R1 : R2;
  std::int32_t offsets[kMaxRows];
  // Tiles of rows [k0, k0 + rows) of grad_w reading from `window` (+ offsets when gathering).
  const auto tiles = [&](const float* window, const std::int32_t* offs, std::size_t k0,
                         std::int32_t rows, Range ys, Range xs, const float* gradient) {
    float* rows_out = grad_weights + k0 * p.out_c;
    std::int32_t v = 0;
    for (; v + 2 <= vectors; v += 2)
      weight_grad_tile<BArch, R2, 2>(window, offs, x_step, y_step, gradient + v * W, l.ld, p.out_w,
                                     ys, xs, rows_out + v * W, p.out_c, rows,
                                     min_of(2 * W, p.out_c - v * W));
    if (v < vectors) {
      // The one-vector tile is taller: it covers the rows in R1 pieces.
      for (std::int32_t r0 = 0; r0 < rows; r0 += R1)
        weight_grad_tile<BArch, R1, 1>(offs != nullptr ? window : window + r0,
                                       offs != nullptr ? offs + r0 : nullptr, x_step, y_step,
                                       gradient + v * W, l.ld, p.out_w, ys, xs,
                                       rows_out + static_cast<std::size_t>(r0) * p.out_c + v * W,
                                       p.out_c, min_of(R1, rows - r0), p.out_c - v * W);
    }
  };
  for (std::int32_t n = 0; n < p.batch; ++n) {
    const float* in = input + static_cast<std::size_t>(n) * p.in_h * p.in_w * C;
    for (std::int32_t y = 0; y < p.in_h; ++y)
      std::memcpy(image + ((static_cast<std::size_t>(y) + p.pad_h) * l.padded_w + p.pad_w) * C,
                  in + static_cast<std::size_t>(y) * p.in_w * C, p.in_w * C * sizeof(float));
    const float* gradient = grad_output + static_cast<std::size_t>(n) * pixels * p.out_c;
    if (l.pack_gradient) {
      for (std::size_t q = 0; q < pixels; ++q)
        std::memcpy(packed + q * l.ld, gradient + q * p.out_c, p.out_c * sizeof(float));
      gradient = packed;
    }
    if (gather) {
      // Row k of grad_w is tap (ky, kx), channel c: its offset from the window's first float.
      for (std::size_t k0 = 0; k0 < k_rows; k0 += step) {
        const std::int32_t rows = static_cast<std::int32_t>(min_of<std::size_t>(step, k_rows - k0));
        // Every entry a tile may read (rows past `rows` repeat row k0, never stored).
        for (std::int32_t r = 0; r < kMaxRows; ++r) {
          const std::int32_t k = static_cast<std::int32_t>(k0) + (r < rows ? r : 0);
          const std::int32_t tap = k / p.in_c;
          const std::int32_t ky = tap / p.kernel_w, kx = tap % p.kernel_w;
          offsets[r] = (ky * p.dilation_h * l.padded_w + kx * p.dilation_w) * p.in_c + k % p.in_c;
        }
        tiles(image, offsets, k0, rows, all_y, all_x, gradient);
      }
      continue;
    }
    for (std::int32_t u = 0; u < l.runs; ++u) {
      const std::int32_t ky = l.row_runs ? u : u / p.kernel_w;
      const std::int32_t kx0 = l.row_runs ? 0 : u % p.kernel_w;
      const Range ys = reaching(p.in_h, p.out_h, p.stride_h, p.pad_h, p.dilation_h, ky, ky);
      if (ys.lo >= ys.hi) continue;
      const float* window = image + (static_cast<std::size_t>(ky) * p.dilation_h * l.padded_w +
                                     static_cast<std::size_t>(kx0) * p.dilation_w) *
                                        C;
      for (std::int32_t j0 = 0; j0 < l.run; j0 += step) {
        const std::int32_t rows = min_of(step, l.run - j0);
        const std::int32_t kx_first = l.row_runs ? j0 / p.in_c : kx0;
        const std::int32_t kx_last =
            l.row_runs ? min_of(p.kernel_w - 1, (j0 + rows - 1) / p.in_c) : kx0;
        const Range xs =
            reaching(p.in_w, p.out_w, p.stride_w, p.pad_w, p.dilation_w, kx_first, kx_last);
        if (xs.lo < xs.hi)
          tiles(window + j0, nullptr, static_cast<std::size_t>(u) * l.run + j0, rows, ys, xs,
                gradient);
      }
    }
  }
}

template <class Arch>
void conv2d_weight_grad(const Conv2dParams& p, const float* input, const float* grad_output,
                        float* grad_weights, GradWrite mode, void* scratch) {
  using Narrow = typename NarrowArch<Arch>::type;
  // No output pixel (a linear layer's batch 0, whose tensors may be null): the gradient is an
  // empty sum, stored as the reference stores it.
  if (p.batch <= 0 || p.out_h <= 0 || p.out_w <= 0) {
    if (mode == GradWrite::assign) {
      const std::size_t n =
          static_cast<std::size_t>(p.kernel_h) * p.kernel_w * (p.in_c / p.groups) * p.out_c;
      for (std::size_t i = 0; i < n; ++i) grad_weights[i] = 0.0f;
    }
    return;
  }
  if (weight_grad_narrow<Arch>(p)) {
    // Gathering tiles load an offset and a broadcast per row: 16-register rows keep them in
    // step with the FMAs (the seed's conv1 runs 3x faster so).
    const WeightGradLayout l = weight_grad_layout<Arch>(p);
    const std::int32_t step =
        l.ld / TileShape<Narrow>::kWidth >= 2 ? WeightTile<Arch>::kRows2 : WeightTile<Arch>::kRows1;
    if (l.run < step)
      return weight_grad_run<Narrow, Narrow>(p, input, grad_output, grad_weights, mode, scratch);
    return weight_grad_run<Arch, Narrow>(p, input, grad_output, grad_weights, mode, scratch);
  }
  weight_grad_run<Arch, Arch>(p, input, grad_output, grad_weights, mode, scratch);
}

// A linear layer's weight gradient is a 1x1 convolution's over one image of batch pixels.
constexpr Conv2dParams linear_as_image(const LinearParams& p) {
  return {1, 1, p.batch, p.in_features, 1, p.batch, p.out_features, 1, 1, 1, 1, 0, 0, 1, 1, 1};
}

}  // namespace
}  // namespace lsuv::kernels::simd
