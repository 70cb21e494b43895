// Conv2d and linear input gradients as forward GEMMs (igemm.hpp). With stride 1, the input
// gradient of a convolution is a convolution of grad_output: kernel flipped in both axes,
// input and output channels swapped within each group, padding (kernel - 1) * dilation - pad
// (Dumoulin & Visin, "A guide to convolution arithmetic", 2016). The swapped weights
// [kh][kw][out_c / groups][in_c] are written into the caller's scratch, followed by the igemm's
// own; the GEMM adds into grad_input for GradWrite::accumulate. On AVX-512 an input of up to 8
// channels (the GEMM's columns) runs AVX2's 8-float tiles, which it fills. A linear layer's input
// gradient is the linear layer with the transposed weights. Stride > 1 and padding past the
// kernel's reach, with one group, go image by image: the columns cols[p][k] = sum_o
// grad_output[p][o] * w[k][o] (that linear input gradient over the image's pixels) are added
// into the input pixel each tap reads (col2im); with several groups they run the reference.
//
// Included only by backward_impl.hpp (per-ISA TUs); internal linkage throughout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "kernels/backward_params.hpp"
#include "kernels/params.hpp"
#include "kernels/simd/clamp_gate.hpp"
#include "kernels/simd/igemm.hpp"
#include "kernels/simd/narrow_arch.hpp"
#include "kernels/simd/sizes.hpp"

