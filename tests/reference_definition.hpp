// The float layers as PyTorch defines them, in PyTorch's own layouts, for tests.
//
// Activations are NCHW, conv weights OIHW, linear weights [out][in]: what torch.nn documents,
// written straight from the textbook formulas and evaluated in double. Nothing here shares code,
// layout or index arithmetic with src/kernels or Model, so a test that compares the two proves
// the library's NHWC kernels, packed weights and Layer::parameter_index against PyTorch.
//
// Every value carries an error bound: how far a float32 evaluation of the same formula may land
// from it, summing in any order, with or without FMA. A reduction of K products whose absolute
// values add up to m rounds by at most about K * 2^-24 * m in float; the bound is twice that,
// (K + 2) * FLT_EPSILON * m, plus what the inputs' own bounds propagate. It scales with the
// reduction length yet stays far below the O(m) error of a misplaced weight or pixel.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

namespace lsuv::testing {

// An N x C x H x W tensor, row-major as in PyTorch, with each element's float32 error bound.
struct NchwTensor {
  std::int32_t n = 0, c = 0, h = 0, w = 0;
  std::vector<double> value;
  std::vector<double> error_bound;

  NchwTensor() = default;
  NchwTensor(std::int32_t batch, std::int32_t channels, std::int32_t height, std::int32_t width)
      : n(batch), c(channels), h(height), w(width), value(size()), error_bound(size()) {}

