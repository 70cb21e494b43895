// Trainer::compute_gradients on whole models against central finite differences of the same
// model evaluated in double (model_double.hpp): a residual graph (batch norm, an Add reading a
// tensor twice, a dead branch, ReLU6, Hardtanh, flatten, cross-entropy) and a chain (fused
// ReLU, max pooling, batch norm, depthwise conv, padded average pooling, MSE). Each parameter
// tensor is checked on a sample of its entries (all of the small ones).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "../graph_models.hpp"
#include "../support.hpp"
#include "gradient_check.hpp"
#include "lsuv/trainer.hpp"
#include "model_double.hpp"
#include "trainer_support.hpp"

namespace {

using lsuv_test::DoubleParameters;

// A chain with every single-input op kind.
constexpr lsuv::LayerSpec kChain[] = {
    lsuv::conv2d("c1", 2, 4, 3).with_stride(2).with_padding(1),
    lsuv::relu("r1"),
    lsuv::conv2d("c2", 4, 6, 3).with_padding(1),
    lsuv::relu6("r2"),
    lsuv::max_pool2d("mp", 2),
    lsuv::batch_norm2d("bn", 6),
    lsuv::conv2d("dw", 6, 6, 3).with_padding(1).with_groups(6),
    lsuv::hardtanh("ht", -0.5f, 0.5f),
    lsuv::avg_pool2d("ap", 3).with_stride(2).with_padding(1),
    lsuv::flatten("fl"),
    lsuv::linear("fc", 24, 3),
};
constexpr std::int32_t kChainCount = sizeof kChain / sizeof kChain[0];
constexpr lsuv::ImageShape kChainInput = {11, 11, 2};

// Every reader that runs a clamp's backward (a ClampGate): a strided conv (the column path), a
// global average pool and a linear layer, behind ReLU and a Hardtanh.
constexpr lsuv::LayerSpec kGated[] = {
    lsuv::conv2d("c1", 2, 4, 3).with_padding(1),
    lsuv::relu("r1"),
    lsuv::conv2d("c2", 4, 5, 3).with_stride(2).with_padding(1),
    lsuv::relu("r2"),
    lsuv::adaptive_avg_pool2d("gap"),
    lsuv::hardtanh("ht", -0.1f, 0.1f),
    lsuv::linear("fc", 5, 3),
};
constexpr std::int32_t kGatedCount = sizeof kGated / sizeof kGated[0];
constexpr lsuv::ImageShape kGatedInput = {9, 9, 2};

// Up to `limit` distinct indices below n, sorted (all of them when n <= limit).
std::vector<std::size_t> sample(std::size_t n, std::size_t limit, std::mt19937& gen) {
  std::vector<std::size_t> all(n);
  for (std::size_t i = 0; i < n; ++i) all[i] = i;
  if (n > limit) {
    std::shuffle(all.begin(), all.end(), gen);
    all.resize(limit);
    std::sort(all.begin(), all.end());
  }
  return all;
}

// Every trained tensor's sampled entries against differences of `loss` (a function of the
// double parameters); returns how many tensors were checked.
template <class Loss>
int check_model_gradients(const lsuv::Model& model, const lsuv::Trainer& trainer, Loss loss,
                          std::mt19937& gen) {
  DoubleParameters params = lsuv_test::double_parameters(model);
  int checked = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    for (int which = 0; which < 2; ++which) {
      const float* analytic = which == 0 ? trainer.weight_gradient(i) : trainer.bias_gradient(i);
      if (analytic == nullptr) continue;
      std::vector<double>& tensor = which == 0 ? params.weights[static_cast<std::size_t>(i)]
                                               : params.bias[static_cast<std::size_t>(i)];
      CAPTURE(std::string(model.layer(i).spec.name));
      CAPTURE(which);
      std::vector<float> got;
      std::vector<double> numeric;
      for (std::size_t k : sample(tensor.size(), 12, gen)) {
        const double saved = tensor[k];
        const double h = 1e-6;
        tensor[k] = saved + h;
        const double plus = loss(params);
        tensor[k] = saved - h;
        const double minus = loss(params);
        tensor[k] = saved;
        numeric.push_back((plus - minus) / (2.0 * h));
        got.push_back(analytic[k]);
      }
      lsuv_test::check_gradient(got, numeric, 5e-5);
      ++checked;
    }
  }
  return checked;
}

