// Bodies of the SIMD float functors (declared in f32_functors.hpp). Include only from a per-ISA
// TU compiled with that ISA's flags, then instantiate with LSUV_INSTANTIATE_F32_KERNELS.
#pragma once

#include "kernels/simd/elementwise.hpp"
#include "kernels/simd/f32_functors.hpp"
#include "kernels/simd/igemm.hpp"

namespace lsuv::kernels::simd {

template <class Arch>
void Conv2dF32<Arch>::run(const Conv2dParams& p, const float* input, const float* weights,
                          const float* bias, float* output, const OutputStage& stage) {
  assert(p.groups > 0 && p.in_c % p.groups == 0 && p.out_c % p.groups == 0);
  assert(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
  if (p.batch <= 0 || p.out_h <= 0 || p.out_w <= 0) return;
  if (p.groups == p.in_c && p.out_c == p.in_c)
    conv2d_depthwise<Arch>(p, input, weights, bias, output, stage);
  else
    conv2d_igemm<Arch>(p, input, weights, bias, output, stage);
}

template <class Arch>
void LinearF32<Arch>::run(const LinearParams& p, const float* input, const float* weights,
                          const float* bias, float* output, const OutputStage& stage) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  if (p.batch <= 0) return;
  // A 1x1 convolution over a 1x1 image: rows are the batch, K the input features.
  const Conv2dParams conv = {p.batch, 1, 1, p.in_features, 1, 1, p.out_features, 1, 1, 1, 1, 0, 0,
                             1,       1, 1};
  conv2d_igemm<Arch>(conv, input, weights, bias, output, stage);
}

template <class Arch>
void ReluF32<Arch>::run(std::size_t n, const float* input, float* output) {
  relu_f32<Arch>(n, input, output);
}

template <class Arch>
void MaxPool2dF32<Arch>::run(const Pool2dParams& p, const float* input, float* output) {
  assert(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0);
  pool2d_f32<Arch, true>(p, input, output);
}

template <class Arch>
void AvgPool2dF32<Arch>::run(const Pool2dParams& p, const float* input, float* output) {
  assert(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0);
  pool2d_f32<Arch, false>(p, input, output);
}

template <class Arch>
void GlobalAvgPoolF32<Arch>::run(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                                 const float* input, float* output) {
  assert(pixels > 0 && channels > 0);
  global_avg_pool_f32<Arch>(batch, pixels, channels, input, output);
}

template <class Arch>
void AddChannelMomentsF32<Arch>::run(const float* data, std::size_t rows, std::size_t channels,
                                     RunningStats* stats) {
  assert(channels > 0 && stats != nullptr);
  add_channel_moments_f32<Arch>(data, rows, channels, stats);
}

template <class Arch>
double FmaPeakF32<Arch>::run(std::int64_t iterations, float* sink) {
  using B = xsimd::batch<float, Arch>;
  // 12 chains fill 16-register files (two more hold the operands); 24 fill 32-register ones.
  constexpr int kChains = TileShape<Arch>::kWideFile ? 24 : 12;
  B acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = B(static_cast<float>(i) * 1e-3f);
  const B scale(0.999999f), step(1e-7f);
  for (std::int64_t n = 0; n < iterations; ++n)
    for (int i = 0; i < kChains; ++i) acc[i] = xsimd::fma(acc[i], scale, step);
  B total = acc[0];
  for (int i = 1; i < kChains; ++i) total += acc[i];
  *sink = xsimd::hadd(total);
  return 2.0 * static_cast<double>(B::size) * kChains * static_cast<double>(iterations);
}

}  // namespace lsuv::kernels::simd

// Explicit instantiation of every functor for one architecture tag.
#define LSUV_INSTANTIATE_F32_KERNELS(ARCH)                         \
  template struct lsuv::kernels::simd::Conv2dF32<ARCH>;            \
  template struct lsuv::kernels::simd::LinearF32<ARCH>;            \
  template struct lsuv::kernels::simd::ReluF32<ARCH>;              \
  template struct lsuv::kernels::simd::MaxPool2dF32<ARCH>;         \
  template struct lsuv::kernels::simd::AvgPool2dF32<ARCH>;         \
  template struct lsuv::kernels::simd::GlobalAvgPoolF32<ARCH>;     \
  template struct lsuv::kernels::simd::AddChannelMomentsF32<ARCH>; \
  template struct lsuv::kernels::simd::FmaPeakF32<ARCH>
