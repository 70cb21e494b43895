// SGD against hand-computed steps (the same numbers torch.optim.SGD and clip_grad_norm_ give),
// and its refusals: bad options, non-finite gradients (nothing changes).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "kernels/sgd_ref.hpp"
#include "lsuv/sgd.hpp"

namespace {

using lsuv::SgdOptions;
using lsuv::SgdStepReport;
using lsuv::SgdTensor;
using lsuv::Status;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST_CASE("sgd: plain step and weight decay") {
  float value = 1.0f;
  const float grad = 0.5f;
  const SgdTensor t = {&value, &grad, nullptr, 1};
  SgdStepReport report;
  REQUIRE(lsuv::sgd_step({}, 0.1f, &t, 1, &report) == Status::ok);
  CHECK(value == doctest::Approx(0.95).epsilon(1e-7));
  CHECK(report.gradient_norm == doctest::Approx(0.5));
  CHECK(report.gradient_scale == 1.0f);
  // d = 0.5 + 0.1 * 2 = 0.7; 2 - 0.5 * 0.7 = 1.65
  value = 2.0f;
  SgdOptions decay;
  decay.weight_decay = 0.1f;
  REQUIRE(lsuv::sgd_step(decay, 0.5f, &t, 1, nullptr) == Status::ok);
  CHECK(value == doctest::Approx(1.65).epsilon(1e-7));
}

TEST_CASE("sgd: momentum and Nesterov over three steps") {
  // Gradient 1 every step, lr 0.1, momentum 0.9, from 0. Velocity 1, 1.9, 2.71.
  const float grad[2] = {1.0f, 1.0f};
  for (const bool nesterov : {false, true}) {
    CAPTURE(nesterov);
    float values[2] = {0.0f, 2.0f};
    float velocity[2] = {0.0f, 0.0f};
    SgdOptions options;
    options.momentum = 0.9f;
    options.nesterov = nesterov;
    const SgdTensor t = {values, grad, velocity, 2};
    // Plain momentum steps by the velocity; Nesterov by 1 + 0.9 * velocity: 1.9, 2.71, 3.439.
    const double expected[3] = {nesterov ? -0.19 : -0.1, nesterov ? -0.461 : -0.29,
                                nesterov ? -0.8049 : -0.561};
    for (int step = 0; step < 3; ++step) {
      REQUIRE(lsuv::sgd_step(options, 0.1f, &t, 1, nullptr) == Status::ok);
      CHECK(values[0] == doctest::Approx(expected[step]).epsilon(1e-6));
      CHECK(values[1] == doctest::Approx(2.0 + expected[step]).epsilon(1e-6));
    }
    CHECK(velocity[0] == doctest::Approx(2.71).epsilon(1e-6));
  }
}

TEST_CASE("sgd: the global gradient norm is clipped across tensors, before weight decay") {
  // Gradients {3} and {0, 4}: norm 5. With max 1 they become 3/5 and 4/5 (over 5 + 1e-6).
  float a = 0.0f;
  float b[2] = {1.0f, 0.0f};
  const float ga = 3.0f;
  const float gb[2] = {0.0f, 4.0f};
  const SgdTensor tensors[2] = {{&a, &ga, nullptr, 1}, {b, gb, nullptr, 2}};
  SgdOptions options;
  options.max_gradient_norm = 1.0f;
  options.weight_decay = 0.5f;  // unclipped: b[0] loses 0.5 * 1
  SgdStepReport report;
  REQUIRE(lsuv::sgd_step(options, 1.0f, tensors, 2, &report) == Status::ok);
  CHECK(report.gradient_norm == doctest::Approx(5.0));
  // PyTorch's 1e-6 shows in float: 0.19999996, not 0.2.
  CHECK(report.gradient_scale == static_cast<float>(1.0 / (5.0 + 1e-6)));
  CHECK(report.gradient_scale != 0.2f);
  CHECK(a == doctest::Approx(-0.6).epsilon(1e-6));
  CHECK(b[0] == doctest::Approx(0.5).epsilon(1e-6));
  CHECK(b[1] == doctest::Approx(-0.8).epsilon(1e-6));
  // Under the limit nothing is scaled.
  a = 0.0f;
  options.max_gradient_norm = 10.0f;
  options.weight_decay = 0.0f;
  REQUIRE(lsuv::sgd_step(options, 1.0f, tensors, 2, &report) == Status::ok);
  CHECK(report.gradient_scale == 1.0f);
  CHECK(a == -3.0f);
}

TEST_CASE("sgd: a NaN or Inf gradient anywhere changes nothing") {
  for (const float bad : {kNaN, kInf, -kInf}) {
    float a[3] = {1.0f, 2.0f, 3.0f};
    float b[2] = {4.0f, 5.0f};
    float va[3] = {0.5f, 0.5f, 0.5f};
    float vb[2] = {0.25f, 0.25f};
    const float ga[3] = {1.0f, 1.0f, 1.0f};
    const float gb[2] = {1.0f, bad};  // the second tensor: the first must not have moved either
    const SgdTensor tensors[2] = {{a, ga, va, 3}, {b, gb, vb, 2}};
    SgdOptions options;
    options.momentum = 0.9f;
    SgdStepReport report;
    report.gradient_norm = -1.0;
    CHECK(lsuv::sgd_step(options, 0.1f, tensors, 2, &report) == Status::non_finite);
    CHECK(a[0] == 1.0f);
    CHECK(a[2] == 3.0f);
    CHECK(b[0] == 4.0f);
    CHECK(va[0] == 0.5f);
    CHECK(vb[1] == 0.25f);
    CHECK(report.gradient_norm == -1.0);
  }
}

TEST_CASE("sgd: options outside their ranges are invalid_argument and change nothing") {
  float value = 1.0f;
  const float grad = 1.0f;
  const SgdTensor t = {&value, &grad, nullptr, 1};
  SgdOptions ok;
  CHECK(lsuv::sgd_check(ok) == Status::ok);
  auto with = [](auto change) {
    SgdOptions o;
    change(o);
    return o;
  };
  const SgdOptions bad[] = {
      with([](SgdOptions& o) { o.momentum = -0.1f; }),
      with([](SgdOptions& o) { o.momentum = 1.0f; }),
      with([](SgdOptions& o) { o.momentum = kNaN; }),
      with([](SgdOptions& o) { o.nesterov = true; }),  // Nesterov without momentum
      with([](SgdOptions& o) { o.weight_decay = -1.0f; }),
      with([](SgdOptions& o) { o.weight_decay = kInf; }),
      with([](SgdOptions& o) { o.max_gradient_norm = -1.0f; }),
      with([](SgdOptions& o) { o.max_gradient_norm = kNaN; }),
  };
  for (const SgdOptions& o : bad) {
    CHECK(lsuv::sgd_check(o) == Status::invalid_argument);
    CHECK(lsuv::sgd_step(o, 0.1f, &t, 1, nullptr) == Status::invalid_argument);
  }
  for (const float lr : {-0.1f, kNaN, kInf})
    CHECK(lsuv::sgd_step(ok, lr, &t, 1, nullptr) == Status::invalid_argument);
  CHECK(lsuv::sgd_step(ok, 0.1f, nullptr, 1, nullptr) == Status::invalid_argument);
  // Momentum needs a velocity buffer.
  SgdOptions momentum;
  momentum.momentum = 0.5f;
  CHECK(lsuv::sgd_step(momentum, 0.1f, &t, 1, nullptr) == Status::invalid_argument);
  const SgdTensor no_gradient = {&value, nullptr, nullptr, 1};
  CHECK(lsuv::sgd_step(ok, 0.1f, &no_gradient, 1, nullptr) == Status::invalid_argument);
  CHECK(value == 1.0f);
  // Nothing to do is fine: no tensors, or empty ones with null pointers.
  const SgdTensor empty = {nullptr, nullptr, nullptr, 0};
  CHECK(lsuv::sgd_step(momentum, 0.1f, &empty, 1, nullptr) == Status::ok);
  CHECK(lsuv::sgd_step(ok, 0.1f, nullptr, 0, nullptr) == Status::ok);
  // A zero learning rate moves nothing but keeps the velocity going.
  float velocity = 0.0f;
  const SgdTensor with_velocity = {&value, &grad, &velocity, 1};
  CHECK(lsuv::sgd_step(momentum, 0.0f, &with_velocity, 1, nullptr) == Status::ok);
  CHECK(value == 1.0f);
  CHECK(velocity == 1.0f);
}

TEST_CASE("sgd kernel: the documented float order, element by element") {
  const lsuv::kernels::SgdParams p = {0.25f, 0.5f, 0.125f, 0.75f, true};
  std::vector<float> values = {1.0f, -2.0f, 0.5f, 3.0f, -0.25f};
  std::vector<float> velocity = {0.0f, 1.0f, -1.0f, 0.5f, 2.0f};
  const std::vector<float> gradient = {0.5f, 0.25f, -1.5f, 2.0f, 0.0f};
  std::vector<float> expected = values;
  std::vector<float> expected_velocity = velocity;
  for (std::size_t i = 0; i < values.size(); ++i) {
    const float d = 0.75f * gradient[i] + 0.125f * values[i];
    expected_velocity[i] = 0.5f * velocity[i] + d;
    expected[i] = values[i] - 0.25f * (d + 0.5f * expected_velocity[i]);
  }
  lsuv::kernels::sgd_update_f32_ref(values.size(), values.data(), gradient.data(), velocity.data(),
                                    p);
  CHECK(std::memcmp(values.data(), expected.data(), values.size() * sizeof(float)) == 0);
  CHECK(std::memcmp(velocity.data(), expected_velocity.data(), velocity.size() * sizeof(float)) ==
        0);
  CHECK(lsuv::kernels::sum_squares_f32_ref(gradient.size(), gradient.data()) ==
        0.25 + 0.0625 + 2.25 + 4.0);
  // Float squares that overflow float stay finite in double.
  const float huge[2] = {3e38f, 3e38f};
  CHECK(std::isfinite(lsuv::kernels::sum_squares_f32_ref(2, huge)));
}

}  // namespace
