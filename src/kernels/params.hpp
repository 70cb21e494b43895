// Shapes the kernels are called with. Plain structs of sized integers: a kernel is a stateless
// function over raw pointers and one of these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

namespace lsuv::kernels {

// Convolution over NHWC input. Weights are laid out [kernel_h][kernel_w][in_c / groups][out_c]
// (HWIO with I per group): output channel o belongs to group o / (out_c / groups) and reads that
// group's input channels. The innermost out_c is what SIMD kernels vectorise over, so this is
// both the reference layout and the fast one.
struct Conv2dParams {
  std::int32_t batch;
  std::int32_t in_h, in_w, in_c;
  std::int32_t out_h, out_w, out_c;
  std::int32_t kernel_h, kernel_w;
  std::int32_t stride_h, stride_w;
  std::int32_t pad_h, pad_w;
  std::int32_t dilation_h, dilation_w;
  std::int32_t groups;
};

// y[b][o] = bias[o] + sum_i x[b][i] * w[i][o]; weights [in][out] (PyTorch's transposed).
struct LinearParams {
  std::int32_t batch;
  std::int32_t in_features;
  std::int32_t out_features;
};

// Moments of one channel: count, mean and M2 (the sum of squared deviations from the mean),
// mergeable with Chan et al.'s pairwise formula (merge_moments in reference.hpp). Kernels fill
// these; the core turns them into RunningStats. Defined here so kernels do not depend on core.
struct ChannelMoments {
  std::uint64_t count = 0;
  double mean = 0.0;
  double m2 = 0.0;
};

// What a kernel does to each value as it stores its output: first the value's moments (before
// the clamp) are merged into moments[channel] (null: none), then the value is clamped to
// [clamp_min, clamp_max] (NaN stays NaN; clamp_min <= clamp_max, neither NaN). ReLU is
// {0, +inf}, ReLU6 {0, 6}; the default does nothing. An int8 kernel gets its own epilogue type
// (requantisation) beside this one.
//
// The block-moments contract (statistics for LSUV, which needs mean and std to ~1e-6 relative,
// not RunningStats' double exactness): output rows (pixels in N, H, W order) are cut into
// blocks of at most kMomentBlockRows consecutive rows; within a block each channel's values are
// shifted by the block's first value of that channel (so a large common offset does not cancel)
// and the shifted sum and sum of squares are accumulated in float; each block then becomes
// (count, mean, M2) in double and is merged into moments[c] with Chan's formula.
// Optimised kernels may cut blocks shorter (a multiple of their row tile) and sum in another
// order; the kernel checker bounds the difference.
struct F32Epilogue {
  float clamp_min = -std::numeric_limits<float>::infinity();
  float clamp_max = std::numeric_limits<float>::infinity();
  ChannelMoments* moments = nullptr;  // out channels entries to merge into, or null
};

// False for the default clamp (-inf, +inf), which leaves every value as it is.
constexpr bool clamps(const F32Epilogue& e) {
  return e.clamp_min > -std::numeric_limits<float>::infinity() ||
         e.clamp_max < std::numeric_limits<float>::infinity();
}

// Alignment of the scratch buffer a kernel asks for with its *_scratch_bytes query.
inline constexpr std::size_t kScratchAlignment = 64;

constexpr std::int32_t kMomentBlockRows = 64;

// Pooling over NHWC input; windows never read padding for max, and count it for avg (PyTorch's
// count_include_pad=True).
struct Pool2dParams {
  std::int32_t batch;
  std::int32_t in_h, in_w, channels;
  std::int32_t out_h, out_w;
  std::int32_t kernel_h, kernel_w;
  std::int32_t stride_h, stride_w;
  std::int32_t pad_h, pad_w;
};

}  // namespace lsuv::kernels
