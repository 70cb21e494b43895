// The backward kernels composed into whole small networks, as a training step will compose
// them: a residual block (conv with a ReLU fused into its epilogue, depthwise conv, frozen batch
// norm, an add whose first input's gradient reuses the output gradient's buffer and whose
// second fans out into a tensor conv2 also reads, a ReLU fused into the add, max pooling, a
// linear head and softmax cross-entropy) and a chain (dilated conv, a separate Hardtanh, padded
// average pooling, global average pooling, linear, MSE). The gradient of the loss with respect
// to the input and every trainable parameter is checked against central finite differences of
// the network in double.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "double_forward.hpp"
#include "gradient_check.hpp"
#include "kernels/backward_ref.hpp"
#include "kernels/loss_ref.hpp"
#include "kernels/reference.hpp"

namespace {

namespace kernels = lsuv::kernels;
using kernels::GradWrite;
using lsuv_test::derived;
using lsuv_test::normal_floats;
using lsuv_test::to_double;

using Tensors = std::vector<std::vector<float>>;
using DoubleTensors = std::vector<std::vector<double>>;

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> scaled(std::vector<float> v, float by) {
  for (float& x : v) x *= by;
  return v;
}

// Checks analytic[k], the gradient of tensor k, against finite differences of `loss`, a
// function of all tensors in double. A small step keeps every kink (ReLU, clamp, max) out of
// reach of the differences; double keeps their rounding far below float's.
template <class Loss>
void check_network(const Tensors& tensors, const Tensors& analytic, const char* const* names,
                   Loss loss) {
  REQUIRE(tensors.size() == analytic.size());
  const std::vector<float> one = {1.0f};
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    CAPTURE(std::string(names[k]));
    DoubleTensors all;
    for (const std::vector<float>& t : tensors) all.push_back(to_double(t));
    const std::vector<double> numeric = lsuv_test::numeric_gradient(
        tensors[k], one,
        [&](const std::vector<double>& t) {
          all[k] = t;
          return std::vector<double>{loss(all)};
        },
        1e-6);
    lsuv_test::check_gradient(analytic[k], numeric, 2e-5);
  }
}

std::vector<double> relu(std::vector<double> v) {
  for (double& x : v) x = x > 0.0 ? x : 0.0;
  return v;
}

