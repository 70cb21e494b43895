// The int8 conv2d and linear of every SIMD level, written once over a per-ISA policy (Isa):
// the layer is a GEMM whose rows are output pixels (or batch rows), whose reduction runs over
// the taps x input channels of a group and whose columns are the group's output channels. The
// driver packs one block of Isa::kCols columns of weights into the scratch, then for each
// panel of Isa::kRows rows encodes the rows' activations (im2col) into the scratch, lets the
// policy's register tile compute the int32 sums and stores them through the requantising
// epilogue (i8_params.hpp). Depthwise convolutions (one input and one output channel per
// group) run over channels instead, with the policy's tap accumulator.
//
// The policy encodes an activation x as Row values and a weight as Weight values such that
//   sum_k row[k] * panel[k] = sum_k w[k] * (x[k] - zero_point) + zero_point_factor * sum_k w[k]
// in wrap-around int32 (AVX2 centres the activations in int16; VNNI adds 128 to make them
// unsigned; NEON keeps them raw): the driver subtracts zero_point_factor times each column's
// weight sum with the bias. Padding taps encode the zero point (real 0), so they contribute
// what the reference's skipped taps do. The accumulator contract of reference_i8.hpp makes the
// wrap-around sum equal to the reference's exact one.
//
// Policy members: Row, Weight; kRows, kCols (the register tile), kGroup (consecutive k of one
// column stored together in the panel: 2 for int16 pairs, 4 for byte quads, 0 for all of the
// padded K, i.e. the panel holds each column's weights contiguously), kAlignK (the
// padded reduction length is a multiple of it; padding weights are 0), kDepthwiseChannels;
// encode(x, zero_point), encode_run(x, n, zero_point, out), zero_point_factor(zero_point),
// tile(rows, kpad, panel, acc) (acc: kRows x kCols int32, every row computed),
// requantize(acc, count, multiplier, shift, zero_point, lo, hi, out) and
// dw_accumulate(xs, ws, taps, c0, count, zero_point, acc).
//
// Included only by the int8 per-ISA TUs; everything has internal linkage.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/fixed_point.hpp"
#include "kernels/i8_dispatch.hpp"
#include "kernels/i8_params.hpp"
#include "kernels/params.hpp"
#include "kernels/reference_i8.hpp"
#include "kernels/simd/sizes.hpp"

