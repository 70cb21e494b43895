// Backward of the pooling layers: each window's gradient is scattered over the inputs it read
// (after zeroing them in assign mode), so overlapping windows add up.
#include <cassert>
#include <cstdint>

#include "kernels/backward_ref.hpp"

namespace lsuv::kernels {
namespace {

void zero_if_assign(float* data, std::size_t n, GradWrite mode) {
  if (mode != GradWrite::assign) return;
  for (std::size_t i = 0; i < n; ++i) data[i] = 0.0f;
}

std::size_t pixel_index(const Pool2dParams& p, std::int32_t n, std::int32_t y, std::int32_t x) {
  return ((static_cast<std::size_t>(n) * p.in_h + y) * p.in_w + x) * p.channels;
}

}  // namespace

void max_pool2d_backward_f32_ref(const Pool2dParams& p, const float* input,
                                 const float* grad_output, float* grad_input, GradWrite mode) {
  assert(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0);
  zero_if_assign(grad_input, static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.channels,
                 mode);
  for (std::int32_t n = 0; n < p.batch; ++n) {
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        const float* dy =
            grad_output +
            ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.channels;
        for (std::int32_t c = 0; c < p.channels; ++c) {
          // The forward scan from -inf, but starting at the window's first real element, so that
          // a window of -inf still has one; it selects the same value as the forward.
          std::size_t selected = 0;
          float best = 0.0f;
          bool any = false;
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const std::int32_t iy = oy * p.stride_h - p.pad_h + ky;
            if (iy < 0 || iy >= p.in_h) continue;
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t ix = ox * p.stride_w - p.pad_w + kx;
              if (ix < 0 || ix >= p.in_w) continue;
              const std::size_t at = pixel_index(p, n, iy, ix) + static_cast<std::size_t>(c);
              const float x = input[at];
              if (!any || x > best || x != x) {
                selected = at;
                best = x;
                any = true;
              }
            }
          }
          assert(any);  // padding is at most half the window: a window always has an element
          grad_input[selected] += dy[c];
        }
      }
    }
  }
}

void avg_pool2d_backward_f32_ref(const Pool2dParams& p, const float* grad_output, float* grad_input,
                                 GradWrite mode) {
  assert(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0);
  zero_if_assign(grad_input, static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.channels,
                 mode);
  const float inverse_window = 1.0f / static_cast<float>(p.kernel_h * p.kernel_w);
  for (std::int32_t n = 0; n < p.batch; ++n) {
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        const float* dy =
            grad_output +
            ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.channels;
        for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
          const std::int32_t iy = oy * p.stride_h - p.pad_h + ky;
          if (iy < 0 || iy >= p.in_h) continue;
          for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
            const std::int32_t ix = ox * p.stride_w - p.pad_w + kx;
            if (ix < 0 || ix >= p.in_w) continue;
            float* dx = grad_input + pixel_index(p, n, iy, ix);
            for (std::int32_t c = 0; c < p.channels; ++c) dx[c] += dy[c] * inverse_window;
          }
        }
      }
    }
  }
}

void global_avg_pool_backward_f32_ref(std::int32_t batch, std::int32_t pixels,
                                      std::int32_t channels, const float* grad_output,
                                      float* grad_input, GradWrite mode, const ClampGate* gate) {
  assert(pixels > 0 && channels > 0);
  const float inverse = 1.0f / static_cast<float>(pixels);
  for (std::int32_t n = 0; n < batch; ++n) {
    const float* dy = grad_output + static_cast<std::size_t>(n) * channels;
    const std::size_t image = static_cast<std::size_t>(n) * pixels * channels;
    for (std::int32_t i = 0; i < pixels; ++i)
      for (std::int32_t c = 0; c < channels; ++c) {
        const std::size_t at = image + static_cast<std::size_t>(i) * channels + c;
        store_gradient(grad_input[at], gated(dy[c] * inverse, gate, at), mode);
      }
  }
}

}  // namespace lsuv::kernels
