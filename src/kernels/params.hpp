// Shapes the kernels are called with. Plain structs of sized integers: a kernel is a stateless
// function over raw pointers and one of these.
#pragma once

#include <cstdint>

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