namespace lsuv::kernels::simd {
namespace {

// Depthwise kernels with more taps than this (beyond 8x8) take the reference.
constexpr std::int32_t kMaxDepthwiseTaps = 64;

// Wrap-around int32 addition (the accumulator contract allows it; signed overflow is UB).
inline std::int32_t wrapping_add(std::int32_t a, std::int32_t b) {
  return static_cast<std::int32_t>(static_cast<std::uint32_t>(a) + static_cast<std::uint32_t>(b));
}

// The reference's moment update (Welford), so a level's moments follow the same arithmetic.
inline void add_accumulator_moment(ChannelMoments& m, std::int32_t acc) {
  const double x = static_cast<double>(acc);
  ++m.count;
  const double delta = x - m.mean;
  m.mean += delta / static_cast<double>(m.count);
  m.m2 += delta * (x - m.mean);
}

// One GEMM: out[m][n] = epilogue(bias[n] + sum_k W[k][n] * (A[m][k] - zero point)) with
// W[k][n] = weights[k * weight_stride + n]; the epilogue arrays start at column 0.
struct I8Gemm {
  std::int32_t m, k, n;
  const std::int8_t* weights;
  std::size_t weight_stride;
  const std::int32_t* bias;  // null: none
  const std::int32_t* multiplier;
  const std::int32_t* shift;
  ChannelMoments* moments;  // null: none
  std::int32_t input_zero_point, output_zero_point, output_min, output_max;
  std::int8_t* output;
  std::size_t output_stride;
};

template <class Isa>
constexpr std::int32_t padded_k(std::int32_t k) {
  return (k + Isa::kAlignK - 1) / Isa::kAlignK * Isa::kAlignK;
}

// The scratch of one GEMM: the weight panel, the encoded rows, the column offsets.
template <class Isa>
struct I8GemmLayout {
  std::size_t panel, rows, offsets, bytes;
};

template <class Isa>
constexpr I8GemmLayout<Isa> i8_gemm_layout(std::int32_t k) {
  const std::size_t kpad = static_cast<std::size_t>(padded_k<Isa>(k));
  I8GemmLayout<Isa> l{};
  l.panel = 0;
  l.rows = align_up(kpad * Isa::kCols * sizeof(typename Isa::Weight));
  l.offsets = l.rows + align_up(kpad * Isa::kRows * sizeof(typename Isa::Row));
  l.bytes = l.offsets + align_up(Isa::kCols * sizeof(std::int32_t));
  return l;
}

// Columns [n0, n0 + cols) of W into the panel (zeros beyond K and cols), and each column's
// bias less zero_point_factor times its weight sum into offsets.
template <class Isa>
void pack_panel(const I8Gemm& g, std::int32_t n0, std::int32_t cols, std::int32_t kpad,
                typename Isa::Weight* panel, std::int32_t* offsets) {
  constexpr std::int32_t C = Isa::kCols;
  const std::int32_t G = Isa::kGroup > 0 ? Isa::kGroup : kpad;
  std::int32_t sums[C] = {};
  std::memset(panel, 0, static_cast<std::size_t>(kpad) * C * sizeof(typename Isa::Weight));
  for (std::int32_t k = 0; k < g.k; ++k) {
    const std::int8_t* w = g.weights + static_cast<std::size_t>(k) * g.weight_stride + n0;
    typename Isa::Weight* dst = panel + static_cast<std::size_t>(k / G) * C * G + k % G;
    for (std::int32_t j = 0; j < cols; ++j) {
      dst[j * G] = static_cast<typename Isa::Weight>(w[j]);
      sums[j] += w[j];
    }
  }
  const std::int32_t factor = Isa::zero_point_factor(g.input_zero_point);
  for (std::int32_t j = 0; j < C; ++j) {
    const std::int32_t bias = g.bias != nullptr && j < cols ? g.bias[n0 + j] : 0;
    // factor * sums[j] is at most 255 * 128 * K in magnitude: within int32 under the contract.
    offsets[j] = wrapping_add(bias, -factor * sums[j]);
  }
}

// encode_row(m, row) writes row m's K encoded activations; the driver pads them to kpad.
template <class Isa, class EncodeRow>
void i8_gemm(const I8Gemm& g, EncodeRow encode_row, void* scratch) {
  using Row = typename Isa::Row;
  constexpr std::int32_t R = Isa::kRows;
  constexpr std::int32_t C = Isa::kCols;
  const std::int32_t kpad = padded_k<Isa>(g.k);
  const I8GemmLayout<Isa> l = i8_gemm_layout<Isa>(g.k);
  unsigned char* base = static_cast<unsigned char*>(scratch);
  auto* panel = reinterpret_cast<typename Isa::Weight*>(base + l.panel);
  auto* rows = reinterpret_cast<Row*>(base + l.rows);
  auto* offsets = reinterpret_cast<std::int32_t*>(base + l.offsets);
  alignas(64) std::int32_t acc[R * C];
  for (std::int32_t n0 = 0; n0 < g.n; n0 += C) {
    const std::int32_t cols = g.n - n0 < C ? g.n - n0 : C;
    pack_panel<Isa>(g, n0, cols, kpad, panel, offsets);
    for (std::int32_t m0 = 0; m0 < g.m; m0 += R) {
      const std::int32_t count = g.m - m0 < R ? g.m - m0 : R;
      for (std::int32_t r = 0; r < count; ++r) {
        Row* row = rows + static_cast<std::size_t>(r) * kpad;
        encode_row(m0 + r, row);
        for (std::int32_t k = g.k; k < kpad; ++k) row[k] = 0;
      }
      // The tile computes every row: the unused ones read zeros, not stale scratch.
      if (count < R)
        std::memset(rows + static_cast<std::size_t>(count) * kpad, 0,
                    static_cast<std::size_t>(R - count) * kpad * sizeof(Row));
      Isa::tile(rows, kpad, panel, acc);
      for (std::int32_t r = 0; r < count; ++r) {
        std::int32_t* a = acc + r * C;
        for (std::int32_t j = 0; j < C; ++j) a[j] = wrapping_add(a[j], offsets[j]);
        if (g.moments != nullptr)
          for (std::int32_t j = 0; j < cols; ++j) add_accumulator_moment(g.moments[n0 + j], a[j]);
        Isa::requantize(a, cols, g.multiplier + n0, g.shift + n0, g.output_zero_point, g.output_min,
                        g.output_max,
                        g.output + static_cast<std::size_t>(m0 + r) * g.output_stride + n0);
      }
    }
  }
}

inline bool i8_is_depthwise(const Conv2dParams& p) {
  return p.groups == p.in_c && p.groups == p.out_c && p.kernel_h * p.kernel_w <= kMaxDepthwiseTaps;
}

// Depthwise: each output pixel's in-bounds taps, then blocks of kDepthwiseChannels channels.
template <class Isa>
void conv2d_i8_depthwise(const Conv2dParams& p, const std::int8_t* input, std::int32_t zero_point,
                         const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                         const I8Epilogue& e) {
  constexpr std::int32_t D = Isa::kDepthwiseChannels;
  const std::int32_t channels = p.out_c;
  const std::int8_t* xs[kMaxDepthwiseTaps];
  const std::int8_t* ws[kMaxDepthwiseTaps];
  alignas(64) std::int32_t acc[D];
  for (std::int32_t n = 0; n < p.batch; ++n)
    for (std::int32_t oy = 0; oy < p.out_h; ++oy)
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        std::int32_t taps = 0;
        for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
          const std::int32_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
          if (iy < 0 || iy >= p.in_h) continue;
          for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
            const std::int32_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
            if (ix < 0 || ix >= p.in_w) continue;
            xs[taps] =
                input + ((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * channels;
            ws[taps] = weights + (static_cast<std::size_t>(ky) * p.kernel_w + kx) * channels;
            ++taps;
          }
        }
        std::int8_t* out =
            output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * channels;
        for (std::int32_t c0 = 0; c0 < channels; c0 += D) {
          const std::int32_t count = channels - c0 < D ? channels - c0 : D;
          for (std::int32_t j = 0; j < count; ++j) acc[j] = bias != nullptr ? bias[c0 + j] : 0;
          Isa::dw_accumulate(xs, ws, taps, c0, count, zero_point, acc);
          if (e.accumulator_moments != nullptr)
            for (std::int32_t j = 0; j < count; ++j)
              add_accumulator_moment(e.accumulator_moments[c0 + j], acc[j]);
          Isa::requantize(acc, count, e.multiplier + c0, e.shift + c0, e.output_zero_point,
                          e.output_min, e.output_max, out + c0);
        }
      }
}

// Row m of the im2col of group g: taps in [kh][kw] order, each group_in encoded channels; a tap
// in the padding encodes the zero point.
template <class Isa>
void encode_conv_row(const Conv2dParams& p, const std::int8_t* input, std::int32_t zero_point,
                     std::int32_t g, std::int32_t m, typename Isa::Row* row) {
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t pixels = p.out_h * p.out_w;
  const std::int32_t n = m / pixels;
  const std::int32_t oy = (m % pixels) / p.out_w;
  const std::int32_t ox = m % p.out_w;
  const typename Isa::Row padding = Isa::encode(static_cast<std::int8_t>(zero_point), zero_point);
  for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
    const std::int32_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
    for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
      const std::int32_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
      typename Isa::Row* dst = row + (ky * p.kernel_w + kx) * group_in;
      if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) {
        for (std::int32_t i = 0; i < group_in; ++i) dst[i] = padding;
        continue;
      }
      Isa::encode_run(input + ((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.in_c +
                          static_cast<std::size_t>(g) * group_in,
                      group_in, zero_point, dst);
    }
  }
}

