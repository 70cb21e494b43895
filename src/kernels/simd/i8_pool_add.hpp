// The int8 add and pooling of every SIMD level, written once over a per-ISA policy (Ops), bit for
// bit the reference's (reference_i8.hpp):
//   - add: Ops::kAddLanes elements of every input at a time through Ops::add_lanes (the constants
//     broadcast once into Ops::AddConstants); the last partial group goes through zero-padded
//     copies of the inputs.
//   - pooling: NHWC windows are rectangles of the input (no dilation), clipped to it; channels go
//     in blocks of Ops::kPoolChannels. A channel count that is not a multiple of the block ends
//     with the block that ends at the last channel, overlapping the one before (its channels get
//     the same values again: pooling never writes its input); fewer channels than one block take
//     the reference's arithmetic, channel by channel.
//
// Ops members: kAddLanes; AddConstants(const AddI8Params&); add_lanes(c, xs, out) (xs: count
// pointers to kAddLanes bytes); kPoolChannels; max_window(base, rows, cols, row_stride,
// col_stride, out) (the block's maxima over the window, -128 when it is empty); sum_window(...,
// acc) (the block's int32 sums); round_divide(acc, offset, divisor, reciprocal, out)
// (rounded_division(acc[j] + offset, divisor) for the block, reciprocal = 1.0f / divisor).
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