namespace lsuv::kernels::simd {
namespace {

constexpr bool input_grad_applies(const Conv2dParams& p) {
  return p.stride_h == 1 && p.stride_w == 1 && p.pad_h <= (p.kernel_h - 1) * p.dilation_h &&
         p.pad_w <= (p.kernel_w - 1) * p.dilation_w;
}

// The forward convolution whose output is grad_input (input_grad_applies(p)).
constexpr Conv2dParams transposed_conv(const Conv2dParams& p) {
  return {p.batch,
          p.out_h,
          p.out_w,
          p.out_c,
          p.in_h,
          p.in_w,
          p.in_c,
          p.kernel_h,
          p.kernel_w,
          1,
          1,
          (p.kernel_h - 1) * p.dilation_h - p.pad_h,
          (p.kernel_w - 1) * p.dilation_w - p.pad_w,
          p.dilation_h,
          p.dilation_w,
          p.groups};
}

inline std::size_t transposed_weight_bytes(const Conv2dParams& p) {
  return align_up(static_cast<std::size_t>(p.kernel_h) * p.kernel_w * (p.out_c / p.groups) *
                  p.in_c * sizeof(float));
}

template <class Arch>
constexpr bool input_grad_narrow(const Conv2dParams& p) {
  return !std::is_same<typename NarrowArch<Arch>::type, Arch>::value && p.in_c <= 8;
}

template <class Arch>
std::size_t conv2d_input_grad_scratch_bytes(const Conv2dParams& p) {
  const Conv2dParams t = transposed_conv(p);
  return transposed_weight_bytes(p) + (input_grad_narrow<Arch>(p)
                                           ? igemm_layout<typename NarrowArch<Arch>::type>(t).bytes
                                           : igemm_layout<Arch>(t).bytes);
}

// gate: applied by the GEMM's epilogue (assign only).
template <class Arch>
void conv2d_input_grad(const Conv2dParams& p, const float* grad_output, const float* weights,
                       float* grad_input, GradWrite mode, const ClampGate* gate, void* scratch) {
  assert(input_grad_applies(p));
  assert(gate == nullptr || mode == GradWrite::assign);
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  float* swapped = static_cast<float*>(scratch);
  const std::int32_t taps = p.kernel_h * p.kernel_w;
  for (std::int32_t t = 0; t < taps; ++t) {
    const float* from = weights + static_cast<std::size_t>(taps - 1 - t) * group_in * p.out_c;
    float* to = swapped + static_cast<std::size_t>(t) * group_out * p.in_c;
    for (std::int32_t c = 0; c < p.in_c; ++c) {
      const float* w = from + static_cast<std::size_t>(c % group_in) * p.out_c +
                       static_cast<std::size_t>(c / group_in) * group_out;
      for (std::int32_t o = 0; o < group_out; ++o)
        to[static_cast<std::size_t>(o) * p.in_c + c] = w[o];
    }
  }
  void* gemm_scratch = static_cast<unsigned char*>(scratch) + transposed_weight_bytes(p);
  const bool add = mode == GradWrite::accumulate;
  if (input_grad_narrow<Arch>(p))
    return conv2d_igemm<typename NarrowArch<Arch>::type>(
        transposed_conv(p), grad_output, swapped, nullptr, grad_input, {}, gemm_scratch, add, gate);
  conv2d_igemm<Arch>(transposed_conv(p), grad_output, swapped, nullptr, grad_input, {},
                     gemm_scratch, add, gate);
}

// grad_input = grad_output x weights^T: the linear layer from out_features to in_features.
constexpr LinearParams transposed_linear(const LinearParams& p) {
  return {p.batch, p.out_features, p.in_features};
}

inline std::size_t transposed_linear_bytes(const LinearParams& p) {
  return align_up(static_cast<std::size_t>(p.in_features) * p.out_features * sizeof(float));
}

template <class Arch>
std::size_t linear_input_grad_scratch_bytes(const LinearParams& p) {
  return transposed_linear_bytes(p) +
         igemm_layout<Arch>(linear_as_conv(transposed_linear(p))).bytes;
}

// gate: applied by the GEMM's epilogue (assign only).
template <class Arch>
void linear_input_grad(const LinearParams& p, const float* grad_output, const float* weights,
                       float* grad_input, GradWrite mode, const ClampGate* gate, void* scratch) {
  assert(gate == nullptr || mode == GradWrite::assign);
  float* transposed = static_cast<float*>(scratch);
  for (std::int32_t i = 0; i < p.in_features; ++i)
    for (std::int32_t o = 0; o < p.out_features; ++o)
      transposed[static_cast<std::size_t>(o) * p.in_features + i] =
          weights[static_cast<std::size_t>(i) * p.out_features + o];
  conv2d_igemm<Arch>(linear_as_conv(transposed_linear(p)), grad_output, transposed, nullptr,
                     grad_input, {},
                     static_cast<unsigned char*>(scratch) + transposed_linear_bytes(p),
                     mode == GradWrite::accumulate, gate);
}

constexpr bool input_scatter_applies(const Conv2dParams& p) {
  return p.groups == 1;
}

// The image's columns as a linear layer: out_h * out_w rows, kh * kw * in_c features.
constexpr LinearParams image_columns(const Conv2dParams& p) {
  return {p.out_h * p.out_w, p.kernel_h * p.kernel_w * p.in_c, p.out_c};
}

template <class Arch>
std::size_t input_scatter_gemm_bytes(const Conv2dParams& p) {
  return linear_input_grad_scratch_bytes<Arch>(image_columns(p));
}

template <class Arch>
std::size_t conv2d_input_scatter_scratch_bytes(const Conv2dParams& p) {
  const LinearParams c = image_columns(p);
  return input_scatter_gemm_bytes<Arch>(p) +
         align_up(static_cast<std::size_t>(c.batch) * c.in_features * sizeof(float));
}

// gate: a pass over each image once its taps are in (assign only).
template <class Arch>
void conv2d_input_scatter(const Conv2dParams& p, const float* grad_output, const float* weights,
                          float* grad_input, GradWrite mode, const ClampGate* gate, void* scratch) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  assert(input_scatter_applies(p));
  assert(gate == nullptr || mode == GradWrite::assign);
  const LinearParams c = image_columns(p);
  float* cols = reinterpret_cast<float*>(static_cast<unsigned char*>(scratch) +
                                         input_scatter_gemm_bytes<Arch>(p));
  const std::size_t image_in = static_cast<std::size_t>(p.in_h) * p.in_w * p.in_c;
  if (mode == GradWrite::assign)
    std::memset(grad_input, 0, static_cast<std::size_t>(p.batch) * image_in * sizeof(float));
  for (std::int32_t n = 0; n < p.batch; ++n) {
    linear_input_grad<Arch>(c, grad_output + static_cast<std::size_t>(n) * c.batch * p.out_c,
                            weights, cols, GradWrite::assign, nullptr, scratch);
    float* image = grad_input + static_cast<std::size_t>(n) * image_in;
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        const float* col = cols + (static_cast<std::size_t>(oy) * p.out_w + ox) * c.in_features;
        for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
          const std::int32_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
          if (iy < 0 || iy >= p.in_h) continue;
          for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
            const std::int32_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
            if (ix < 0 || ix >= p.in_w) continue;
            float* dx = image + (static_cast<std::size_t>(iy) * p.in_w + ix) * p.in_c;
            const float* g = col + static_cast<std::size_t>(ky * p.kernel_w + kx) * p.in_c;
            std::int32_t i = 0;
            for (; i + W <= p.in_c; i += W)
              (B::load_unaligned(dx + i) + B::load_unaligned(g + i)).store_unaligned(dx + i);
            for (; i < p.in_c; ++i) dx[i] += g[i];
          }
        }
      }
    }
    if (gate != nullptr) {
      const ClampGate image_gate = {gate->output + static_cast<std::size_t>(n) * image_in, gate->lo,
                                    gate->hi};
      gate_in_place<Arch>(image_in, image, image_gate);
    }
  }
}

}  // namespace
}  // namespace lsuv::kernels::simd