template <class Isa>
void conv2d_i8_simd(const Conv2dParams& p, const std::int8_t* input, std::int32_t zero_point,
                    const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                    const I8Epilogue& e, void* scratch) {
  assert(p.groups > 0 && p.in_c % p.groups == 0 && p.out_c % p.groups == 0);
  assert(zero_point >= -128 && zero_point <= 127);
  if (p.batch <= 0 || p.out_h <= 0 || p.out_w <= 0) return;
  if (p.groups == p.in_c && p.groups == p.out_c) {
    if (i8_is_depthwise(p))
      conv2d_i8_depthwise<Isa>(p, input, zero_point, weights, bias, output, e);
    else
      conv2d_i8_ref(p, input, zero_point, weights, bias, output, e, scratch);
    return;
  }
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  for (std::int32_t g = 0; g < p.groups; ++g) {
    const std::size_t first = static_cast<std::size_t>(g) * group_out;
    const I8Gemm gemm = {p.batch * p.out_h * p.out_w,
                         p.kernel_h * p.kernel_w * group_in,
                         group_out,
                         weights + first,
                         static_cast<std::size_t>(p.out_c),
                         bias != nullptr ? bias + first : nullptr,
                         e.multiplier + first,
                         e.shift + first,
                         e.accumulator_moments != nullptr ? e.accumulator_moments + first : nullptr,
                         zero_point,
                         e.output_zero_point,
                         e.output_min,
                         e.output_max,
                         output + first,
                         static_cast<std::size_t>(p.out_c)};
    i8_gemm<Isa>(
        gemm,
        [&](std::int32_t m, typename Isa::Row* row) {
          encode_conv_row<Isa>(p, input, zero_point, g, m, row);
        },
        scratch);
  }
}