namespace lsuv::kernels::simd {
namespace {

template <class Ops>
void add_i8_simd(std::size_t n, const std::int8_t* const* inputs, const AddI8Params& a,
                 std::int8_t* output) {
  assert(a.count >= 2 && a.count <= kMaxAddInputs && inputs != nullptr);
  assert(a.left_shift >= 0 && a.left_shift <= 20);
  constexpr std::size_t L = Ops::kAddLanes;
  const typename Ops::AddConstants c(a);
  const std::int8_t* xs[kMaxAddInputs] = {};
  std::size_t i = 0;
  for (; i + L <= n; i += L) {
    for (std::int32_t k = 0; k < a.count; ++k) xs[k] = inputs[k] + i;
    Ops::add_lanes(c, xs, output + i);
  }
  if (i == n) return;
  std::int8_t rest[kMaxAddInputs][L] = {};
  std::int8_t out[L];
  for (std::int32_t k = 0; k < a.count; ++k) {
    std::memcpy(rest[k], inputs[k] + i, n - i);
    xs[k] = rest[k];
  }
  Ops::add_lanes(c, xs, out);
  std::memcpy(output + i, out, n - i);
}

// The part of a pooling window inside the input: rows x cols taps from `first`.
struct PoolWindow {
  std::size_t first;  // offset of the first tap's channel 0 in the input
  std::int32_t rows, cols;
};

inline PoolWindow pool_window(const Pool2dParams& p, std::int32_t n, std::int32_t oy,
                              std::int32_t ox) {
  const std::int32_t y = oy * p.stride_h - p.pad_h;
  const std::int32_t x = ox * p.stride_w - p.pad_w;
  const std::int32_t y0 = y > 0 ? y : 0;
  const std::int32_t x0 = x > 0 ? x : 0;
  const std::int32_t y1 = y + p.kernel_h < p.in_h ? y + p.kernel_h : p.in_h;
  const std::int32_t x1 = x + p.kernel_w < p.in_w ? x + p.kernel_w : p.in_w;
  if (y1 <= y0 || x1 <= x0) return {0, 0, 0};
  return {((static_cast<std::size_t>(n) * p.in_h + y0) * p.in_w + x0) * p.channels, y1 - y0,
          x1 - x0};
}

// Calls block(c0) for the channel blocks of `channels` (channels >= kPoolChannels), the last
// one ending at the last channel.
template <class Ops, class Block>
void for_channel_blocks(std::int32_t channels, Block block) {
  constexpr std::int32_t B = Ops::kPoolChannels;
  assert(channels >= B);
  std::int32_t c0 = 0;
  for (; c0 + B <= channels; c0 += B) block(c0);
  if (c0 < channels) block(channels - B);
}

// The reference's arithmetic for one channel of a window: its maximum and its sum.
inline std::int8_t window_max(const std::int8_t* base, const PoolWindow& w, std::size_t row_stride,
                              std::size_t col_stride) {
  std::int8_t best = -128;
  for (std::int32_t r = 0; r < w.rows; ++r)
    for (std::int32_t c = 0; c < w.cols; ++c) {
      const std::int8_t x = base[r * row_stride + c * col_stride];
      best = x > best ? x : best;
    }
  return best;
}

inline std::int32_t window_sum(const std::int8_t* base, const PoolWindow& w, std::size_t row_stride,
                               std::size_t col_stride) {
  std::int32_t sum = 0;
  for (std::int32_t r = 0; r < w.rows; ++r)
    for (std::int32_t c = 0; c < w.cols; ++c) sum += base[r * row_stride + c * col_stride];
  return sum;
}

// Calls pixel(window, out) for each output pixel of the pooling.
template <class Pixel>
void for_pool_pixels(const Pool2dParams& p, std::int8_t* output, Pixel pixel) {
  assert(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0);
  for (std::int32_t n = 0; n < p.batch; ++n)
    for (std::int32_t oy = 0; oy < p.out_h; ++oy)
      for (std::int32_t ox = 0; ox < p.out_w; ++ox)
        pixel(pool_window(p, n, oy, ox),
              output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.channels);
}

template <class Ops>
void max_pool2d_i8_simd(const Pool2dParams& p, const std::int8_t* input, std::int8_t* output) {
  const std::size_t col_stride = static_cast<std::size_t>(p.channels);
  const std::size_t row_stride = col_stride * p.in_w;
  for_pool_pixels(p, output, [&](const PoolWindow& w, std::int8_t* out) {
    const std::int8_t* base = input + w.first;
    if (p.channels < Ops::kPoolChannels) {
      for (std::int32_t c = 0; c < p.channels; ++c)
        out[c] = window_max(base + c, w, row_stride, col_stride);
      return;
    }
    for_channel_blocks<Ops>(p.channels, [&](std::int32_t c0) {
      Ops::max_window(base + c0, w.rows, w.cols, row_stride, col_stride, out + c0);
    });
  });
}

// Sums of a window's block (or of fewer channels, one by one) through round_divide.
template <class Ops>
void average_blocks(const std::int8_t* base, const PoolWindow& w, std::int32_t channels,
                    std::size_t row_stride, std::size_t col_stride, std::int32_t offset,
                    std::int32_t divisor, float reciprocal, std::int8_t* out) {
  if (channels < Ops::kPoolChannels) {
    for (std::int32_t c = 0; c < channels; ++c)
      out[c] = static_cast<std::int8_t>(
          rounded_division(window_sum(base + c, w, row_stride, col_stride) + offset, divisor));
    return;
  }
  alignas(64) std::int32_t acc[Ops::kPoolChannels];
  for_channel_blocks<Ops>(channels, [&](std::int32_t c0) {
    Ops::sum_window(base + c0, w.rows, w.cols, row_stride, col_stride, acc);
    Ops::round_divide(acc, offset, divisor, reciprocal, out + c0);
  });
}

template <class Ops>
void avg_pool2d_i8_simd(const Pool2dParams& p, const std::int8_t* input,
                        std::int32_t input_zero_point, std::int8_t* output) {
  assert(input_zero_point >= -128 && input_zero_point <= 127);
  const std::size_t col_stride = static_cast<std::size_t>(p.channels);
  const std::size_t row_stride = col_stride * p.in_w;
  const std::int32_t window = p.kernel_h * p.kernel_w;
  const float reciprocal = 1.0f / static_cast<float>(window);
  for_pool_pixels(p, output, [&](const PoolWindow& w, std::int8_t* out) {
    // Padded positions count as the zero point (the reference's count_include_pad).
    const std::int32_t offset = (window - w.rows * w.cols) * input_zero_point;
    average_blocks<Ops>(input + w.first, w, p.channels, row_stride, col_stride, offset, window,
                        reciprocal, out);
  });
}

template <class Ops>
void global_avg_pool_i8_simd(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                             const std::int8_t* input, std::int8_t* output) {
  assert(pixels > 0 && pixels < (1 << 23) && channels > 0);
  const float reciprocal = 1.0f / static_cast<float>(pixels);
  const PoolWindow w = {0, 1, pixels};
  for (std::int32_t n = 0; n < batch; ++n)
    average_blocks<Ops>(input + static_cast<std::size_t>(n) * pixels * channels, w, channels, 0,
                        static_cast<std::size_t>(channels), 0, pixels, reciprocal,
                        output + static_cast<std::size_t>(n) * channels);
}

// The add and pooling entries of a level whose policy is Ops, over `k`.
template <class Ops>
constexpr I8Kernels with_pool_add(I8Kernels k) {
  k.add = &add_i8_simd<Ops>;
  k.max_pool2d = &max_pool2d_i8_simd<Ops>;
  k.avg_pool2d = &avg_pool2d_i8_simd<Ops>;
  k.global_avg_pool = &global_avg_pool_i8_simd<Ops>;
  return k;
}

}  // namespace
}  // namespace lsuv::kernels::simd
