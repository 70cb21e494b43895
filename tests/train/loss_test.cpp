// The losses: values by hand, gradients against central finite differences in double, and
// softmax cross-entropy's log-sum-exp stability at logits where a naive exp overflows.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "double_forward.hpp"
#include "gradient_check.hpp"
#include "kernels/loss_ref.hpp"

namespace {

namespace kernels = lsuv::kernels;
using lsuv_test::check_gradient;
using lsuv_test::cross_entropy_double;
using lsuv_test::normal_floats;
using lsuv_test::numeric_gradient;

TEST_CASE("softmax cross-entropy: hand values") {
  // Two equal logits: loss log 2, gradient -1/2 on the label and +1/2 on the other.
  const float z[] = {3.0f, 3.0f};
  const std::int32_t label = 0;
  float g[2];
  CHECK(kernels::softmax_cross_entropy_f32_ref(1, 2, z, &label, g) ==
        doctest::Approx(std::log(2.0)).epsilon(1e-6));
  CHECK(g[0] == doctest::Approx(-0.5));
  CHECK(g[1] == doctest::Approx(0.5));
  // Batch 2 is the mean: rows {3, 3, 0, 0, 0, 0} (label 0) and six zeros (label 5, loss log 6).
  const float z2[] = {3.0f, 3.0f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  const std::int32_t labels[] = {0, 5};
  float g2[12];
  const double row0 = std::log(2.0 * std::exp(3.0) + 4.0) - 3.0;
  CHECK(kernels::softmax_cross_entropy_f32_ref(2, 6, z2, labels, g2) ==
        doctest::Approx((row0 + std::log(6.0)) / 2).epsilon(1e-6));
  CHECK(g2[6 + 5] == doctest::Approx((1.0 / 6 - 1.0) / 2));
  CHECK(g2[6 + 0] == doctest::Approx((1.0 / 6) / 2));
  // No gradient asked for: the loss alone.
  CHECK(kernels::softmax_cross_entropy_f32_ref(1, 2, z, &label, nullptr) ==
        doctest::Approx(std::log(2.0)).epsilon(1e-6));
}

TEST_CASE("softmax cross-entropy: gradient matches finite differences") {
  std::mt19937 gen(16);
  for (const std::int32_t classes : {1, 2, 10}) {
    CAPTURE(classes);
    const std::int32_t batch = 3;
    const std::vector<float> z =
        normal_floats(static_cast<std::size_t>(batch) * classes, gen, 0.0f, 3.0f);
    std::vector<std::int32_t> labels(batch);
    for (std::int32_t b = 0; b < batch; ++b) labels[b] = (b * 7 + 1) % classes;
    std::vector<double> exact = lsuv_test::to_double(z);
    const float loss =
        kernels::softmax_cross_entropy_f32_ref(batch, classes, z.data(), labels.data(), nullptr);
    CHECK(loss ==
          doctest::Approx(cross_entropy_double(batch, classes, exact, labels)).epsilon(1e-5));
    std::vector<float> g(z.size(), std::numeric_limits<float>::quiet_NaN());
    (void)kernels::softmax_cross_entropy_f32_ref(batch, classes, z.data(), labels.data(), g.data());
    // The loss is a scalar: differentiate it with r = {1}.
    const std::vector<float> one = {1.0f};
    check_gradient(
        g,
        numeric_gradient(
            z, one,
            [&](const std::vector<double>& t) {
              return std::vector<double>{cross_entropy_double(batch, classes, t, labels)};
            },
            1e-4),
        1e-5);
  }
}

TEST_CASE("softmax cross-entropy: stable where exp overflows float") {
  // exp(1000) is inf in float; log-sum-exp about the maximum is exact here.
  const float z[] = {1000.0f, 1000.0f - std::log(3.0f), -1000.0f};
  const std::int32_t label = 1;
  float g[3];
  const float loss = kernels::softmax_cross_entropy_f32_ref(1, 3, z, &label, g);
  // softmax = {3/4, 1/4, ~0}: loss = log 4.
  CHECK(loss == doctest::Approx(std::log(4.0)).epsilon(1e-4));
  CHECK(g[0] == doctest::Approx(0.75).epsilon(1e-4));
  CHECK(g[1] == doctest::Approx(-0.75).epsilon(1e-4));
  CHECK(g[2] == 0.0f);
  for (float v : g) CHECK(std::isfinite(v));
  // A NaN logit is reported, not hidden.
  const float bad[] = {0.0f, std::numeric_limits<float>::quiet_NaN()};
  CHECK(std::isnan(kernels::softmax_cross_entropy_f32_ref(1, 2, bad, &label, g)));
}

TEST_CASE("mse loss: hand values and gradient") {
  const float p[] = {1.0f, 2.0f, 4.0f, 0.5f};
  const float t[] = {0.0f, 2.0f, 1.0f, 1.0f};
  float g[4];
  // (1 + 0 + 9 + 0.25) / 4
  CHECK(kernels::mse_loss_f32_ref(4, p, t, g) == doctest::Approx(10.25 / 4));
  CHECK(g[0] == doctest::Approx(0.5));  // 2 * 1 / 4
  CHECK(g[1] == 0.0f);
  CHECK(g[2] == doctest::Approx(1.5));
  CHECK(g[3] == doctest::Approx(-0.25));
  std::mt19937 gen(17);
  const std::vector<float> pred = normal_floats(11, gen);
  const std::vector<float> target = normal_floats(11, gen);
  std::vector<float> grad(pred.size());
  (void)kernels::mse_loss_f32_ref(pred.size(), pred.data(), target.data(), grad.data());
  const std::vector<float> one = {1.0f};
  check_gradient(grad,
                 numeric_gradient(pred, one,
                                  [&](const std::vector<double>& x) {
                                    double sum = 0.0;
                                    for (std::size_t i = 0; i < x.size(); ++i)
                                      sum += (x[i] - target[i]) * (x[i] - target[i]);
                                    return std::vector<double>{sum / static_cast<double>(x.size())};
                                  }),
                 1e-6);
}

}  // namespace