template <class Isa>
std::size_t conv2d_i8_simd_scratch_bytes(const Conv2dParams& p) {
  if (p.groups == p.in_c && p.groups == p.out_c) return 0;
  return i8_gemm_layout<Isa>(p.kernel_h * p.kernel_w * (p.in_c / p.groups)).bytes;
}

template <class Isa>
void linear_i8_simd(const LinearParams& p, const std::int8_t* input, std::int32_t zero_point,
                    const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                    const I8Epilogue& e, void* scratch) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  assert(zero_point >= -128 && zero_point <= 127);
  if (p.batch <= 0) return;
  const I8Gemm gemm = {p.batch,
                       p.in_features,
                       p.out_features,
                       weights,
                       static_cast<std::size_t>(p.out_features),
                       bias,
                       e.multiplier,
                       e.shift,
                       e.accumulator_moments,
                       zero_point,
                       e.output_zero_point,
                       e.output_min,
                       e.output_max,
                       output,
                       static_cast<std::size_t>(p.out_features)};
  i8_gemm<Isa>(
      gemm,
      [&](std::int32_t m, typename Isa::Row* row) {
        Isa::encode_run(input + static_cast<std::size_t>(m) * p.in_features, p.in_features,
                        zero_point, row);
      },
      scratch);
}

template <class Isa>
std::size_t linear_i8_simd_scratch_bytes(const LinearParams& p) {
  return i8_gemm_layout<Isa>(p.in_features).bytes;
}

// The conv2d and linear entries of a level whose policy is Isa.
template <class Isa>
constexpr I8Kernels i8_dense_table() {
  I8Kernels k{};
  k.conv2d = &conv2d_i8_simd<Isa>;
  k.conv2d_scratch_bytes = &conv2d_i8_simd_scratch_bytes<Isa>;
  k.linear = &linear_i8_simd<Isa>;
  k.linear_scratch_bytes = &linear_i8_simd_scratch_bytes<Isa>;
  return k;
}

// The conv2d and linear entries of a level whose convolution takes an indirect kernel where
// Applies(p, epilogue) says so (Indirect, its scratch IndirectScratch) and the im2col GEMM of
// Isa otherwise. Moments are the one thing that decides by the epilogue, and a layer's scratch
// is sized without them: the larger of the two layouts.
using I8Conv2d = void (*)(const Conv2dParams&, const std::int8_t*, std::int32_t, const std::int8_t*,
                          const std::int32_t*, std::int8_t*, const I8Epilogue&, void*);
using I8Conv2dApplies = bool (*)(const Conv2dParams&, const I8Epilogue&);
using I8Conv2dScratch = std::size_t (*)(const Conv2dParams&);

template <class Isa, I8Conv2dApplies Applies, I8Conv2d Indirect, I8Conv2dScratch IndirectScratch>
void conv2d_i8_indirect_or_gemm(const Conv2dParams& p, const std::int8_t* input,
                                std::int32_t zero_point, const std::int8_t* weights,
                                const std::int32_t* bias, std::int8_t* output, const I8Epilogue& e,
                                void* scratch) {
  if (p.batch > 0 && p.out_h > 0 && p.out_w > 0 && Applies(p, e))
    Indirect(p, input, zero_point, weights, bias, output, e, scratch);
  else
    conv2d_i8_simd<Isa>(p, input, zero_point, weights, bias, output, e, scratch);
}

template <class Isa, I8Conv2dApplies Applies, I8Conv2dScratch IndirectScratch>
std::size_t conv2d_i8_indirect_or_gemm_scratch_bytes(const Conv2dParams& p) {
  const std::size_t gemm = conv2d_i8_simd_scratch_bytes<Isa>(p);
  if (!Applies(p, I8Epilogue())) return gemm;
  const std::size_t indirect = IndirectScratch(p);
  return indirect > gemm ? indirect : gemm;
}

template <class Isa, I8Conv2dApplies Applies, I8Conv2d Indirect, I8Conv2dScratch IndirectScratch>
constexpr I8Kernels i8_indirect_table() {
  I8Kernels k = i8_dense_table<Isa>();
  k.conv2d = &conv2d_i8_indirect_or_gemm<Isa, Applies, Indirect, IndirectScratch>;
  k.conv2d_scratch_bytes = &conv2d_i8_indirect_or_gemm_scratch_bytes<Isa, Applies, IndirectScratch>;
  return k;
}

}  // namespace
}  // namespace lsuv::kernels::simd
