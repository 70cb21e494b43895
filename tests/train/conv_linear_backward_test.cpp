// Conv2d, Linear and bias gradients against central finite differences in double, over every
// convolution configuration (stride, padding, dilation, groups, depthwise with a channel
// multiplier, non-square kernels, taps that only read padding, inputs no window reads).
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "double_forward.hpp"
#include "gradient_check.hpp"
#include "kernels/backward_ref.hpp"
#include "kernels/reference.hpp"

namespace {

namespace kernels = lsuv::kernels;
using lsuv_test::check_forward;
using lsuv_test::check_gradient;
using lsuv_test::conv2d_double;
using lsuv_test::derived;
using lsuv_test::input_size;
using lsuv_test::linear_double;
using lsuv_test::normal_floats;
using lsuv_test::numeric_gradient;
using lsuv_test::output_size;
using lsuv_test::run_both_modes;
using lsuv_test::to_double;
using lsuv_test::weight_size;

struct ConvCase {
  const char* name;
  kernels::Conv2dParams p;  // out_h and out_w are derived
};

// batch, in_h, in_w, in_c, (out_h, out_w), out_c, kh, kw, sh, sw, ph, pw, dh, dw, groups
const ConvCase kConvCases[] = {
    {"3x3 same", {2, 5, 6, 3, 0, 0, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1}},
    {"3x3 stride 2, odd tails", {1, 7, 6, 2, 0, 0, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1}},
    {"dilation 2", {1, 6, 7, 2, 0, 0, 2, 3, 3, 1, 1, 2, 2, 2, 2, 1}},
    {"groups 2", {2, 4, 5, 4, 0, 0, 6, 3, 3, 1, 1, 1, 1, 1, 1, 2}},
    {"depthwise stride 2", {1, 6, 5, 3, 0, 0, 3, 3, 3, 2, 2, 1, 1, 1, 1, 3}},
    {"depthwise multiplier 2", {1, 4, 4, 3, 0, 0, 6, 3, 3, 1, 1, 1, 1, 1, 1, 3}},
    {"1x1", {2, 3, 4, 5, 0, 0, 3, 1, 1, 1, 1, 0, 0, 1, 1, 1}},
    {"2x3, stride 2x1, pad 0x1, dilation 1x2", {1, 6, 7, 2, 0, 0, 3, 2, 3, 2, 1, 0, 1, 1, 2, 1}},
    {"1x1 on padding only at the border", {1, 3, 3, 2, 0, 0, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
    {"stride 3 past a 2x2 kernel: unread inputs", {1, 7, 8, 2, 0, 0, 2, 2, 2, 3, 3, 0, 0, 1, 1, 1}},
    {"5x5 over 4x4, pad 2", {1, 4, 4, 2, 0, 0, 2, 5, 5, 1, 1, 2, 2, 1, 1, 1}},
    {"groups 2, stride 2, dilation 2", {1, 7, 7, 4, 0, 0, 4, 3, 2, 2, 2, 2, 1, 2, 2, 2}},
};

TEST_CASE("conv2d backward: input, weight and bias gradients match finite differences") {
  std::mt19937 gen(9);
  for (const ConvCase& c : kConvCases) {
    CAPTURE(std::string(c.name));
    const kernels::Conv2dParams p = derived(c.p);
    REQUIRE(p.out_h > 0);
    REQUIRE(p.out_w > 0);
    const std::vector<float> x = normal_floats(input_size(p), gen);
    const std::vector<float> w = normal_floats(weight_size(p), gen);
    const std::vector<float> b = normal_floats(static_cast<std::size_t>(p.out_c), gen);
    const std::vector<float> r = normal_floats(output_size(p), gen);

    // The double forward is the library's forward.
    std::vector<float> y(output_size(p));
    kernels::conv2d_f32_ref(p, x.data(), w.data(), b.data(), y.data(), {}, nullptr);
    check_forward(y, conv2d_double(p, to_double(x), to_double(w), to_double(b)));

    const std::vector<double> xd = to_double(x), wd = to_double(w), bd = to_double(b);
    REQUIRE(kernels::conv2d_backward_input_scratch_bytes_f32_ref(p) == 0);
    REQUIRE(kernels::conv2d_backward_weights_scratch_bytes_f32_ref(p) == 0);
    const std::vector<float> dx = run_both_modes(
        x.size(),
        [&](float* g, kernels::GradWrite mode) {
          kernels::conv2d_backward_input_f32_ref(p, r.data(), w.data(), g, mode, nullptr, nullptr);
        },
        gen);
    check_gradient(dx, numeric_gradient(x, r, [&](const std::vector<double>& t) {
                     return conv2d_double(p, t, wd, bd);
                   }));
    const std::vector<float> dw = run_both_modes(
        w.size(),
        [&](float* g, kernels::GradWrite mode) {
          kernels::conv2d_backward_weights_f32_ref(p, x.data(), r.data(), g, mode, nullptr);
        },
        gen);
    check_gradient(dw, numeric_gradient(w, r, [&](const std::vector<double>& t) {
                     return conv2d_double(p, xd, t, bd);
                   }));
    const std::vector<float> db = run_both_modes(
        b.size(),
        [&](float* g, kernels::GradWrite mode) {
          kernels::bias_backward_f32_ref(static_cast<std::size_t>(p.batch) * p.out_h * p.out_w,
                                         static_cast<std::size_t>(p.out_c), r.data(), g, mode);
        },
        gen);
    check_gradient(db, numeric_gradient(b, r, [&](const std::vector<double>& t) {
                     return conv2d_double(p, xd, wd, t);
                   }));
  }
}

TEST_CASE("conv2d backward: an input no window reads gets zero, one read once gets w * dy") {
  // 1 x 4 x 1 input, one channel, kernel 1x1 stride 3: outputs read inputs 0 and 3 only.
  const kernels::Conv2dParams p = {1, 4, 1, 1, 2, 1, 1, 1, 1, 3, 1, 0, 0, 1, 1, 1};
  const float w = 0.5f;
  const float dy[2] = {2.0f, -3.0f};
  float dx[4] = {7.0f, 7.0f, 7.0f, 7.0f};
  kernels::conv2d_backward_input_f32_ref(p, dy, &w, dx, kernels::GradWrite::assign, nullptr,
                                         nullptr);
  CHECK(dx[0] == 1.0f);
  CHECK(dx[1] == 0.0f);
  CHECK(dx[2] == 0.0f);
  CHECK(dx[3] == -1.5f);
  const float x[4] = {1.0f, 10.0f, 100.0f, 4.0f};
  float dw = 0.0f;
  kernels::conv2d_backward_weights_f32_ref(p, x, dy, &dw, kernels::GradWrite::assign, nullptr);
  CHECK(dw == 1.0f * 2.0f + 4.0f * -3.0f);
}

TEST_CASE("linear backward: input, weight and bias gradients match finite differences") {
  std::mt19937 gen(10);
  for (const kernels::LinearParams p :
       {kernels::LinearParams{3, 7, 5}, kernels::LinearParams{1, 1, 1},
        kernels::LinearParams{4, 17, 1}, kernels::LinearParams{2, 1, 9}}) {
    CAPTURE(p.batch);
    CAPTURE(p.in_features);
    CAPTURE(p.out_features);
    const std::vector<float> x =
        normal_floats(static_cast<std::size_t>(p.batch) * p.in_features, gen);
    const std::vector<float> w =
        normal_floats(static_cast<std::size_t>(p.in_features) * p.out_features, gen);
    const std::vector<float> b = normal_floats(static_cast<std::size_t>(p.out_features), gen);
    const std::vector<float> r =
        normal_floats(static_cast<std::size_t>(p.batch) * p.out_features, gen);
    std::vector<float> y(r.size());
    kernels::linear_f32_ref(p, x.data(), w.data(), b.data(), y.data(), {}, nullptr);
    check_forward(y, linear_double(p, to_double(x), to_double(w), to_double(b)));

    const std::vector<double> xd = to_double(x), wd = to_double(w), bd = to_double(b);
    REQUIRE(kernels::linear_backward_input_scratch_bytes_f32_ref(p) == 0);
    REQUIRE(kernels::linear_backward_weights_scratch_bytes_f32_ref(p) == 0);
    const std::vector<float> dx = run_both_modes(
        x.size(),
        [&](float* g, kernels::GradWrite mode) {
          kernels::linear_backward_input_f32_ref(p, r.data(), w.data(), g, mode, nullptr, nullptr);
        },
        gen);
    check_gradient(dx, numeric_gradient(x, r, [&](const std::vector<double>& t) {
                     return linear_double(p, t, wd, bd);
                   }));
    const std::vector<float> dw = run_both_modes(
        w.size(),
        [&](float* g, kernels::GradWrite mode) {
          kernels::linear_backward_weights_f32_ref(p, x.data(), r.data(), g, mode, nullptr);
        },
        gen);
    check_gradient(dw, numeric_gradient(w, r, [&](const std::vector<double>& t) {
                     return linear_double(p, xd, t, bd);
                   }));
    const std::vector<float> db = run_both_modes(
        b.size(),
        [&](float* g, kernels::GradWrite mode) {
          kernels::bias_backward_f32_ref(static_cast<std::size_t>(p.batch),
                                         static_cast<std::size_t>(p.out_features), r.data(), g,
                                         mode);
        },
        gen);
    check_gradient(db, numeric_gradient(b, r, [&](const std::vector<double>& t) {
                     return linear_double(p, xd, wd, t);
                   }));
  }
}

TEST_CASE("linear backward: batch 0 assigns zero weight gradients and touches no input") {
  const kernels::LinearParams p = {0, 2, 3};
  float dw[6] = {1, 2, 3, 4, 5, 6};
  kernels::linear_backward_weights_f32_ref(p, nullptr, nullptr, dw, kernels::GradWrite::assign,
                                           nullptr);
  for (float v : dw) CHECK(v == 0.0f);
}

}  // namespace