TEST_CASE("network backward: a residual block with batch norm, max pooling and cross-entropy") {
  std::mt19937 gen(21);
  const std::int32_t batch = 2, classes = 3;
  const kernels::Conv2dParams p1 =
      derived(kernels::Conv2dParams{batch, 6, 6, 2, 0, 0, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1});
  const kernels::Conv2dParams p2 =
      derived(kernels::Conv2dParams{batch, 6, 6, 4, 0, 0, 4, 3, 3, 1, 1, 1, 1, 1, 1, 4});
  const kernels::Pool2dParams pool =
      derived(kernels::Pool2dParams{batch, 6, 6, 4, 0, 0, 2, 2, 2, 2, 0, 0});
  const kernels::LinearParams head = {batch, 3 * 3 * 4, classes};
  const std::size_t rows = static_cast<std::size_t>(batch) * 6 * 6, channels = 4;
  const float eps = 1e-5f;
  const std::vector<float> mean = normal_floats(channels, gen, 0.0f, 0.5f);
  const std::vector<float> var = {0.5f, 1.0f, 2.0f, 0.25f};
  const std::vector<std::int32_t> labels = {1, 2};
  enum { kX, kW1, kB1, kW2, kB2, kGamma, kBeta, kW4, kB4 };
  const char* const names[] = {"x",     "conv1.w", "conv1.b", "conv2.w", "conv2.b",
                               "gamma", "beta",    "fc.w",    "fc.b"};
  const Tensors t = {
      normal_floats(lsuv_test::input_size(p1), gen),
      scaled(normal_floats(lsuv_test::weight_size(p1), gen), 0.4f),
      normal_floats(channels, gen, 0.0f, 0.1f),
      scaled(normal_floats(lsuv_test::weight_size(p2), gen), 0.4f),
      normal_floats(channels, gen, 0.0f, 0.1f),
      normal_floats(channels, gen, 1.0f, 0.2f),
      normal_floats(channels, gen, 0.0f, 0.1f),
      scaled(normal_floats(static_cast<std::size_t>(head.in_features) * classes, gen), 0.3f),
      normal_floats(classes, gen, 0.0f, 0.1f),
  };

  // Forward, as the model runs it.
  kernels::F32Epilogue relu_epilogue;
  relu_epilogue.clamp_min = 0.0f;
  std::vector<float> a1(rows * channels), z2(a1.size()), b2(a1.size()), a3(a1.size());
  kernels::conv2d_f32_ref(p1, t[kX].data(), t[kW1].data(), t[kB1].data(), a1.data(), relu_epilogue,
                          nullptr);
  kernels::conv2d_f32_ref(p2, a1.data(), t[kW2].data(), t[kB2].data(), z2.data(), {}, nullptr);
  std::vector<float> scale(channels), shift(channels);
  for (std::size_t c = 0; c < channels; ++c) {
    scale[c] = t[kGamma][c] / std::sqrt(var[c] + eps);
    shift[c] = t[kBeta][c] - mean[c] * scale[c];
  }
  kernels::channel_affine_f32_ref(rows, channels, z2.data(), scale.data(), shift.data(), b2.data(),
                                  {});
  const float* sum_inputs[2] = {b2.data(), a1.data()};
  kernels::add_f32_ref(rows, channels, sum_inputs, 2, a3.data(), relu_epilogue);
  std::vector<float> pooled(lsuv_test::output_size(pool));
  kernels::max_pool2d_f32_ref(pool, a3.data(), pooled.data());
  std::vector<float> logits(static_cast<std::size_t>(batch) * classes);
  kernels::linear_f32_ref(head, pooled.data(), t[kW4].data(), t[kB4].data(), logits.data(), {},
                          nullptr);
  std::vector<float> g_logits(logits.size());
  const float loss = kernels::softmax_cross_entropy_f32_ref(batch, classes, logits.data(),
                                                            labels.data(), g_logits.data());

  // Backward, output to input.
  Tensors g(t.size());
  for (std::size_t k = 0; k < t.size(); ++k) g[k].assign(t[k].size(), 0.0f);
  std::vector<float> g_pooled(pooled.size()), g_a3(a3.size()), g_a1(a1.size()), g_z2(z2.size());
  kernels::linear_backward_input_f32_ref(head, g_logits.data(), t[kW4].data(), g_pooled.data(),
                                         GradWrite::assign, nullptr, nullptr);
  kernels::linear_backward_weights_f32_ref(head, pooled.data(), g_logits.data(), g[kW4].data(),
                                           GradWrite::assign, nullptr);
  kernels::bias_backward_f32_ref(static_cast<std::size_t>(batch), classes, g_logits.data(),
                                 g[kB4].data(), GradWrite::assign);
  kernels::max_pool2d_backward_f32_ref(pool, a3.data(), g_pooled.data(), g_a3.data(),
                                       GradWrite::assign);
  // The add's fused ReLU, in place; then b2's gradient is that same buffer and a1 gets a copy.
  kernels::clamp_backward_f32_ref(g_a3.size(), a3.data(), g_a3.data(), g_a3.data(), 0.0f, kInf,
                                  GradWrite::assign);
  float* add_grads[2] = {g_a3.data(), g_a1.data()};
  kernels::add_backward_f32_ref(g_a3.size(), g_a3.data(), add_grads, 2, GradWrite::assign);
  const std::vector<float>& g_b2 = g_a3;
  kernels::batch_norm2d_backward_input_f32_ref(rows, channels, g_b2.data(), t[kGamma].data(),
                                               var.data(), eps, g_z2.data(), GradWrite::assign);
  kernels::batch_norm2d_backward_gamma_f32_ref(rows, channels, z2.data(), g_b2.data(), mean.data(),
                                               var.data(), eps, g[kGamma].data(),
                                               GradWrite::assign);
  kernels::bias_backward_f32_ref(rows, channels, g_b2.data(), g[kBeta].data(), GradWrite::assign);
  // a1 fans out: conv2's input gradient adds to what the add gave it.
  kernels::conv2d_backward_input_f32_ref(p2, g_z2.data(), t[kW2].data(), g_a1.data(),
                                         GradWrite::accumulate, nullptr, nullptr);
  kernels::conv2d_backward_weights_f32_ref(p2, a1.data(), g_z2.data(), g[kW2].data(),
                                           GradWrite::assign, nullptr);
  kernels::bias_backward_f32_ref(rows, channels, g_z2.data(), g[kB2].data(), GradWrite::assign);
  // conv1's fused ReLU, from its stored output.
  kernels::clamp_backward_f32_ref(g_a1.size(), a1.data(), g_a1.data(), g_a1.data(), 0.0f, kInf,
                                  GradWrite::assign);
  kernels::conv2d_backward_input_f32_ref(p1, g_a1.data(), t[kW1].data(), g[kX].data(),
                                         GradWrite::assign, nullptr, nullptr);
  kernels::conv2d_backward_weights_f32_ref(p1, t[kX].data(), g_a1.data(), g[kW1].data(),
                                           GradWrite::assign, nullptr);
  kernels::bias_backward_f32_ref(rows, channels, g_a1.data(), g[kB1].data(), GradWrite::assign);

  auto network = [&](const DoubleTensors& d) {
    const std::vector<double> a1d = relu(lsuv_test::conv2d_double(p1, d[kX], d[kW1], d[kB1]));
    std::vector<double> s = lsuv_test::conv2d_double(p2, a1d, d[kW2], d[kB2]);
    for (std::size_t i = 0; i < s.size(); ++i) {
      const std::size_t c = i % channels;
      s[i] = (s[i] - mean[c]) / std::sqrt(static_cast<double>(var[c]) + eps) * d[kGamma][c] +
             d[kBeta][c] + a1d[i];
    }
    const std::vector<double> pooled_d = lsuv_test::pool_double(pool, relu(s), true);
    return lsuv_test::cross_entropy_double(
        batch, classes, lsuv_test::linear_double(head, pooled_d, d[kW4], d[kB4]), labels);
  };
  DoubleTensors at;
  for (const std::vector<float>& v : t) at.push_back(to_double(v));
  CHECK(loss == doctest::Approx(network(at)).epsilon(1e-5));
  // The ReLUs do cut: neither everything passes nor nothing.
  std::size_t dead = 0;
  for (float v : a1) dead += v == 0.0f ? 1 : 0;
  CHECK(dead > a1.size() / 10);
  CHECK(dead < a1.size() * 9 / 10);
  check_network(t, g, names, network);
}

