// Gradients of clamps, pooling, residual sums and frozen batch norm: against central finite
// differences in double, and the choices finite differences cannot see (the clamp at its
// bounds, ties, NaN and -inf windows in max pooling) against hand-computed values.
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
#include "kernels/reference.hpp"

namespace {

namespace kernels = lsuv::kernels;
using kernels::GradWrite;
using lsuv_test::check_forward;
using lsuv_test::check_gradient;
using lsuv_test::derived;
using lsuv_test::distinct_floats;
using lsuv_test::input_size;
using lsuv_test::normal_floats;
using lsuv_test::numeric_gradient;
using lsuv_test::output_size;
using lsuv_test::pool_double;
using lsuv_test::run_both_modes;
using lsuv_test::to_double;

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST_CASE("clamp backward: ReLU, ReLU6 and Hardtanh match finite differences away from bounds") {
  std::mt19937 gen(11);
  const float ranges[][2] = {{0.0f, kInf}, {0.0f, 6.0f}, {-1.0f, 1.0f}, {-kInf, kInf}};
  for (const auto& range : ranges) {
    const float lo = range[0], hi = range[1];
    CAPTURE(lo);
    CAPTURE(hi);
    // Spread over both bounds, none within 0.01 of one (a finite difference there crosses a kink).
    std::vector<float> x = normal_floats(60, gen, 1.0f, 4.0f);
    for (float& v : x)
      while (std::fabs(v - lo) < 0.01f || std::fabs(v - hi) < 0.01f) v += 0.05f;
    const std::vector<float> r = normal_floats(x.size(), gen);
    std::vector<float> y(x.size());
    kernels::clamp_f32_ref(x.size(), x.data(), y.data(), lo, hi);
    auto clamp_double = [&](const std::vector<double>& t) {
      std::vector<double> out(t.size());
      for (std::size_t i = 0; i < t.size(); ++i) out[i] = t[i] < lo ? lo : (t[i] > hi ? hi : t[i]);
      return out;
    };
    check_forward(y, clamp_double(to_double(x)));
    const std::vector<float> dx = run_both_modes(
        x.size(),
        [&](float* g, GradWrite mode) {
          kernels::clamp_backward_f32_ref(x.size(), y.data(), r.data(), g, lo, hi, mode);
        },
        gen);
    check_gradient(dx, numeric_gradient(x, r, clamp_double));
  }
}

TEST_CASE("clamp backward: zero at and past the bounds, NaN passes, in place") {
  const float y[] = {0.0f, -0.0f, 6.0f, 3.0f, kNaN, 1e-30f};
  float g[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  kernels::clamp_backward_f32_ref(6, y, g, g, 0.0f, 6.0f, GradWrite::assign);
  CHECK(g[0] == 0.0f);  // ReLU at exactly 0: zero, as PyTorch
  CHECK(g[1] == 0.0f);
  CHECK(g[2] == 0.0f);  // ReLU6 at exactly 6
  CHECK(g[3] == 4.0f);
  CHECK(g[4] == 5.0f);  // a NaN is not hidden
  CHECK(g[5] == 6.0f);
}

struct PoolCase {
  const char* name;
  kernels::Pool2dParams p;  // out_h and out_w are derived
};

// batch, in_h, in_w, channels, (out_h, out_w), kh, kw, sh, sw, ph, pw
const PoolCase kPoolCases[] = {
    {"2x2 stride 2, odd tails", {2, 5, 4, 3, 0, 0, 2, 2, 2, 2, 0, 0}},
    {"3x3 stride 1 pad 1: overlapping", {1, 4, 5, 2, 0, 0, 3, 3, 1, 1, 1, 1}},
    {"3x3 stride 2 pad 1", {1, 7, 6, 3, 0, 0, 3, 3, 2, 2, 1, 1}},
    {"2x3 stride 1x2 pad 1x1", {1, 5, 7, 2, 0, 0, 2, 3, 1, 2, 1, 1}},
    {"1x1 stride 3: unread inputs", {1, 5, 5, 1, 0, 0, 1, 1, 3, 3, 0, 0}},
};

TEST_CASE("max_pool2d and avg_pool2d backward match finite differences") {
  std::mt19937 gen(12);
  for (const PoolCase& c : kPoolCases) {
    CAPTURE(std::string(c.name));
    const kernels::Pool2dParams p = derived(c.p);
    const std::vector<float> x = distinct_floats(input_size(p), gen);
    const std::vector<float> r = normal_floats(output_size(p), gen);
    for (const bool max : {true, false}) {
      CAPTURE(max);
      std::vector<float> y(r.size());
      (max ? kernels::max_pool2d_f32_ref : kernels::avg_pool2d_f32_ref)(p, x.data(), y.data());
      check_forward(y, pool_double(p, to_double(x), max));
      const std::vector<float> dx = run_both_modes(
          x.size(),
          [&](float* g, GradWrite mode) {
            if (max)
              kernels::max_pool2d_backward_f32_ref(p, x.data(), r.data(), g, mode);
            else
              kernels::avg_pool2d_backward_f32_ref(p, r.data(), g, mode);
          },
          gen);
      check_gradient(dx, numeric_gradient(x, r, [&](const std::vector<double>& t) {
                       return pool_double(p, t, max);
                     }));
    }
  }
}

TEST_CASE("max_pool2d backward: ties go to the first maximum, NaN to the last NaN, -inf works") {
  // One 2x2 window (stride 2) per case over a 2x2 single-channel image.
  const kernels::Pool2dParams p = {1, 2, 2, 1, 1, 1, 2, 2, 2, 2, 0, 0};
  const float dy = 5.0f;
  struct Case {
    float x[4];
    int gets;  // the element that receives dy
  };
  const Case cases[] = {
      {{1.0f, 3.0f, 3.0f, 2.0f}, 1},      // a tie: the first in window order
      {{1.0f, kNaN, 7.0f, kNaN}, 3},      // the forward keeps the last NaN
      {{-kInf, -kInf, -kInf, -kInf}, 0},  // all -inf: still one element, the first
      {{-kInf, -2.0f, -kInf, -2.0f}, 1},
  };
  for (const Case& c : cases) {
    float forward = 0.0f;
    kernels::max_pool2d_f32_ref(p, c.x, &forward);
    float g[4] = {kNaN, kNaN, kNaN, kNaN};
    kernels::max_pool2d_backward_f32_ref(p, c.x, &dy, g, GradWrite::assign);
    for (int i = 0; i < 4; ++i) {
      CAPTURE(i);
      CHECK(g[i] == (i == c.gets ? dy : 0.0f));
    }
    // The element that gets the gradient holds the forward's value.
    CHECK((std::isnan(forward) ? std::isnan(c.x[c.gets]) : c.x[c.gets] == forward));
  }
}

TEST_CASE("avg_pool2d backward: padding counts in the divisor, as in the forward") {
  // 2x2 input, 3x3 window, stride 1, pad 1: four windows, each over all four inputs and five
  // padding taps, so each input gets the sum of dy / 9.
  const kernels::Pool2dParams p = {1, 2, 2, 1, 2, 2, 3, 3, 1, 1, 1, 1};
  const float x[4] = {9.0f, 9.0f, 9.0f, 9.0f};
  float y[4];
  kernels::avg_pool2d_f32_ref(p, x, y);
  CHECK(y[0] == doctest::Approx(4.0));  // 36 / 9, not 36 / 4
  const float dy[4] = {9.0f, 18.0f, 0.0f, 9.0f};
  float g[4];
  kernels::avg_pool2d_backward_f32_ref(p, dy, g, GradWrite::assign);
  for (float v : g) CHECK(v == doctest::Approx(4.0));
}

TEST_CASE("global_avg_pool backward matches finite differences") {
  std::mt19937 gen(13);
  const std::int32_t batch = 2, pixels = 6, channels = 5;
  const std::vector<float> x =
      normal_floats(static_cast<std::size_t>(batch) * pixels * channels, gen);
  const std::vector<float> r = normal_floats(static_cast<std::size_t>(batch) * channels, gen);
  auto forward = [&](const std::vector<double>& t) {
    std::vector<double> y(r.size(), 0.0);
    for (std::int32_t n = 0; n < batch; ++n)
      for (std::int32_t i = 0; i < pixels; ++i)
        for (std::int32_t c = 0; c < channels; ++c)
          y[static_cast<std::size_t>(n) * channels + c] +=
              t[(static_cast<std::size_t>(n) * pixels + i) * channels + c] / pixels;
    return y;
  };
  std::vector<float> y(r.size());
  kernels::global_avg_pool_f32_ref(batch, pixels, channels, x.data(), y.data());
  check_forward(y, forward(to_double(x)));
  const std::vector<float> dx = run_both_modes(
      x.size(),
      [&](float* g, GradWrite mode) {
        kernels::global_avg_pool_backward_f32_ref(batch, pixels, channels, r.data(), g, mode,
                                                  nullptr);
      },
      gen);
  check_gradient(dx, numeric_gradient(x, r, forward));
}

TEST_CASE("add backward: every input gets the output gradient") {
  std::mt19937 gen(14);
  const std::size_t n = 13;
  const std::vector<float> r = normal_floats(n, gen);
  for (std::int32_t count = 2; count <= 4; ++count) {
    CAPTURE(count);
    std::vector<std::vector<float>> inputs;
    for (std::int32_t k = 0; k < count; ++k) inputs.push_back(normal_floats(n, gen));
    for (std::int32_t k = 0; k < count; ++k) {
      CAPTURE(k);
      auto forward = [&](const std::vector<double>& t) {
        std::vector<double> y = t;
        for (std::int32_t j = 0; j < count; ++j)
          if (j != k)
            for (std::size_t i = 0; i < n; ++i) y[i] += inputs[j][i];
        return y;
      };
      const std::vector<float> dx = run_both_modes(
          n,
          [&](float* g, GradWrite mode) {
            // Only input k asks for its gradient.
            float* grads[4] = {nullptr, nullptr, nullptr, nullptr};
            grads[k] = g;
            kernels::add_backward_f32_ref(n, r.data(), grads, count, mode);
          },
          gen);
      check_gradient(dx, numeric_gradient(inputs[k], r, forward));
    }
  }
  // In place: input 0's gradient is the output gradient's buffer; input 1's is a copy.
  std::vector<float> shared = r;
  std::vector<float> other(n, kNaN);
  float* grads[2] = {shared.data(), other.data()};
  kernels::add_backward_f32_ref(n, shared.data(), grads, 2, GradWrite::assign);
  CHECK(shared == r);
  CHECK(other == r);
}

TEST_CASE("batch_norm2d frozen backward: input, gamma and beta match finite differences") {
  std::mt19937 gen(15);
  const std::size_t rows = 2 * 3 * 4, channels = 3;
  const float eps = 1e-5f;
  const std::vector<float> x = normal_floats(rows * channels, gen, 0.5f, 2.0f);
  const std::vector<float> gamma = normal_floats(channels, gen);
  const std::vector<float> beta = normal_floats(channels, gen);
  const std::vector<float> mean = normal_floats(channels, gen);
  // A zero variance (a constant channel): eps alone keeps the scale finite.
  const std::vector<float> var = {0.7f, 0.0f, 3.0f};
  const std::vector<float> r = normal_floats(rows * channels, gen);
  auto forward = [&](const std::vector<double>& t, const std::vector<double>& g,
                     const std::vector<double>& b) {
    std::vector<double> y(t.size());
    for (std::size_t i = 0; i < rows; ++i)
      for (std::size_t c = 0; c < channels; ++c)
        y[i * channels + c] =
            (t[i * channels + c] - mean[c]) / std::sqrt(static_cast<double>(var[c]) + eps) * g[c] +
            b[c];
    return y;
  };
  const std::vector<double> xd = to_double(x), gd = to_double(gamma), bd = to_double(beta);
  // The library's eval-mode forward: the affine with the scale and shift batch_norm2d.cpp derives.
  std::vector<float> scale(channels), shift(channels), y(x.size());
  for (std::size_t c = 0; c < channels; ++c) {
    scale[c] = gamma[c] / std::sqrt(var[c] + eps);
    shift[c] = beta[c] - mean[c] * scale[c];
  }
  kernels::channel_affine_f32_ref(rows, channels, x.data(), scale.data(), shift.data(), y.data(),
                                  {});
  check_forward(y, forward(xd, gd, bd));

  const std::vector<float> dx = run_both_modes(
      x.size(),
      [&](float* g, GradWrite mode) {
        kernels::batch_norm2d_backward_input_f32_ref(rows, channels, r.data(), gamma.data(),
                                                     var.data(), eps, g, mode);
      },
      gen);
  check_gradient(
      dx, numeric_gradient(x, r, [&](const std::vector<double>& t) { return forward(t, gd, bd); }));
  const std::vector<float> dgamma = run_both_modes(
      channels,
      [&](float* g, GradWrite mode) {
        kernels::batch_norm2d_backward_gamma_f32_ref(rows, channels, x.data(), r.data(),
                                                     mean.data(), var.data(), eps, g, mode);
      },
      gen);
  check_gradient(dgamma, numeric_gradient(gamma, r, [&](const std::vector<double>& t) {
                   return forward(xd, t, bd);
                 }));
  const std::vector<float> dbeta = run_both_modes(
      channels,
      [&](float* g, GradWrite mode) {
        kernels::bias_backward_f32_ref(rows, channels, r.data(), g, mode);
      },
      gen);
  check_gradient(dbeta, numeric_gradient(beta, r, [&](const std::vector<double>& t) {
                   return forward(xd, gd, t);
                 }));
  // In place, as the core runs it when nothing else reads the output gradient.
  std::vector<float> in_place = r;
  kernels::batch_norm2d_backward_input_f32_ref(rows, channels, in_place.data(), gamma.data(),
                                               var.data(), eps, in_place.data(), GradWrite::assign);
  CHECK(in_place == dx);
}

}  // namespace
