// A configured Model evaluated in double, op by op over its records, with every parameter taken
// from a double copy the test can perturb: what the whole-model gradient checks differentiate.
// The per-op forwards are double_forward.hpp's (themselves checked against the float kernels).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "double_forward.hpp"
#include "lsuv/model.hpp"

namespace lsuv_test {

// weights[i] and bias[i]: op i's parameters in double (empty when it has none).
struct DoubleParameters {
  std::vector<std::vector<double>> weights, bias;
};

inline DoubleParameters double_parameters(const lsuv::Model& model) {
  DoubleParameters p;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    p.weights.emplace_back(layer.weights, layer.weights + layer.weight_count);
    p.bias.emplace_back(layer.bias, layer.bias + layer.bias_count);
  }
  return p;
}

inline kernels::Conv2dParams conv_params(const lsuv::Layer& l, std::int32_t batch) {
  const lsuv::LayerSpec& s = l.spec;
  return {batch,           l.input.height, l.input.width,     l.input.channels,
          l.output.height, l.output.width, l.output.channels, s.kernel_h,
          s.kernel_w,      s.stride_h,     s.stride_w,        s.pad_h,
          s.pad_w,         s.dilation_h,   s.dilation_w,      s.groups};
}

inline kernels::Pool2dParams pool_params(const lsuv::Layer& l, std::int32_t batch) {
  const lsuv::LayerSpec& s = l.spec;
  return {batch,           l.input.height, l.input.width, l.input.channels,
          l.output.height, l.output.width, s.kernel_h,    s.kernel_w,
          s.stride_h,      s.stride_w,     s.pad_h,       s.pad_w};
}

// The network's output for `batch` images (NHWC, in double).
inline std::vector<double> model_forward_double(const lsuv::Model& model,
                                                const DoubleParameters& params,
                                                const std::vector<double>& input,
                                                std::int32_t batch) {
  using lsuv::LayerKind;
  const std::int32_t n = model.layer_count();
  std::vector<std::vector<double>> out(static_cast<std::size_t>(n));
  for (std::int32_t i = 0; i < n; ++i) {
    const lsuv::Layer& l = model.layer(i);
    const auto in = [&](std::int32_t k) -> const std::vector<double>& {
      return l.inputs[k] < 0 ? input : out[static_cast<std::size_t>(l.inputs[k])];
    };
    const std::vector<double>& x = in(0);
    std::vector<double>& y = out[static_cast<std::size_t>(i)];
    const std::vector<double>& w = params.weights[static_cast<std::size_t>(i)];
    std::vector<double> b = params.bias[static_cast<std::size_t>(i)];
    switch (l.spec.kind) {
      case LayerKind::conv2d:
        if (b.empty()) b.assign(static_cast<std::size_t>(l.output.channels), 0.0);
        y = conv2d_double(conv_params(l, batch), x, w, b);
        break;
      case LayerKind::linear:
        if (b.empty()) b.assign(static_cast<std::size_t>(l.output.channels), 0.0);
        y = linear_double({batch, static_cast<std::int32_t>(l.input.elements()), l.output.channels},
                          x, w, b);
        break;
      case LayerKind::relu:
      case LayerKind::relu6:
      case LayerKind::hardtanh: {
        const double lo = l.spec.kind == LayerKind::hardtanh ? l.spec.clamp_min : 0.0;
        const double hi = l.spec.kind == LayerKind::relu ? std::numeric_limits<double>::infinity()
                          : l.spec.kind == LayerKind::relu6 ? 6.0
                                                            : l.spec.clamp_max;
        y = x;
        for (double& v : y) v = v < lo ? lo : (v > hi ? hi : v);
        break;
      }
      case LayerKind::max_pool2d:
      case LayerKind::avg_pool2d:
        y = pool_double(pool_params(l, batch), x, l.spec.kind == LayerKind::max_pool2d);
        break;
      case LayerKind::adaptive_avg_pool2d: {
        const std::size_t pixels = static_cast<std::size_t>(l.input.height) * l.input.width;
        const std::size_t c = static_cast<std::size_t>(l.input.channels);
        y.assign(static_cast<std::size_t>(batch) * c, 0.0);
        for (std::size_t k = 0; k < x.size(); ++k) y[k / (pixels * c) * c + k % c] += x[k];
        for (double& v : y) v /= static_cast<double>(pixels);
        break;
      }
      case LayerKind::flatten:
        y = x;
        break;
      case LayerKind::add:
        y = x;
        for (std::int32_t k = 1; k < l.input_count; ++k)
          for (std::size_t e = 0; e < y.size(); ++e) y[e] += in(k)[e];
        if (l.spec.relu)
          for (double& v : y) v = v > 0.0 ? v : 0.0;
        break;
      case LayerKind::batch_norm2d: {
        const std::size_t c = static_cast<std::size_t>(l.output.channels);
        y = x;
        for (std::size_t e = 0; e < y.size(); ++e) {
          const std::size_t ch = e % c;
          y[e] = (y[e] - l.running_mean[ch]) /
                     std::sqrt(static_cast<double>(l.running_var[ch]) + l.spec.eps) * w[ch] +
                 b[ch];
        }
        break;
      }
    }
  }
  return out[static_cast<std::size_t>(n - 1)];
}

}  // namespace lsuv_test