TEST_CASE("network backward: a chain with dilation, Hardtanh, average pooling and MSE") {
  std::mt19937 gen(22);
  const std::int32_t batch = 3, outputs = 2;
  const kernels::Conv2dParams p1 =
      derived(kernels::Conv2dParams{batch, 7, 7, 3, 0, 0, 4, 2, 2, 1, 1, 0, 0, 2, 2, 1});
  const kernels::Pool2dParams pool =
      derived(kernels::Pool2dParams{batch, 5, 5, 4, 0, 0, 3, 3, 2, 2, 1, 1});
  const std::int32_t channels = 4, pooled_pixels = pool.out_h * pool.out_w;
  const kernels::LinearParams head = {batch, channels, outputs};
  enum { kX, kW1, kB1, kW2, kB2 };
  const char* const names[] = {"x", "conv.w", "conv.b", "fc.w", "fc.b"};
  const Tensors t = {
      normal_floats(lsuv_test::input_size(p1), gen),
      scaled(normal_floats(lsuv_test::weight_size(p1), gen), 0.3f),
      normal_floats(channels, gen, 0.0f, 0.1f),
      normal_floats(static_cast<std::size_t>(channels) * outputs, gen),
      normal_floats(outputs, gen, 0.0f, 0.1f),
  };
  const std::vector<float> target = normal_floats(static_cast<std::size_t>(batch) * outputs, gen);

  std::vector<float> h(lsuv_test::output_size(p1)), avg(lsuv_test::output_size(pool));
  std::vector<float> gap(static_cast<std::size_t>(batch) * channels);
  std::vector<float> y(target.size());
  kernels::conv2d_f32_ref(p1, t[kX].data(), t[kW1].data(), t[kB1].data(), h.data(), {}, nullptr);
  kernels::clamp_f32_ref(h.size(), h.data(), h.data(), -1.0f, 1.0f);
  kernels::avg_pool2d_f32_ref(pool, h.data(), avg.data());
  kernels::global_avg_pool_f32_ref(batch, pooled_pixels, channels, avg.data(), gap.data());
  kernels::linear_f32_ref(head, gap.data(), t[kW2].data(), t[kB2].data(), y.data(), {}, nullptr);
  std::vector<float> g_y(y.size());
  const float loss = kernels::mse_loss_f32_ref(y.size(), y.data(), target.data(), g_y.data());

  Tensors g(t.size());
  for (std::size_t k = 0; k < t.size(); ++k) g[k].assign(t[k].size(), 0.0f);
  std::vector<float> g_gap(gap.size()), g_avg(avg.size()), g_h(h.size());
  kernels::linear_backward_input_f32_ref(head, g_y.data(), t[kW2].data(), g_gap.data(),
                                         GradWrite::assign, nullptr, nullptr);
  kernels::linear_backward_weights_f32_ref(head, gap.data(), g_y.data(), g[kW2].data(),
                                           GradWrite::assign, nullptr);
  kernels::bias_backward_f32_ref(static_cast<std::size_t>(batch), outputs, g_y.data(),
                                 g[kB2].data(), GradWrite::assign);
  kernels::global_avg_pool_backward_f32_ref(batch, pooled_pixels, channels, g_gap.data(),
                                            g_avg.data(), GradWrite::assign, nullptr);
  kernels::avg_pool2d_backward_f32_ref(pool, g_avg.data(), g_h.data(), GradWrite::assign);
  kernels::clamp_backward_f32_ref(g_h.size(), h.data(), g_h.data(), g_h.data(), -1.0f, 1.0f,
                                  GradWrite::assign);
  kernels::conv2d_backward_input_f32_ref(p1, g_h.data(), t[kW1].data(), g[kX].data(),
                                         GradWrite::assign, nullptr, nullptr);
  kernels::conv2d_backward_weights_f32_ref(p1, t[kX].data(), g_h.data(), g[kW1].data(),
                                           GradWrite::assign, nullptr);
  kernels::bias_backward_f32_ref(h.size() / channels, channels, g_h.data(), g[kB1].data(),
                                 GradWrite::assign);

  auto network = [&](const DoubleTensors& d) {
    std::vector<double> hd = lsuv_test::conv2d_double(p1, d[kX], d[kW1], d[kB1]);
    for (double& v : hd) v = v < -1.0 ? -1.0 : (v > 1.0 ? 1.0 : v);
    const std::vector<double> avg_d = lsuv_test::pool_double(pool, hd, false);
    std::vector<double> gap_d(gap.size(), 0.0);
    for (std::size_t i = 0; i < avg_d.size(); ++i)
      gap_d[i / (static_cast<std::size_t>(pooled_pixels) * channels) * channels + i % channels] +=
          avg_d[i] / pooled_pixels;
    const std::vector<double> yd = lsuv_test::linear_double(head, gap_d, d[kW2], d[kB2]);
    double sum = 0.0;
    for (std::size_t i = 0; i < yd.size(); ++i) sum += (yd[i] - target[i]) * (yd[i] - target[i]);
    return sum / static_cast<double>(yd.size());
  };
  DoubleTensors at;
  for (const std::vector<float>& v : t) at.push_back(to_double(v));
  CHECK(loss == doctest::Approx(network(at)).epsilon(1e-5));
  std::size_t saturated = 0;
  for (float v : h) saturated += (v == -1.0f || v == 1.0f) ? 1 : 0;
  CHECK(saturated > h.size() / 10);
  CHECK(saturated < h.size() * 9 / 10);
  check_network(t, g, names, network);
}

}  // namespace
