// What the int8 kernels take besides their shapes (params.hpp): the requantising epilogue of
// conv2d and linear, and the rescaling of a residual add. The arithmetic is fixed_point.hpp's.
//
// The quantisation scheme (DESIGN.md, "Fixed point"): activations int8 asymmetric per tensor,
// real = scale * (q - zero_point); weights int8 symmetric per output channel (zero point 0);
// bias int32 at scale input_scale * weight_scale[o]; accumulation int32.
#pragma once

#include <cstdint>

#include "kernels/params.hpp"

namespace lsuv::kernels {

// How conv2d and linear store output channel o of an int32 accumulator acc (bias included):
//   q = clamp(multiply_by_quantized_multiplier(acc, multiplier[o], shift[o]) + output_zero_point,
//             output_min, output_max)
// where the sum with the zero point is exact (no int32 wrap). A fused ReLU is
// output_min = output_zero_point, ReLU6 also output_max = the code of 6.0; the default range is
// all of int8. multiplier[o] = quantize_multiplier(input_scale * weight_scale[o] / output_scale).
//
// accumulator_moments (null: none) receives, before requantisation, the moments of each
// channel's accumulators (bias included; dequantise with the channel's scale): each accumulator
// of channel o is added to accumulator_moments[o] with Welford's update in double, in output
// row order (pixels in N, H, W order), so every level's moments are the reference's bit for bit
// (the kernel checker holds them to it) and the LSUV that measures them in fixed point reports
// the same numbers at every level; a call continues the moments it is given, so batches in turn
// give the moments of one batch holding them all.
struct I8Epilogue {
  const std::int32_t* multiplier = nullptr;  // out channels entries, Q0.31
  const std::int32_t* shift = nullptr;       // out channels entries, each in [-31, 30]
  std::int32_t output_zero_point = 0;        // in [-128, 127]
  std::int32_t output_min = -128;            // -128 <= output_min <= output_max <= 127
  std::int32_t output_max = 127;
  ChannelMoments* accumulator_moments = nullptr;
};

inline constexpr std::int32_t kMaxAddInputs = 4;

// A residual add of count (2..4) int8 tensors of different scales into one, as TFLite's
// reference add does for two: each input k is centred, scaled up by 2^left_shift (20 for int8,
// leaving headroom for the rounding) and brought to a common scale,
//   s_k = multiply_by_quantized_multiplier((q_k - input_zero_point[k]) * 2^left_shift,
//                                          input_multiplier[k], input_shift[k]),
// then q = clamp(multiply_by_quantized_multiplier(sum_k s_k, output_multiplier, output_shift)
//                + output_zero_point, output_min, output_max).
// TFLite's parameters: with s = 2 * max_k scale_k, the input multipliers are scale_k / s and
// the output multiplier s / (2^left_shift * output_scale); both below one (shifts <= 0).
struct AddI8Params {
  std::int32_t count = 2;
  std::int32_t left_shift = 20;  // in [0, 20]: (q - zero point) * 2^20 needs 28 bits
  std::int32_t input_zero_point[kMaxAddInputs] = {};
  std::int32_t input_multiplier[kMaxAddInputs] = {};  // Q0.31
  std::int32_t input_shift[kMaxAddInputs] = {};       // each <= 0
  std::int32_t output_multiplier = 0;
  std::int32_t output_shift = 0;
  std::int32_t output_zero_point = 0;
  std::int32_t output_min = -128;
  std::int32_t output_max = 127;
};

}  // namespace lsuv::kernels