// One cross-entropy step of `trainer` on `images`: its loss against the double model's, then
// every trained tensor's gradient against finite differences; returns how many were checked.
int check_cross_entropy_step(const lsuv::Model& model, lsuv::Trainer& trainer,
                             const std::vector<float>& images,
                             const std::vector<std::int32_t>& labels, std::int32_t classes,
                             std::mt19937& gen) {
  const std::int32_t batch = static_cast<std::int32_t>(labels.size());
  lsuv::TrainStepReport report;
  REQUIRE(trainer.compute_gradients(images.data(), labels.data(), batch, &report) ==
          lsuv::Status::ok);
  const std::vector<double> x(images.begin(), images.end());
  const auto loss = [&](const DoubleParameters& p) {
    const std::vector<double> logits = lsuv_test::model_forward_double(model, p, x, batch);
    return lsuv_test::cross_entropy_double(batch, classes, logits, labels);
  };
  CHECK(report.loss == doctest::Approx(loss(lsuv_test::double_parameters(model))).epsilon(1e-5));
  return check_model_gradients(model, trainer, loss, gen);
}

TEST_CASE("trainer: whole-model gradients of a residual graph match finite differences") {
  const std::int32_t batch = 3;
  auto m = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                 lsuv_test::kResidualInput, batch);
  std::mt19937 gen(31);
  lsuv_test::randomize_batch_norms(m->model, gen);
  lsuv::TrainOptions options;
  lsuv_test::BoundTrainer t(m->model, options);
  const std::vector<float> images = lsuv_test::gaussian_images(batch, lsuv_test::kResidualInput, 5);
  // Weights of 7 convolutions (without dead) and the linear, 4 conv and linear biases, and the
  // gamma and beta of 3 batch norms.
  CHECK(check_cross_entropy_step(m->model, t.trainer, images, {4, 0, 2}, 5, gen) == 8 + 3 + 6);
  // The dead branch cannot reach the loss: it does not train (PyTorch leaves its grad None).
  const std::int32_t dead = m->model.find_layer("dead");
  CHECK(t.trainer.weight_gradient(dead) == nullptr);
  CHECK_FALSE(t.trainer.op(dead).needs_gradient);
}

TEST_CASE(
    "trainer: whole-model gradients of a chain with pooling and MSE match finite differences") {
  const std::int32_t batch = 2;
  auto m = lsuv_test::make_model(kChain, kChainCount, kChainInput, batch);
  std::mt19937 gen(32);
  lsuv_test::randomize_batch_norms(m->model, gen);
  lsuv::TrainOptions options;
  options.loss = lsuv::LossKind::mse;
  lsuv_test::BoundTrainer t(m->model, options);
  const std::vector<float> images = lsuv_test::gaussian_images(batch, kChainInput, 6);
  const std::vector<float> targets = lsuv_test::normal_floats(2 * 3, gen);
  lsuv::TrainStepReport report;
  REQUIRE(t.trainer.compute_gradients(images.data(), targets.data(), batch, &report) ==
          lsuv::Status::ok);
  // The ReLU after c1 runs in c1's epilogue, and its backward reads the stored output, in c2's
  // input gradient; the ReLU6 before max pooling keeps its own backward.
  CHECK(t.trainer.op(0).fuses_next);
  CHECK(t.trainer.op(1).backward_folded);
  CHECK(t.trainer.op(2).gates_input);
  CHECK_FALSE(t.trainer.op(3).backward_folded);

  const std::vector<double> x(images.begin(), images.end());
  const auto loss = [&](const DoubleParameters& p) {
    const std::vector<double> y = lsuv_test::model_forward_double(m->model, p, x, batch);
    double sum = 0.0;
    for (std::size_t k = 0; k < y.size(); ++k) sum += (y[k] - targets[k]) * (y[k] - targets[k]);
    return sum / static_cast<double>(y.size());
  };
  CHECK(report.loss == doctest::Approx(loss(lsuv_test::double_parameters(m->model))).epsilon(1e-5));
  // c1, c2, dw, fc weights and biases, bn gamma and beta.
  CHECK(check_model_gradients(m->model, t.trainer, loss, gen) == 10);
}

TEST_CASE(
    "trainer: gradients through clamps run in their readers' backward match finite differences") {
  const std::int32_t batch = 3;
  auto m = lsuv_test::make_model(kGated, kGatedCount, kGatedInput, batch);
  std::mt19937 gen(33);
  lsuv::TrainOptions options;
  lsuv_test::BoundTrainer t(m->model, options);
  for (std::int32_t clamp : {1, 3, 5}) {
    CAPTURE(clamp);
    CHECK(t.trainer.op(clamp).backward_folded);
    CHECK(t.trainer.op(clamp + 1).gates_input);
    CHECK(t.trainer.op(clamp).gradient_bytes == 0);
  }
  const std::vector<float> images = lsuv_test::gaussian_images(batch, kGatedInput, 7);
  // c1, c2 and fc weights and biases.
  CHECK(check_cross_entropy_step(m->model, t.trainer, images, {2, 0, 1}, 3, gen) == 6);
}

}  // namespace
