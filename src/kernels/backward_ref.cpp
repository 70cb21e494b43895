// The reductions of the backward pass (conv2d, linear, bias): every gradient element is one sum,
// gathered from the tensors it depends on and stored once, the shape the SIMD GEMMs will have.
#include "kernels/backward_ref.hpp"

#include <cassert>
#include <cstdint>

namespace lsuv::kernels {

void conv2d_backward_input_f32_ref(const Conv2dParams& p, const float* grad_output,
                                   const float* weights, float* grad_input, GradWrite mode,
                                   const ClampGate* gate, void* /*scratch*/) {
  assert(p.groups > 0 && p.in_c % p.groups == 0 && p.out_c % p.groups == 0);
  assert(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    for (std::int32_t iy = 0; iy < p.in_h; ++iy) {
      for (std::int32_t ix = 0; ix < p.in_w; ++ix) {
        const std::size_t pixel =
            ((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.in_c;
        float* grad_in = grad_input + pixel;
        for (std::int32_t c = 0; c < p.in_c; ++c) {
          const std::int32_t g = c / group_in;
          const std::int32_t i = c % group_in;
          float sum = 0.0f;
          // Output row oy reads input row iy through tap ky when oy * stride - pad + ky *
          // dilation == iy.
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const std::int32_t ty = iy + p.pad_h - ky * p.dilation_h;
            if (ty < 0 || ty % p.stride_h != 0 || ty / p.stride_h >= p.out_h) continue;
            const std::int32_t oy = ty / p.stride_h;
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t tx = ix + p.pad_w - kx * p.dilation_w;
              if (tx < 0 || tx % p.stride_w != 0 || tx / p.stride_w >= p.out_w) continue;
              const std::int32_t ox = tx / p.stride_w;
              const float* dy =
                  grad_output +
                  ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.out_c +
                  static_cast<std::size_t>(g) * group_out;
              const float* w =
                  weights +
                  ((static_cast<std::size_t>(ky) * p.kernel_w + kx) * group_in + i) * p.out_c +
                  static_cast<std::size_t>(g) * group_out;
              for (std::int32_t o = 0; o < group_out; ++o) sum += dy[o] * w[o];
            }
          }
          store_gradient(grad_in[c], gated(sum, gate, pixel + c), mode);
        }
      }
    }
  }
}

std::size_t conv2d_backward_input_scratch_bytes_f32_ref(const Conv2dParams& /*p*/) {
  return 0;
}

void conv2d_backward_weights_f32_ref(const Conv2dParams& p, const float* input,
                                     const float* grad_output, float* grad_weights, GradWrite mode,
                                     void* /*scratch*/) {
  assert(p.groups > 0 && p.in_c % p.groups == 0 && p.out_c % p.groups == 0);
  assert(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
    for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
      for (std::int32_t i = 0; i < group_in; ++i) {
        float* grad_w = grad_weights +
                        ((static_cast<std::size_t>(ky) * p.kernel_w + kx) * group_in + i) * p.out_c;
        for (std::int32_t o = 0; o < p.out_c; ++o) {
          const std::int32_t c = o / group_out * group_in + i;  // the input channel it reads
          float sum = 0.0f;
          for (std::int32_t n = 0; n < p.batch; ++n) {
            for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
              const std::int32_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
              if (iy < 0 || iy >= p.in_h) continue;
              for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
                const std::int32_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
                if (ix < 0 || ix >= p.in_w) continue;
                sum += input[((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.in_c +
                             c] *
                       grad_output[((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) *
                                       p.out_c +
                                   o];
              }
            }
          }
          store_gradient(grad_w[o], sum, mode);
        }
      }
    }
  }
}

std::size_t conv2d_backward_weights_scratch_bytes_f32_ref(const Conv2dParams& /*p*/) {
  return 0;
}

void linear_backward_input_f32_ref(const LinearParams& p, const float* grad_output,
                                   const float* weights, float* grad_input, GradWrite mode,
                                   const ClampGate* gate, void* /*scratch*/) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  for (std::int32_t b = 0; b < p.batch; ++b) {
    const float* dy = grad_output + static_cast<std::size_t>(b) * p.out_features;
    const std::size_t row = static_cast<std::size_t>(b) * p.in_features;
    float* dx = grad_input + row;
    for (std::int32_t i = 0; i < p.in_features; ++i) {
      const float* w = weights + static_cast<std::size_t>(i) * p.out_features;
      float sum = 0.0f;
      for (std::int32_t o = 0; o < p.out_features; ++o) sum += dy[o] * w[o];
      store_gradient(dx[i], gated(sum, gate, row + i), mode);
    }
  }
}

std::size_t linear_backward_input_scratch_bytes_f32_ref(const LinearParams& /*p*/) {
  return 0;
}

void linear_backward_weights_f32_ref(const LinearParams& p, const float* input,
                                     const float* grad_output, float* grad_weights, GradWrite mode,
                                     void* /*scratch*/) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  for (std::int32_t i = 0; i < p.in_features; ++i) {
    float* dw = grad_weights + static_cast<std::size_t>(i) * p.out_features;
    for (std::int32_t o = 0; o < p.out_features; ++o) {
      float sum = 0.0f;
      for (std::int32_t b = 0; b < p.batch; ++b)
        sum += input[static_cast<std::size_t>(b) * p.in_features + i] *
               grad_output[static_cast<std::size_t>(b) * p.out_features + o];
      store_gradient(dw[o], sum, mode);
    }
  }
}

std::size_t linear_backward_weights_scratch_bytes_f32_ref(const LinearParams& /*p*/) {
  return 0;
}

void bias_backward_f32_ref(std::size_t rows, std::size_t channels, const float* grad_output,
                           float* grad_bias, GradWrite mode) {
  assert(channels > 0);
  for (std::size_t c = 0; c < channels; ++c) {
    float sum = 0.0f;
    for (std::size_t r = 0; r < rows; ++r) sum += grad_output[r * channels + c];
    store_gradient(grad_bias[c], sum, mode);
  }
}

}  // namespace lsuv::kernels
