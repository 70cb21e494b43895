// Bodies of the SIMD float functors (declared in f32_functors.hpp). Include only from a per-ISA
// TU compiled with that ISA's flags, then instantiate with LSUV_INSTANTIATE_F32_KERNELS.
#pragma once

#include "kernels/simd/elementwise.hpp"
#include "kernels/simd/f32_functors.hpp"
#include "kernels/simd/fmadd.hpp"
#include "kernels/simd/igemm.hpp"
#if defined(__AVX512F__)
#include "kernels/simd/conv2d_pixels.hpp"
#endif

namespace lsuv::kernels::simd {

template <class Arch>
void Conv2dF32<Arch>::run(const Conv2dParams& p, const float* input, const float* weights,
                          const float* bias, float* output, const F32Epilogue& epilogue,
                          void* scratch) {
  assert(p.groups > 0 && p.in_c % p.groups == 0 && p.out_c % p.groups == 0);
  assert(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
  if (p.batch <= 0 || p.out_h <= 0 || p.out_w <= 0) return;
#if defined(__AVX512F__)
  if (conv2d_pixels_applies(p))
    return conv2d_pixels<Arch>(p, input, weights, bias, output, epilogue, scratch);
#endif
  if (is_depthwise(p))
    conv2d_depthwise<Arch>(p, input, weights, bias, output, epilogue);
  else
    conv2d_igemm<Arch>(p, input, weights, bias, output, epilogue, scratch);
}

template <class Arch>
std::size_t Conv2dF32<Arch>::scratch_bytes(const Conv2dParams& p) {
#if defined(__AVX512F__)
  if (conv2d_pixels_applies(p)) return conv2d_pixels_scratch_bytes<Arch>(p);
#endif
  return is_depthwise(p) ? 0 : igemm_layout<Arch>(p).bytes;
}

template <class Arch>
void LinearF32<Arch>::run(const LinearParams& p, const float* input, const float* weights,
                          const float* bias, float* output, const F32Epilogue& epilogue,
                          void* scratch) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  if (p.batch <= 0) return;
  conv2d_igemm<Arch>(linear_as_conv(p), input, weights, bias, output, epilogue, scratch);
}

template <class Arch>
std::size_t LinearF32<Arch>::scratch_bytes(const LinearParams& p) {
  return igemm_layout<Arch>(linear_as_conv(p)).bytes;
}

template <class Arch>
void ClampF32<Arch>::run(std::size_t n, const float* input, float* output, float lo, float hi) {
  clamp_f32<Arch>(n, input, output, lo, hi);
}

template <class Arch>
void AddF32<Arch>::run(std::size_t rows, std::size_t channels, const float* const* inputs,
                       std::int32_t count, float* output, const F32Epilogue& epilogue) {
  assert(count >= 2 && count <= 4 && inputs != nullptr);
  add_f32<Arch>(rows, channels, inputs, count, output, epilogue);
}

template <class Arch>
void ChannelAffineF32<Arch>::run(std::size_t rows, std::size_t channels, const float* input,
                                 const float* scale, const float* shift, float* output,
                                 const F32Epilogue& epilogue) {
  assert(channels > 0 && scale != nullptr && shift != nullptr);
  channel_affine_f32<Arch>(rows, channels, input, scale, shift, output, epilogue);
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
                                     ChannelMoments* moments) {
  assert(channels > 0 && moments != nullptr);
  add_channel_moments_f32<Arch>(data, rows, channels, moments);
}

template <class Arch>
double FmaPeakF32<Arch>::run(std::int64_t iterations, float* sink) {
  using B = xsimd::batch<float, Arch>;
  // 12 chains fill 16-register files (two more hold the operands); 24 fill 32-register ones.
  constexpr int kChains = TileShape<Arch>::kWideFile ? 24 : 12;
  B acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = B(static_cast<float>(i) * 1e-3f);
  const B scale(0.999999f), step(1e-7f);
  // Unrolled, so that the chains live in registers (GCC 12 keeps a 24-long loop in memory).
  for (std::int64_t n = 0; n < iterations; ++n) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = fmadd(acc[i], scale, step);
  }
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
  template struct lsuv::kernels::simd::ClampF32<ARCH>;             \
  template struct lsuv::kernels::simd::AddF32<ARCH>;               \
  template struct lsuv::kernels::simd::ChannelAffineF32<ARCH>;     \
  template struct lsuv::kernels::simd::MaxPool2dF32<ARCH>;         \
  template struct lsuv::kernels::simd::AvgPool2dF32<ARCH>;         \
  template struct lsuv::kernels::simd::GlobalAvgPoolF32<ARCH>;     \
  template struct lsuv::kernels::simd::AddChannelMomentsF32<ARCH>; \
  template struct lsuv::kernels::simd::FmaPeakF32<ARCH>
