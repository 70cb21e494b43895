// The library's forward layers evaluated in double, in its layouts (NHWC activations, conv
// weights [kh][kw][in/groups][out], linear [in][out]): what the gradient checks differentiate
// numerically. Each test also compares them with the float forward kernels, so the gradients
// checked are those of the forward the library runs.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/params.hpp"

namespace lsuv_test {

namespace kernels = lsuv::kernels;

// Output length of a window (PyTorch's floor rule).
inline std::int32_t window_output(std::int32_t in, std::int32_t k, std::int32_t s, std::int32_t pad,
                                  std::int32_t d) {
  return (in + 2 * pad - d * (k - 1) - 1) / s + 1;
}

// p with out_h and out_w set from the rest.
inline kernels::Conv2dParams derived(kernels::Conv2dParams p) {
  p.out_h = window_output(p.in_h, p.kernel_h, p.stride_h, p.pad_h, p.dilation_h);
  p.out_w = window_output(p.in_w, p.kernel_w, p.stride_w, p.pad_w, p.dilation_w);
  return p;
}
inline kernels::Pool2dParams derived(kernels::Pool2dParams p) {
  p.out_h = window_output(p.in_h, p.kernel_h, p.stride_h, p.pad_h, 1);
  p.out_w = window_output(p.in_w, p.kernel_w, p.stride_w, p.pad_w, 1);
  return p;
}

inline std::size_t input_size(const kernels::Conv2dParams& p) {
  return static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.in_c;
}
inline std::size_t output_size(const kernels::Conv2dParams& p) {
  return static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c;
}
inline std::size_t weight_size(const kernels::Conv2dParams& p) {
  return static_cast<std::size_t>(p.kernel_h) * p.kernel_w * (p.in_c / p.groups) * p.out_c;
}
inline std::size_t input_size(const kernels::Pool2dParams& p) {
  return static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.channels;
}
inline std::size_t output_size(const kernels::Pool2dParams& p) {
  return static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.channels;
}

// Taps in the padding read zero.
inline std::vector<double> conv2d_double(const kernels::Conv2dParams& p,
                                         const std::vector<double>& x, const std::vector<double>& w,
                                         const std::vector<double>& b) {
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  std::vector<double> y(output_size(p));
  for (std::int32_t n = 0; n < p.batch; ++n)
    for (std::int32_t oy = 0; oy < p.out_h; ++oy)
      for (std::int32_t ox = 0; ox < p.out_w; ++ox)
        for (std::int32_t o = 0; o < p.out_c; ++o) {
          const std::int32_t g = o / group_out;
          double sum = b[o];
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky)
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
              const std::int32_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
              if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
              for (std::int32_t i = 0; i < group_in; ++i)
                sum +=
                    x[((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.in_c +
                      g * group_in + i] *
                    w[((static_cast<std::size_t>(ky) * p.kernel_w + kx) * group_in + i) * p.out_c +
                      o];
            }
          y[((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.out_c + o] = sum;
        }
  return y;
}

inline std::vector<double> linear_double(const kernels::LinearParams& p,
                                         const std::vector<double>& x, const std::vector<double>& w,
                                         const std::vector<double>& b) {
  std::vector<double> y(static_cast<std::size_t>(p.batch) * p.out_features);
  for (std::int32_t n = 0; n < p.batch; ++n)
    for (std::int32_t o = 0; o < p.out_features; ++o) {
      double sum = b[o];
      for (std::int32_t i = 0; i < p.in_features; ++i)
        sum += x[static_cast<std::size_t>(n) * p.in_features + i] *
               w[static_cast<std::size_t>(i) * p.out_features + o];
      y[static_cast<std::size_t>(n) * p.out_features + o] = sum;
    }
  return y;
}

// Max over the window's real elements, or the window's sum divided by kernel_h * kernel_w
// (count_include_pad).
inline std::vector<double> pool_double(const kernels::Pool2dParams& p, const std::vector<double>& x,
                                       bool max) {
  std::vector<double> y(output_size(p));
  for (std::int32_t n = 0; n < p.batch; ++n)
    for (std::int32_t oy = 0; oy < p.out_h; ++oy)
      for (std::int32_t ox = 0; ox < p.out_w; ++ox)
        for (std::int32_t c = 0; c < p.channels; ++c) {
          double acc = max ? -INFINITY : 0.0;
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky)
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t iy = oy * p.stride_h - p.pad_h + ky;
              const std::int32_t ix = ox * p.stride_w - p.pad_w + kx;
              if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) continue;
              const double v =
                  x[((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.channels + c];
              acc = max ? std::fmax(acc, v) : acc + v;
            }
          y[((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.channels + c] =
              max ? acc : acc / (p.kernel_h * p.kernel_w);
        }
  return y;
}

// Mean over rows of log(sum exp z) - z[label], about each row's maximum.
inline double cross_entropy_double(std::int32_t batch, std::int32_t classes,
                                   const std::vector<double>& z,
                                   const std::vector<std::int32_t>& labels) {
  double total = 0.0;
  for (std::int32_t b = 0; b < batch; ++b) {
    const double* row = z.data() + static_cast<std::size_t>(b) * classes;
    double top = row[0];
    for (std::int32_t j = 1; j < classes; ++j) top = std::fmax(top, row[j]);
    double sum = 0.0;
    for (std::int32_t j = 0; j < classes; ++j) sum += std::exp(row[j] - top);
    total += top + std::log(sum) - row[labels[b]];
  }
  return total / batch;
}

}  // namespace lsuv_test
