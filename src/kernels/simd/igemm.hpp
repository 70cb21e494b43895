// Convolution and linear layers as one indirect GEMM (XNNPACK's igemm): output rows are pixels
// (batch x out_h x out_w), columns are output channels, and the reduction runs over the kernel
// taps, each tap one contiguous run of input channels reached through a pointer (or a zero
// buffer where the tap falls into padding; a tap in the padding for every row of a tile is
// skipped, as the reference skips it). Weights stay in the model's [kh][kw][in][out]
// layout; each call packs the columns it works on into cache-resident panels, which costs
// K x N copies against M x K x N multiply-adds. The panels, the tiles' row pointers and the
// moments' running sums live in the caller's scratch (igemm_scratch_bytes), not on the stack: a
// Cortex-M board has a few KB of stack, and the plan then counts every byte.
//
// Included only by f32_kernels_impl.hpp (per-ISA TUs). Everything here has internal linkage, so
// no instance compiled with one ISA's flags can be picked by the linker for another.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "kernels/backward_params.hpp"
#include "kernels/params.hpp"
#include "kernels/reference.hpp"
#include "kernels/simd/elementwise.hpp"
#include "kernels/simd/fmadd.hpp"
#include "kernels/simd/sizes.hpp"
#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {
namespace {

// The longest run of channels one tap contributes to a K block; also the zero buffer's length.
constexpr std::int32_t kMaxSegment = 512;
constexpr std::int32_t kMaxBlockTaps = 64;
// Packed weight floats per call at most (64 KiB of scratch): K block x the columns of an N block.
constexpr std::int32_t kPanelFloats = 16384;
// Reduction length of one K block (whole taps of up to kMaxSegment channels): one panel fills
// the buffer, so a 3x3 conv over up to 113 channels (AVX2) is one K block and its tiles load and
// store the output once.
template <std::int32_t NR>
constexpr std::int32_t kMaxBlockK = kPanelFloats / NR;
static_assert(kMaxSegment <= kPanelFloats / 32, "a segment fits a panel of the widest tile");

alignas(64) const float kZeros[kMaxSegment] = {};

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

// The epilogue of one tile (F32Epilogue, applied only on the last K block). moments, when
// not null, holds the tile's running block sums: shift, sum and sum of squares, NR floats each;
// first says the tile's rows open a new block (the shift is taken from its first row). gate,
// when not null, is the tile's first element of a ClampGate's output (rows ldc apart) and
// gate_lo, gate_hi its bounds (a backward kernel's).
struct TileStage {
  bool clamp;
  float lo, hi;
  float* moments;
  bool first;
  const float* gate;
  float gate_lo, gate_hi;
};

// One register tile: rows x (vectors * W) outputs over `taps` runs of `length` channels.
// ptrs[t * Rows + r] is row r's run for tap t; panel holds taps * length rows of Vectors * W
// packed weights. Rows >= rows and columns >= cols are computed but never stored (nor counted
// in the moments).
template <class Arch, std::int32_t Rows, std::int32_t Vectors>
void igemm_tile(std::int32_t taps, std::int32_t length, const float* const* ptrs,
                const float* panel, const float* bias, bool accumulate, float* c, std::size_t ldc,
                std::int32_t rows, std::int32_t cols, const TileStage& stage) {
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
    // Whole tiles load the bias directly: a vector load of scalar stores would stall on store
    // forwarding.
    const bool whole = bias == nullptr || cols == NR;
    if (!whole)
      for (std::int32_t j = 0; j < NR; ++j) edge[j] = j < cols ? bias[j] : 0.0f;
    for (std::int32_t v = 0; v < Vectors; ++v) {
      const B b = bias == nullptr ? B(0.0f)
                  : whole         ? B::load_unaligned(bias + v * W)
                                  : B::load_aligned(edge + v * W);
      for (std::int32_t r = 0; r < Rows; ++r) acc[r][v] = b;
    }
  }
  const float* w = panel;
  for (std::int32_t t = 0; t < taps; ++t) {
    const float* a[Rows];
    bool padding = true;
    for (std::int32_t r = 0; r < Rows; ++r) {
      a[r] = ptrs[t * Rows + r];
      padding = padding && a[r] == kZeros;
    }
    // A tap in the padding for every row of the tile (rows of a border output line) adds only
    // zeros; the reference skips such taps too.
    if (padding) {
      w += static_cast<std::ptrdiff_t>(length) * NR;
      continue;
    }
    for (std::int32_t k = 0; k < length; ++k) {
      B wv[Vectors];
      for (std::int32_t v = 0; v < Vectors; ++v) wv[v] = B::load_aligned(w + v * W);
      w += NR;
      for (std::int32_t r = 0; r < Rows; ++r) {
        const B x(a[r][k]);
        for (std::int32_t v = 0; v < Vectors; ++v) acc[r][v] = fmadd(x, wv[v], acc[r][v]);
      }
    }
  }
  if (stage.moments != nullptr) {
    float* shift_sums = stage.moments;
    for (std::int32_t v = 0; v < Vectors; ++v) {
      const B shift = stage.first ? acc[0][v] : B::load_unaligned(shift_sums + v * W);
      // Two chains each over alternate rows, so the tile's sums take half the adds' latency.
      B sum[2] = {stage.first ? B(0.0f) : B::load_unaligned(shift_sums + NR + v * W), B(0.0f)};
      B squares[2] = {stage.first ? B(0.0f) : B::load_unaligned(shift_sums + 2 * NR + v * W),
                      B(0.0f)};
      for (std::int32_t r = 0; r < Rows; ++r) {
        if (r < rows) {
          const B d = acc[r][v] - shift;
          sum[r % 2] += d;
          squares[r % 2] = fmadd(d, d, squares[r % 2]);
        }
      }
      shift.store_unaligned(shift_sums + v * W);
      (sum[0] + sum[1]).store_unaligned(shift_sums + NR + v * W);
      (squares[0] + squares[1]).store_unaligned(shift_sums + 2 * NR + v * W);
    }
  }
  if (stage.clamp) {
    // select, not min/max: NaN stays NaN as in clamp_f32_ref. Each bound only when finite, so
    // ReLU costs one select per vector; for lo <= hi this is clamp_f32_ref's result.
    if (stage.lo > -std::numeric_limits<float>::infinity()) {
      const B lo(stage.lo);
      for (std::int32_t r = 0; r < Rows; ++r)
        for (std::int32_t v = 0; v < Vectors; ++v)
          acc[r][v] = xsimd::select(acc[r][v] < lo, lo, acc[r][v]);
    }
    if (stage.hi < std::numeric_limits<float>::infinity()) {
      const B hi(stage.hi);
      for (std::int32_t r = 0; r < Rows; ++r)
        for (std::int32_t v = 0; v < Vectors; ++v)
          acc[r][v] = xsimd::select(acc[r][v] > hi, hi, acc[r][v]);
    }
  }
  if (stage.gate != nullptr) {
    // gated() (backward_params.hpp): at or past a bound, so a NaN output passes.
    const B lo(stage.gate_lo), hi(stage.gate_hi), zero(0.0f);
    for (std::int32_t r = 0; r < Rows; ++r) {
      if (r >= rows) continue;
      const float* y = stage.gate + static_cast<std::size_t>(r) * ldc;
      if (cols != NR)
        for (std::int32_t j = 0; j < NR; ++j) edge[j] = j < cols ? y[j] : 0.0f;
      for (std::int32_t v = 0; v < Vectors; ++v) {
        const B yv = cols == NR ? B::load_unaligned(y + v * W) : B::load_aligned(edge + v * W);
        acc[r][v] = xsimd::select((yv <= lo) || (yv >= hi), zero, acc[r][v]);
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

// Row runs (the path for few input channels, e.g. a first layer over 1-4 channel images): with
// one group and no horizontal dilation, the kernel_w taps of one kernel row read one contiguous
// run of kernel_w * in_c input floats, in the weights' [kw][in] order, so a kernel row is one
// tap of that length. Rows whose window crosses the left or right edge get their runs gathered
// with zeros into a per-tile buffer.
constexpr std::int32_t kMaxRunFloats = 32;
constexpr std::int32_t kRunBlockK = 128;  // taps x run of one K block; also the gather length

// The geometry of one convolution group, flattened into the GEMM's terms.
struct IgemmProblem {
  const Conv2dParams* p;
  const float* input;
  std::int32_t rows;         // batch * out_h * out_w
  std::int32_t channel_off;  // first input channel of the group and K block
  std::int32_t first_tap;    // taps [first_tap, first_tap + taps) of the kernel
  std::int32_t taps;
  bool row_runs;     // taps are kernel rows (see kMaxRunFloats)
  std::int32_t run;  // row runs: kernel_w * in_c
  // Offsets of each tap of the block from the window's top-left input float, and its rows and
  // columns from the window's top-left pixel.
  std::size_t tap_offset[kMaxBlockTaps];
  std::int32_t tap_dy[kMaxBlockTaps];
  std::int32_t tap_dx[kMaxBlockTaps];
};

// An output row's pixel: image, y and x.
struct OutputPixel {
  std::int32_t n, oy, ox;
};

// Pointers to each tap's input run for output rows [m0, m0 + Rows), whose first pixel is *at;
// rows past the end repeat the last row so the tile reads valid memory. Leaves *at at row
// m0 + Rows when there is one. gather: Rows * kRunBlockK floats (row runs).
template <std::int32_t Rows>
void build_row_pointers(const IgemmProblem& q, std::int32_t m0, OutputPixel* at, const float** ptrs,
                        float* gather) {
  const Conv2dParams& p = *q.p;
  std::int32_t n = at->n;
  std::int32_t oy = at->oy;
  std::int32_t ox = at->ox;
  const std::int32_t span_h = (p.kernel_h - 1) * p.dilation_h;
  const std::int32_t span_w = (p.kernel_w - 1) * p.dilation_w;
  for (std::int32_t r = 0; r < Rows; ++r) {
    const std::int32_t y0 = oy * p.stride_h - p.pad_h;
    const std::int32_t x0 = ox * p.stride_w - p.pad_w;
    const float* image = q.input + static_cast<std::size_t>(n) * p.in_h * p.in_w * p.in_c;
    const bool inside_x = x0 >= 0 && x0 + span_w < p.in_w;
    if (inside_x && y0 >= 0 && y0 + span_h < p.in_h) {
      const float* base =
          image + (static_cast<std::size_t>(y0) * p.in_w + x0) * p.in_c + q.channel_off;
      for (std::int32_t t = 0; t < q.taps; ++t) ptrs[t * Rows + r] = base + q.tap_offset[t];
    } else if (q.row_runs) {
      for (std::int32_t t = 0; t < q.taps; ++t) {
        const std::int32_t iy = y0 + (q.first_tap + t) * p.dilation_h;
        const float* run = kZeros;
        if (iy >= 0 && iy < p.in_h) {
          const float* line = image + static_cast<std::size_t>(iy) * p.in_w * p.in_c;
          if (inside_x) {
            run = line + static_cast<std::size_t>(x0) * p.in_c;
          } else {
            // The run's floats inside the image are [begin, end); one select loop, since the
            // runs are a few floats and library copies would cost more than they move.
            float* dst = gather + (static_cast<std::size_t>(r) * q.taps + t) * q.run;
            const std::int32_t begin = max_of(0, -x0) * p.in_c;
            const std::int32_t end = min_of(p.kernel_w, p.in_w - x0) * p.in_c;
            const std::ptrdiff_t first = static_cast<std::ptrdiff_t>(x0) * p.in_c;
            for (std::int32_t j = 0; j < q.run; ++j)
              dst[j] = j >= begin && j < end ? line[first + j] : 0.0f;
            run = dst;
          }
        }
        ptrs[t * Rows + r] = run;
      }
    } else {
      // Window-relative offsets, so no tap needs a division; the pointer is formed only for taps
      // inside the image.
      const std::ptrdiff_t window =
          (static_cast<std::ptrdiff_t>(y0) * p.in_w + x0) * p.in_c + q.channel_off;
      for (std::int32_t t = 0; t < q.taps; ++t) {
        const std::int32_t iy = y0 + q.tap_dy[t];
        const std::int32_t ix = x0 + q.tap_dx[t];
        const bool inside = static_cast<std::uint32_t>(iy) < static_cast<std::uint32_t>(p.in_h) &&
                            static_cast<std::uint32_t>(ix) < static_cast<std::uint32_t>(p.in_w);
        ptrs[t * Rows + r] =
            inside ? image + (window + static_cast<std::ptrdiff_t>(q.tap_offset[t])) : kZeros;
      }
    }
    // Step to the next output pixel, except past the last row, which repeats.
    if (m0 + r + 1 < q.rows && ++ox == p.out_w) {
      ox = 0;
      if (++oy == p.out_h) {
        oy = 0;
        ++n;
      }
    }
  }
  *at = {n, oy, ox};
}

// Copies weight rows of the K block into a panel of `stride`-float rows (one or two vectors),
// zero past `cols`. tap_floats: K floats per tap in the weights (in_c / groups, or the run for
// row runs). Whole rows are vector copies: the panel is in scratch, which the compiler cannot
// tell apart from the weights, so a plain loop would not become a straight copy.
template <class Arch>
void pack_panel(const Conv2dParams& p, const float* weights, std::int32_t tap_floats,
                std::int32_t first_tap, std::int32_t taps, std::int32_t channel_off,
                std::int32_t length, std::int32_t col0, std::int32_t cols, std::int32_t stride,
                float* panel) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  for (std::int32_t t = 0; t < taps; ++t) {
    for (std::int32_t k = 0; k < length; ++k) {
      const float* src =
          weights +
          (static_cast<std::size_t>(first_tap + t) * tap_floats + channel_off + k) * p.out_c + col0;
      float* dst = panel + (static_cast<std::size_t>(t) * length + k) * stride;
      if (cols == stride) {
        for (std::int32_t j = 0; j < stride; j += W)
          B::load_unaligned(src + j).store_aligned(dst + j);
      } else {
        for (std::int32_t j = 0; j < cols; ++j) dst[j] = src[j];
        for (std::int32_t j = cols; j < stride; ++j) dst[j] = 0.0f;
      }
    }
  }
}

// Columns per N block when the epilogue accumulates moments (their running sums take scratch).
constexpr std::int32_t kMaxMomentColumns = 512;

// Every column's moments over the rows of one call so far, merged block by block; they reach the
// caller's ChannelMoments once per call. mean and m2: one double per column (scratch).
struct CallMoments {
  std::uint64_t count;
  double* mean;
  double* m2;
};

// The scratch of the columns of one N block: row pointers of every tap of a tile, the row-run
// gather buffer and the moments' running sums.
struct ColumnScratch {
  const float** ptrs;  // block taps x tile rows
  float* gather;       // tile rows x kRunBlockK (row runs only)
  float* moments;      // [tile][shift, sum, squares][NR] over the N block
  double* mean;        // one per column of the N block
  double* m2;
};

// The epilogue of the columns of one N block on the last K block: the clamp, the moments'
// destination for the block's first column (null for none), and a backward kernel's ClampGate
// over the whole output (null for none).
struct ColumnStage {
  bool clamp;
  float lo, hi;
  ChannelMoments* moments;
  const ClampGate* gate;
};

// Chan's merge of one block of `count` rows (tile sums laid out [tile][shift, sum, squares][NR])
// into the call's moments. All columns share both counts, so the weights are computed once and
// the per-column work is a few multiply-adds in double, with no division.
template <std::int32_t NR>
void merge_block_moments(const float* moments, std::int32_t tiles, double count,
                         CallMoments* call) {
  const double inv_count = 1.0 / count;
  const double before = static_cast<double>(call->count);
  const double total = before + count;
  const double weight = count / total;
  const double cross = before * count / total;
  const bool first = call->count == 0;
  for (std::int32_t t = 0; t < tiles; ++t) {
    const float* sums = moments + 3 * t * NR;
    double* mean = call->mean + t * NR;
    double* m2 = call->m2 + t * NR;
    for (std::int32_t j = 0; j < NR; ++j) {
      const double s1 = sums[NR + j];
      // Rounding can leave the block's M2 slightly negative; a NaN must stay NaN.
      const double block_m2_raw = static_cast<double>(sums[2 * NR + j]) - s1 * s1 * inv_count;
      const double block_m2 = block_m2_raw < 0.0 ? 0.0 : block_m2_raw;
      const double block_mean = static_cast<double>(sums[j]) + s1 * inv_count;
      if (first) {
        mean[j] = block_mean;
        m2[j] = block_m2;
      } else {
        const double delta = block_mean - mean[j];
        mean[j] += delta * weight;
        m2[j] += block_m2 + delta * delta * cross;
      }
    }
  }
  call->count += static_cast<std::uint64_t>(count);
}

// Runs tiles of `Rows` x `Vectors` over all rows for the panels [tile0, tile1) of an N block.
// Never inlined: the caller runs two tile shapes, and inlined their frames would add up in its
// own (over 4 KB with AVX-512's tiles); called once per N block, the call costs nothing.
template <class Arch, std::int32_t Rows, std::int32_t Vectors>
__attribute__((noinline)) void igemm_columns(const IgemmProblem& q, std::int32_t length,
                                             const float* panels, std::int32_t panel_floats,
                                             std::int32_t col0, std::int32_t cols,
                                             const float* bias, bool accumulate, float* output,
                                             const ColumnStage& stage,
                                             const ColumnScratch& scratch) {
  constexpr std::int32_t NR = TileShape<Arch>::kWidth * Vectors;
  const Conv2dParams& p = *q.p;
  const float** ptrs = scratch.ptrs;
  const std::int32_t tiles = (cols + NR - 1) / NR;
  // Shifted block sums of every column: [tile][shift, sum, squares][NR].
  float* moments = scratch.moments;
  const std::int32_t block_rows = max_of(1, kMomentBlockRows / Rows) * Rows;
  CallMoments call_moments = {0, scratch.mean, scratch.m2};
  OutputPixel at = {0, 0, 0};
  for (std::int32_t m0 = 0; m0 < q.rows; m0 += Rows) {
    build_row_pointers<Rows>(q, m0, &at, ptrs, scratch.gather);
    const std::int32_t rows = min_of(Rows, q.rows - m0);
    float* c = output + static_cast<std::size_t>(m0) * p.out_c + col0;
    const bool first = m0 % block_rows == 0;
    for (std::int32_t j = 0; j < tiles; ++j) {
      const std::int32_t tile_cols = min_of(NR, cols - j * NR);
      const TileStage tile_stage = {
          stage.clamp,
          stage.lo,
          stage.hi,
          stage.moments != nullptr ? moments + 3 * j * NR : nullptr,
          first,
          stage.gate != nullptr
              ? stage.gate->output + static_cast<std::size_t>(m0) * p.out_c + col0 + j * NR
              : nullptr,
          stage.gate != nullptr ? stage.gate->lo : 0.0f,
          stage.gate != nullptr ? stage.gate->hi : 0.0f};
      igemm_tile<Arch, Rows, Vectors>(q.taps, length, ptrs, panels + j * panel_floats,
                                      bias != nullptr ? bias + j * NR : nullptr, accumulate,
                                      c + j * NR, static_cast<std::size_t>(p.out_c), rows,
                                      tile_cols, tile_stage);
    }
    const std::int32_t end = m0 + rows;
    if (stage.moments != nullptr && (end % block_rows == 0 || end == q.rows))
      merge_block_moments<NR>(moments, tiles, static_cast<double>(end - (m0 - m0 % block_rows)),
                              &call_moments);
  }
  if (stage.moments != nullptr) {
    for (std::int32_t j = 0; j < cols; ++j)
      merge_moments(stage.moments[j],
                    {call_moments.count, call_moments.mean[j], call_moments.m2[j]});
  }
}

// Depthwise with one output per input channel runs conv2d_depthwise, with no scratch.
constexpr bool is_depthwise(const Conv2dParams& p) {
  return p.groups == p.in_c && p.out_c == p.in_c;
}

// A linear layer is a 1x1 convolution over a 1x1 image: rows are the batch, K the input features.
constexpr Conv2dParams linear_as_conv(const LinearParams& p) {
  return {p.batch, 1, 1, p.in_features, 1, 1, p.out_features, 1, 1, 1, 1, 0, 0, 1, 1, 1};
}

// How one convolution is cut into K blocks, and where each piece of its scratch lives: the
// kernel and its scratch query derive both from the parameters alone, so they always agree.
struct IgemmLayout {
  bool row_runs;             // taps are kernel rows (see kMaxRunFloats)
  std::int32_t tap_floats;   // K floats per tap in the weights
  std::int32_t kernel_taps;  // taps per kernel
  std::int32_t segment;      // channels of one tap in one K block at most
  std::int32_t block_taps;   // taps per K block at most
  // Byte offsets of the scratch pieces (each aligned to kScratchAlignment) and the total.
  std::size_t panels, ptrs, gather, moments, mean, m2, bytes;
};

template <class Arch>
IgemmLayout igemm_layout(const Conv2dParams& p) {
  using Shape = TileShape<Arch>;
  constexpr std::int32_t NR = 2 * Shape::kWidth;
  IgemmLayout l{};
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  l.row_runs =
      p.groups == 1 && p.dilation_w == 1 && p.kernel_w > 1 && p.kernel_w * p.in_c <= kMaxRunFloats;
  l.tap_floats = l.row_runs ? p.kernel_w * p.in_c : group_in;
  l.kernel_taps = l.row_runs ? p.kernel_h : p.kernel_h * p.kernel_w;
  l.segment = min_of(l.tap_floats, kMaxSegment);
  l.block_taps = l.row_runs ? min_of(kRunBlockK / l.tap_floats, kMaxBlockTaps)
                 : l.tap_floats > kMaxSegment
                     ? 1
                     : max_of(1, min_of(kMaxBlockK<NR> / l.tap_floats, kMaxBlockTaps));
  // A K block's panels fill at most max(one panel, kPanelFloats) floats, and at most a panel
  // per NR columns of the group.
  const std::size_t block_k =
      static_cast<std::size_t>(min_of(l.block_taps, l.kernel_taps)) * l.segment;
  const std::size_t group_tiles = static_cast<std::size_t>((group_out + NR - 1) / NR);
  const std::size_t one_panel = block_k * NR;
  const std::size_t full = max_of(one_panel, static_cast<std::size_t>(kPanelFloats));
  // min(group_tiles * one_panel, full), without a product that could wrap a 32-bit size_t.
  const std::size_t panel_floats = group_tiles > full / one_panel ? full : group_tiles * one_panel;
  // Moments of at most kMaxMomentColumns columns (an N block), padded to whole tiles.
  const std::size_t moment_columns =
      static_cast<std::size_t>((min_of(group_out, kMaxMomentColumns) + NR - 1) / NR * NR);
  std::size_t at = 0;
  l.panels = at;
  at += align_up(panel_floats * sizeof(float));
  l.ptrs = at;
  at += align_up(static_cast<std::size_t>(l.block_taps) * Shape::kMaxRows * sizeof(const float*));
  l.gather = at;
  if (l.row_runs)
    at += align_up(static_cast<std::size_t>(Shape::kMaxRows) * kRunBlockK * sizeof(float));
  l.moments = at;
  at += align_up(3 * moment_columns * sizeof(float));
  l.mean = at;
  at += align_up(moment_columns * sizeof(double));
  l.m2 = at;
  at += align_up(moment_columns * sizeof(double));
  l.bytes = at;
  return l;
}

// accumulate_output: the sums are added to what output holds (bias must then be null), as the
// backward kernels' GradWrite::accumulate needs. gate: the backward kernels' ClampGate over the
// output (assign only: the gate applies to the whole sum).
template <class Arch>
void conv2d_igemm(const Conv2dParams& p, const float* input, const float* weights,
                  const float* bias, float* output, const F32Epilogue& epilogue, void* scratch,
                  bool accumulate_output = false, const ClampGate* gate = nullptr) {
  using Shape = TileShape<Arch>;
  constexpr std::int32_t W = Shape::kWidth;
  constexpr std::int32_t NR = 2 * W;
  assert(scratch != nullptr && reinterpret_cast<std::uintptr_t>(scratch) % kScratchAlignment == 0);
  assert(!accumulate_output || bias == nullptr);
  assert(gate == nullptr || !accumulate_output);
  const IgemmLayout l = igemm_layout<Arch>(p);
  unsigned char* base = static_cast<unsigned char*>(scratch);
  float* panels = reinterpret_cast<float*>(base + l.panels);
  const ColumnScratch column_scratch = {
      reinterpret_cast<const float**>(base + l.ptrs), reinterpret_cast<float*>(base + l.gather),
      reinterpret_cast<float*>(base + l.moments), reinterpret_cast<double*>(base + l.mean),
      reinterpret_cast<double*>(base + l.m2)};
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  IgemmProblem q = {&p, input, p.batch * p.out_h * p.out_w, 0, 0, 0, false, 0, {}, {}, {}};
  q.row_runs = l.row_runs;
  q.run = p.kernel_w * p.in_c;
  const std::int32_t tap_floats = l.tap_floats;
  const std::int32_t kernel_taps = l.kernel_taps;
  const std::int32_t segment = l.segment;
  const std::int32_t block_taps = l.block_taps;
  const bool clamp = clamps(epilogue);
  for (std::int32_t g = 0; g < p.groups; ++g) {
    for (std::int32_t c0 = 0; c0 < tap_floats; c0 += segment) {
      const std::int32_t length = min_of(segment, tap_floats - c0);
      for (std::int32_t t0 = 0; t0 < kernel_taps; t0 += block_taps) {
        q.first_tap = t0;
        q.taps = min_of(block_taps, kernel_taps - t0);
        q.channel_off = g * group_in + c0;
        for (std::int32_t t = 0; t < q.taps; ++t) {
          const std::int32_t ky = q.row_runs ? t0 + t : (t0 + t) / p.kernel_w;
          const std::int32_t kx = q.row_runs ? 0 : (t0 + t) % p.kernel_w;
          q.tap_dy[t] = ky * p.dilation_h;
          q.tap_dx[t] = kx * p.dilation_w;
          q.tap_offset[t] = (static_cast<std::size_t>(q.tap_dy[t]) * p.in_w +
                             static_cast<std::size_t>(q.tap_dx[t])) *
                            p.in_c;
        }
        const bool accumulate = accumulate_output || c0 > 0 || t0 > 0;
        const bool last = c0 + length == tap_floats && t0 + q.taps == kernel_taps;
        const std::int32_t block_k = q.taps * length;
        const std::int32_t panel_floats = block_k * NR;
        // Columns per N block: as many whole panels as fit, at least one.
        std::int32_t block_cols = max_of(NR, (kPanelFloats / panel_floats) * NR);
        if (epilogue.moments != nullptr) block_cols = min_of(block_cols, kMaxMomentColumns);
        for (std::int32_t n0 = 0; n0 < group_out; n0 += block_cols) {
          const std::int32_t cols = min_of(block_cols, group_out - n0);
          const std::int32_t col0 = g * group_out + n0;
          // Whole 2-vector panels, then a last panel of at most one vector gets the taller
          // 1-vector tile (a last panel wider than one vector stays 2-vector, partly stored).
          const std::int32_t rest = cols % NR;
          const std::int32_t wide_cols = (rest > 0 && rest <= W) ? cols - rest : cols;
          const std::int32_t wide_tiles = (wide_cols + NR - 1) / NR;
          for (std::int32_t j = 0; j < wide_tiles; ++j)
            pack_panel<Arch>(p, weights, tap_floats, t0, q.taps, c0, length, col0 + j * NR,
                             min_of(NR, wide_cols - j * NR), NR, panels + j * panel_floats);
          const float* col_bias = (bias != nullptr && !accumulate) ? bias + col0 : nullptr;
          ChannelMoments* col_moments =
              (last && epilogue.moments != nullptr) ? epilogue.moments + col0 : nullptr;
          const ColumnStage stage = {last && clamp, epilogue.clamp_min, epilogue.clamp_max,
                                     col_moments, last ? gate : nullptr};
          if (wide_cols > 0)
            igemm_columns<Arch, Shape::kRows2, 2>(q, length, panels, panel_floats, col0, wide_cols,
                                                  col_bias, accumulate, output, stage,
                                                  column_scratch);
          if (wide_cols < cols) {
            float* narrow = panels + wide_tiles * panel_floats;
            pack_panel<Arch>(p, weights, tap_floats, t0, q.taps, c0, length, col0 + wide_cols, rest,
                             W, narrow);
            ColumnStage narrow_stage = stage;
            if (col_moments != nullptr) narrow_stage.moments = col_moments + wide_cols;
            igemm_columns<Arch, Shape::kRows1, 1>(
                q, length, narrow, block_k * W, col0 + wide_cols, rest,
                col_bias != nullptr ? col_bias + wide_cols : nullptr, accumulate, output,
                narrow_stage, column_scratch);
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
                      const float* bias, float* output, const F32Epilogue& epilogue) {
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
              acc = fmadd(x, w, acc);
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
  // Depthwise layers are memory-bound: the epilogue is a pass over the output.
  const std::size_t rows = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w;
  epilogue_simd<Arch>(output, rows, static_cast<std::size_t>(C), epilogue);
}

}  // namespace
}  // namespace lsuv::kernels::simd