  std::size_t size() const { return static_cast<std::size_t>(n) * c * h * w; }
  std::size_t index(std::int32_t in, std::int32_t ic, std::int32_t y, std::int32_t x) const {
    return ((static_cast<std::size_t>(in) * c + ic) * h + y) * w + x;
  }
};

// torch.nn.Conv2d's constructor arguments.
struct Conv2dArgs {
  std::int32_t in_channels = 1, out_channels = 1;
  std::int32_t kernel_h = 1, kernel_w = 1;
  std::int32_t stride_h = 1, stride_w = 1;
  std::int32_t pad_h = 0, pad_w = 0;
  std::int32_t dilation_h = 1, dilation_w = 1;
  std::int32_t groups = 1;
};

// torch.nn.MaxPool2d / AvgPool2d with ceil_mode=False (AvgPool2d: count_include_pad=True).
struct Pool2dArgs {
  std::int32_t kernel_h = 1, kernel_w = 1;
  std::int32_t stride_h = 1, stride_w = 1;
  std::int32_t pad_h = 0, pad_w = 0;
};

// PyTorch's output length floor((in + 2 pad - dilation (kernel - 1) - 1) / stride) + 1, or 0
// when that is not positive (PyTorch rejects the layer).
inline std::int32_t output_size(std::int32_t in, std::int32_t kernel, std::int32_t stride,
                                std::int32_t pad, std::int32_t dilation) {
  const std::int32_t reach = in + 2 * pad - dilation * (kernel - 1) - 1;
  return reach < 0 ? 0 : reach / stride + 1;
}

// Float rounding of a K-term reduction whose terms add up to `magnitude` in absolute value.
inline double rounding_bound(double terms, double magnitude) {
  return (terms + 2.0) * FLT_EPSILON * magnitude;
}

// Exact float data in NCHW order (error bound zero).
inline NchwTensor from_nchw(std::int32_t n, std::int32_t c, std::int32_t h, std::int32_t w,
                            const std::vector<float>& data) {
  NchwTensor t(n, c, h, w);
  for (std::size_t i = 0; i < t.size(); ++i) t.value[i] = data[i];
  return t;
}

// out[n][o][y][x] = bias[o] + sum over the group's input channels i and taps (ky, kx) of
// in[n][g * in/groups + i][y * stride - pad + ky * dilation][...] * weight[o][i][ky][kx],
// where g = o / (out/groups) and taps outside the input read zeros. `bias` may be empty.
inline NchwTensor conv2d(const NchwTensor& x, const std::vector<float>& weight,
                         const std::vector<float>& bias, const Conv2dArgs& a) {
  const std::int32_t out_h = output_size(x.h, a.kernel_h, a.stride_h, a.pad_h, a.dilation_h);
  const std::int32_t out_w = output_size(x.w, a.kernel_w, a.stride_w, a.pad_w, a.dilation_w);
  NchwTensor y(x.n, a.out_channels, out_h, out_w);
  const std::int32_t in_per_group = a.in_channels / a.groups;
  const std::int32_t out_per_group = a.out_channels / a.groups;
  const double terms = static_cast<double>(in_per_group) * a.kernel_h * a.kernel_w;
  for (std::int32_t n = 0; n < y.n; ++n)
    for (std::int32_t o = 0; o < y.c; ++o)
      for (std::int32_t oy = 0; oy < y.h; ++oy)
        for (std::int32_t ox = 0; ox < y.w; ++ox) {
          const std::int32_t group = o / out_per_group;
          double sum = bias.empty() ? 0.0 : bias[o];
          double magnitude = std::fabs(sum);
          double inherited = 0.0;
          for (std::int32_t i = 0; i < in_per_group; ++i)
            for (std::int32_t ky = 0; ky < a.kernel_h; ++ky)
              for (std::int32_t kx = 0; kx < a.kernel_w; ++kx) {
                const std::int32_t iy = oy * a.stride_h - a.pad_h + ky * a.dilation_h;
                const std::int32_t ix = ox * a.stride_w - a.pad_w + kx * a.dilation_w;
                if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
                const std::size_t at = x.index(n, group * in_per_group + i, iy, ix);
                const double w =
                    weight[((static_cast<std::size_t>(o) * in_per_group + i) * a.kernel_h + ky) *
                               a.kernel_w +
                           kx];
                sum += x.value[at] * w;
                magnitude += std::fabs(x.value[at] * w);
                inherited += std::fabs(w) * x.error_bound[at];
              }
          const std::size_t at = y.index(n, o, oy, ox);
          y.value[at] = sum;
          y.error_bound[at] =
              inherited * (1.0 + terms * FLT_EPSILON) + rounding_bound(terms, magnitude);
        }
  return y;
}

// torch.nn.Flatten: image n becomes one vector of C x H x W features, numbered c * H * W + y * W
// + x (which is the NCHW storage order, so only the shape changes).
inline NchwTensor flatten(const NchwTensor& x) {
  NchwTensor y = x;
  y.c = x.c * x.h * x.w;
  y.h = 1;
  y.w = 1;
  return y;
}

// out[n][o] = bias[o] + sum_f in[n][f] * weight[o][f] over a flattened input (N x F x 1 x 1).
inline NchwTensor linear(const NchwTensor& x, const std::vector<float>& weight,
                         const std::vector<float>& bias, std::int32_t out_features) {
  const std::int32_t in_features = x.c * x.h * x.w;
  NchwTensor y(x.n, out_features, 1, 1);
  for (std::int32_t n = 0; n < x.n; ++n)
    for (std::int32_t o = 0; o < out_features; ++o) {
      double sum = bias.empty() ? 0.0 : bias[o];
      double magnitude = std::fabs(sum);
      double inherited = 0.0;
      for (std::int32_t f = 0; f < in_features; ++f) {
        const std::size_t at = static_cast<std::size_t>(n) * in_features + f;
        const double w = weight[static_cast<std::size_t>(o) * in_features + f];
        sum += x.value[at] * w;
        magnitude += std::fabs(x.value[at] * w);
        inherited += std::fabs(w) * x.error_bound[at];
      }
      const std::size_t at = y.index(n, o, 0, 0);
      y.value[at] = sum;
      y.error_bound[at] =
          inherited * (1.0 + in_features * FLT_EPSILON) + rounding_bound(in_features, magnitude);
    }
  return y;
}

// max(0, x); exact, so the bound carries over.
inline NchwTensor relu(const NchwTensor& x) {
  NchwTensor y = x;
  for (double& v : y.value) v = std::max(v, 0.0);
  return y;
}

// min(max(x, lo), hi): ReLU6 and Hardtanh; exact, so the bound carries over.
inline NchwTensor clamp(const NchwTensor& x, double lo, double hi) {
  NchwTensor y = x;
  for (double& v : y.value) v = std::min(std::max(v, lo), hi);
  return y;
}

// The element-wise sum of tensors of one shape: one float rounding per term.
inline NchwTensor add(const std::vector<const NchwTensor*>& terms) {
  NchwTensor y = *terms[0];
  for (std::size_t i = 0; i < y.size(); ++i) {
    double sum = 0.0, magnitude = 0.0, inherited = 0.0;
    for (const NchwTensor* t : terms) {
      sum += t->value[i];
      magnitude += std::fabs(t->value[i]);
      inherited += t->error_bound[i];
    }
    y.value[i] = sum;
    y.error_bound[i] = inherited + rounding_bound(static_cast<double>(terms.size()), magnitude);
  }
  return y;
}

// torch.nn.BatchNorm2d in eval mode: (x - mean) / sqrt(var + eps) * gamma + beta per channel.
inline NchwTensor batch_norm2d(const NchwTensor& x, const std::vector<float>& gamma,
                               const std::vector<float>& beta, const std::vector<float>& mean,
                               const std::vector<float>& var, double eps) {
  NchwTensor y = x;
  for (std::int32_t n = 0; n < x.n; ++n)
    for (std::int32_t c = 0; c < x.c; ++c) {
      const double scale = gamma[c] / std::sqrt(var[c] + eps);
      for (std::int32_t yy = 0; yy < x.h; ++yy)
        for (std::int32_t xx = 0; xx < x.w; ++xx) {
          const std::size_t at = x.index(n, c, yy, xx);
          y.value[at] = (x.value[at] - mean[c]) * scale + beta[c];
          // scale and shift are computed in float, then one multiply-add.
          const double magnitude =
              std::fabs(x.value[at] * scale) + std::fabs(mean[c] * scale) + std::fabs(beta[c]);
          y.error_bound[at] = x.error_bound[at] * std::fabs(scale) * (1.0 + 8 * FLT_EPSILON) +
                              rounding_bound(8.0, magnitude);
        }
    }
  return y;
}

// The largest input in each window; taps in the padding are not candidates.
inline NchwTensor max_pool2d(const NchwTensor& x, const Pool2dArgs& a) {
  NchwTensor y(x.n, x.c, output_size(x.h, a.kernel_h, a.stride_h, a.pad_h, 1),
               output_size(x.w, a.kernel_w, a.stride_w, a.pad_w, 1));
  for (std::int32_t n = 0; n < y.n; ++n)
    for (std::int32_t c = 0; c < y.c; ++c)
      for (std::int32_t oy = 0; oy < y.h; ++oy)
        for (std::int32_t ox = 0; ox < y.w; ++ox) {
          double best = -INFINITY;
          double bound = 0.0;
          for (std::int32_t ky = 0; ky < a.kernel_h; ++ky)
            for (std::int32_t kx = 0; kx < a.kernel_w; ++kx) {
              const std::int32_t iy = oy * a.stride_h - a.pad_h + ky;
              const std::int32_t ix = ox * a.stride_w - a.pad_w + kx;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              const std::size_t at = x.index(n, c, iy, ix);
              best = std::max(best, x.value[at]);
              bound = std::max(bound, x.error_bound[at]);
            }
          const std::size_t at = y.index(n, c, oy, ox);
          y.value[at] = best;
          y.error_bound[at] = bound;
        }
  return y;
}

// The window's sum divided by kernel_h * kernel_w: padding counts as zeros in the divisor.
inline NchwTensor avg_pool2d(const NchwTensor& x, const Pool2dArgs& a) {
  NchwTensor y(x.n, x.c, output_size(x.h, a.kernel_h, a.stride_h, a.pad_h, 1),
               output_size(x.w, a.kernel_w, a.stride_w, a.pad_w, 1));
  const double window = static_cast<double>(a.kernel_h) * a.kernel_w;
  for (std::int32_t n = 0; n < y.n; ++n)
    for (std::int32_t c = 0; c < y.c; ++c)
      for (std::int32_t oy = 0; oy < y.h; ++oy)
        for (std::int32_t ox = 0; ox < y.w; ++ox) {
          double sum = 0.0, magnitude = 0.0, inherited = 0.0;
          for (std::int32_t ky = 0; ky < a.kernel_h; ++ky)
            for (std::int32_t kx = 0; kx < a.kernel_w; ++kx) {
              const std::int32_t iy = oy * a.stride_h - a.pad_h + ky;
              const std::int32_t ix = ox * a.stride_w - a.pad_w + kx;
              if (iy < 0 || iy >= x.h || ix < 0 || ix >= x.w) continue;
              const std::size_t at = x.index(n, c, iy, ix);
              sum += x.value[at];
              magnitude += std::fabs(x.value[at]);
              inherited += x.error_bound[at];
            }
          const std::size_t at = y.index(n, c, oy, ox);
          y.value[at] = sum / window;
          // One more rounding than a sum: the scale by the (rounded) reciprocal of the window.
          y.error_bound[at] = (inherited + rounding_bound(window + 1.0, magnitude)) / window;
        }
  return y;
}

// torch.nn.AdaptiveAvgPool2d(1): the mean of each (image, channel) plane.
inline NchwTensor adaptive_avg_pool2d(const NchwTensor& x) {
  NchwTensor y(x.n, x.c, 1, 1);
  const double pixels = static_cast<double>(x.h) * x.w;
  for (std::int32_t n = 0; n < x.n; ++n)
    for (std::int32_t c = 0; c < x.c; ++c) {
      double sum = 0.0, magnitude = 0.0, inherited = 0.0;
      for (std::int32_t iy = 0; iy < x.h; ++iy)
        for (std::int32_t ix = 0; ix < x.w; ++ix) {
          const std::size_t at = x.index(n, c, iy, ix);
          sum += x.value[at];
          magnitude += std::fabs(x.value[at]);
          inherited += x.error_bound[at];
        }
      const std::size_t at = y.index(n, c, 0, 0);
      y.value[at] = sum / pixels;
      y.error_bound[at] = (inherited + rounding_bound(pixels + 1.0, magnitude)) / pixels;
    }
  return y;
}

// --- Moving data between PyTorch's layouts and the kernels' -----------------------------------

// NCHW floats to NHWC (the layout of lsuv's activations).
inline std::vector<float> nchw_to_nhwc(const std::vector<float>& nchw, std::int32_t n,
                                       std::int32_t c, std::int32_t h, std::int32_t w) {
  std::vector<float> nhwc(nchw.size());
  for (std::int32_t in = 0; in < n; ++in)
    for (std::int32_t ic = 0; ic < c; ++ic)
      for (std::int32_t y = 0; y < h; ++y)
        for (std::int32_t x = 0; x < w; ++x)
          nhwc[((static_cast<std::size_t>(in) * h + y) * w + x) * c + ic] =
              nchw[((static_cast<std::size_t>(in) * c + ic) * h + y) * w + x];
  return nhwc;
}

// OIHW conv weights to the kernels' [kh][kw][in/groups][out].
inline std::vector<float> oihw_to_kernel_layout(const std::vector<float>& oihw,
                                                const Conv2dArgs& a) {
  const std::int32_t in_per_group = a.in_channels / a.groups;
  std::vector<float> packed(oihw.size());
  for (std::int32_t o = 0; o < a.out_channels; ++o)
    for (std::int32_t i = 0; i < in_per_group; ++i)
      for (std::int32_t ky = 0; ky < a.kernel_h; ++ky)
        for (std::int32_t kx = 0; kx < a.kernel_w; ++kx)
          packed[((static_cast<std::size_t>(ky) * a.kernel_w + kx) * in_per_group + i) *
                     a.out_channels +
                 o] = oihw[((static_cast<std::size_t>(o) * in_per_group + i) * a.kernel_h + ky) *
                               a.kernel_w +
                           kx];
  return packed;
}

// [out][in] linear weights to the kernels' [in][out].
inline std::vector<float> transpose(const std::vector<float>& weight, std::int32_t rows,
                                    std::int32_t columns) {
  std::vector<float> transposed(weight.size());
  for (std::int32_t r = 0; r < rows; ++r)
    for (std::int32_t c = 0; c < columns; ++c)
      transposed[static_cast<std::size_t>(c) * rows + r] =
          weight[static_cast<std::size_t>(r) * columns + c];
  return transposed;
}

// --- Comparing --------------------------------------------------------------------------------

struct Mismatch {
  std::size_t count = 0;     // elements outside their bound (NaN counts as outside)
  std::size_t first = 0;     // NCHW index of the first of them
  double worst_ratio = 0.0;  // largest |got - want| / bound among elements with a bound
};

// Compares NHWC floats of want's shape against want, element by element within error_bound.
inline Mismatch compare_nhwc(const NchwTensor& want, const float* got) {
  Mismatch result;
  for (std::int32_t n = 0; n < want.n; ++n)
    for (std::int32_t c = 0; c < want.c; ++c)
      for (std::int32_t y = 0; y < want.h; ++y)
        for (std::int32_t x = 0; x < want.w; ++x) {
          const std::size_t at = want.index(n, c, y, x);
          const double g =
              got[((static_cast<std::size_t>(n) * want.h + y) * want.w + x) * want.c + c];
          const double difference = std::fabs(g - want.value[at]);
          const double bound = want.error_bound[at];
          if (!(difference <= bound)) {
            if (result.count == 0) result.first = at;
            ++result.count;
          }
          if (bound > 0.0) result.worst_ratio = std::max(result.worst_ratio, difference / bound);
        }
  return result;
}

// Uniform floats in [-1, 1) from a generator whose sequence the standard fixes (unlike
// std::uniform_real_distribution's), so a seed means the same data with every library.
inline std::vector<float> random_floats(std::mt19937& rng, std::size_t count) {
  std::vector<float> values(count);
  for (float& v : values) v = static_cast<float>(rng() >> 8) * (2.0f / 16777216.0f) - 1.0f;
  return values;
}

}  // namespace lsuv::testing
