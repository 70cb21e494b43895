// The scalar reference kernels and Model::forward, proved against hand-computed values and
// against an independent NCHW definition of PyTorch's layers (reference_definition.hpp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "graph_memory.hpp"
#include "graph_models.hpp"
#include "kernels/reference.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/model.hpp"
#include "lsuv/seed_model.hpp"
#include "reference_definition.hpp"

namespace {

namespace def = lsuv::testing;
namespace kernels = lsuv::kernels;
using lsuv::Status;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();
// Written after every output buffer; a kernel that writes past its output overwrites it.
constexpr float kGuard = -12345.0f;
constexpr std::size_t kGuardCount = 16;

// An output buffer filled with NaN (so an element the kernel forgets to write fails any
// comparison) followed by guard values.
std::vector<float> poisoned_output(std::size_t count) {
  std::vector<float> buffer(count + kGuardCount, kNaN);
  for (std::size_t i = count; i < buffer.size(); ++i) buffer[i] = kGuard;
  return buffer;
}

bool guard_intact(const std::vector<float>& buffer, std::size_t count) {
  for (std::size_t i = count; i < buffer.size(); ++i)
    if (buffer[i] != kGuard) return false;
  return true;
}

std::vector<float> run_conv(const kernels::Conv2dParams& p, const std::vector<float>& input,
                            const std::vector<float>& weights, const float* bias) {
  const std::size_t count = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c;
  std::vector<float> output = poisoned_output(count);
  kernels::conv2d_f32_ref(p, input.data(), weights.data(), bias, output.data(), {}, nullptr);
  CHECK(guard_intact(output, count));
  output.resize(count);
  return output;
}

std::vector<float> run_pool(void (*pool)(const kernels::Pool2dParams&, const float*, float*),
                            const kernels::Pool2dParams& p, const std::vector<float>& input) {
  const std::size_t count = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.channels;
  std::vector<float> output = poisoned_output(count);
  pool(p, input.data(), output.data());
  CHECK(guard_intact(output, count));
  output.resize(count);
  return output;
}

// A Model with its own memory.
class OwnedModel {
 public:
  Status build(const lsuv::LayerSpec* layers, std::int32_t count, lsuv::ImageShape input,
               std::int32_t max_batch) {
    LSUV_TRY(model.configure(layers, count, input, max_batch, lsuv_test::graph(count)));
    memory_.assign(model.required_bytes() + lsuv::Arena::kAlignment, 0);
    lsuv::Arena arena(memory_.data(), memory_.size());
    return model.bind(arena);
  }

  lsuv::Model model;

 private:
  std::vector<unsigned char> memory_;
};

// Writes PyTorch's weight (view(out, -1) row-major) and bias into a bound layer through
// parameter_index; false unless the indices cover the layer's weights exactly once.
bool set_torch_parameters(const lsuv::Layer& layer, const std::vector<float>& weight,
                          const std::vector<float>& bias) {
  const std::int32_t outs = layer.output.channels;
  const std::int32_t columns = layer.fan_in();
  if (static_cast<std::size_t>(outs) * columns != layer.weight_count) return false;
  std::vector<bool> written(layer.weight_count, false);
  for (std::int32_t o = 0; o < outs; ++o)
    for (std::int32_t column = 0; column < columns; ++column) {
      const std::size_t index = layer.parameter_index(o, column);
      if (index >= layer.weight_count || written[index]) return false;
      written[index] = true;
      layer.weights[index] = weight[static_cast<std::size_t>(o) * columns + column];
    }
  if (bias.size() != layer.bias_count) return false;
  for (std::size_t o = 0; o < bias.size(); ++o) layer.bias[o] = bias[o];
  return true;
}

bool same_shape(lsuv::ImageShape shape, const def::NchwTensor& t) {
  return shape.height == t.h && shape.width == t.w && shape.channels == t.c;
}

}  // namespace

// --- Hand-computed cases -----------------------------------------------------------------------
// Input 1..9 as a 3x3 image and the 2x2 kernel [[1, 2], [3, 4]] recur below; one channel makes
// NHWC and NCHW, and OIHW and the kernel layout, the same order.

TEST_CASE("reference kernel conv2d: 3x3 input, 2x2 kernel, no padding, bias") {
  const kernels::Conv2dParams p = {1, 3, 3, 1, 2, 2, 1, 2, 2, 1, 1, 0, 0, 1, 1, 1};
  const float bias = 10.0f;
  // (0,0): 1*1 + 2*2 + 4*3 + 5*4 = 37, then 47, 67, 77; plus the bias.
  CHECK(run_conv(p, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4}, &bias) ==
        std::vector<float>{47, 57, 77, 87});
}

TEST_CASE("reference kernel conv2d: padding 1 and stride 2 read zeros outside the image") {
  const kernels::Conv2dParams p = {1, 3, 3, 1, 2, 2, 1, 2, 2, 2, 2, 1, 1, 1, 1, 1};
  // Windows start at rows/columns -1 and 1. (0,0) sees only pixel 1 under weight 4; (0,1) sees
  // 2, 3 under 3, 4; (1,0) sees 4, 7 under 2, 4; (1,1) sees 5, 6, 8, 9 under 1, 2, 3, 4.
  CHECK(run_conv(p, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4}, nullptr) ==
        std::vector<float>{4, 18, 36, 77});
}

TEST_CASE("reference kernel conv2d: dilation 2 on a 3x4 image") {
  const kernels::Conv2dParams p = {1, 3, 4, 1, 1, 2, 1, 2, 2, 1, 1, 0, 0, 2, 2, 1};
  // Image rows 1..4, 5..8, 9..12; taps (0,0), (0,2), (2,0), (2,2) of each window:
  // 1*1 + 3*2 + 9*3 + 11*4 = 78 and 2*1 + 4*2 + 10*3 + 12*4 = 88.
  CHECK(run_conv(p, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {1, 2, 3, 4}, nullptr) ==
        std::vector<float>{78, 88});
}

TEST_CASE("reference kernel conv2d: groups 2, each output reads only its group's channels") {
  // 1x2 image, 4 channels: pixel 0 = (1, 2, 3, 4), pixel 1 = (5, 6, 7, 8); 1x2 kernel, 2 outputs.
  const kernels::Conv2dParams p = {1, 1, 2, 4, 1, 1, 2, 1, 2, 1, 1, 0, 0, 1, 1, 2};
  // OIHW: out 0 (channels 0, 1) = [[1, 2]], [[3, 4]]; out 1 (channels 2, 3) = [[5, 6]], [[7, 8]].
  // Kernel layout [kx][i][o]: kx 0: i0 (1, 5), i1 (3, 7); kx 1: i0 (2, 6), i1 (4, 8).
  const std::vector<float> weights = {1, 5, 3, 7, 2, 6, 4, 8};
  const float bias[] = {0.5f, -0.5f};
  // out 0 = 1*1 + 5*2 + 2*3 + 6*4 = 41; out 1 = 3*5 + 7*6 + 4*7 + 8*8 = 149.
  CHECK(run_conv(p, {1, 2, 3, 4, 5, 6, 7, 8}, weights, bias) == std::vector<float>{41.5f, 148.5f});
}

TEST_CASE("reference kernel conv2d: depthwise (groups = in = out)") {
  // Channel 0 is 1..9, channel 1 the squares 1..81; channel 0's kernel [[1, 2], [3, 4]],
  // channel 1's [[1, 0], [0, -1]] (top-left minus bottom-right).
  const kernels::Conv2dParams p = {1, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0, 1, 1, 2};
  const std::vector<float> input = {1, 1, 2, 4, 3, 9, 4, 16, 5, 25, 6, 36, 7, 49, 8, 64, 9, 81};
  const std::vector<float> weights = {1, 1, 2, 0, 3, 0, 4, -1};
  CHECK(run_conv(p, input, weights, nullptr) ==
        std::vector<float>{37, 1 - 25, 47, 4 - 36, 67, 16 - 64, 77, 25 - 81});
}

TEST_CASE("reference kernel conv2d: channel multiplier (groups = in, out = 2 * in), no bias") {
  // 2x2 image; channel 0 = [[1, 2], [3, 4]], channel 1 = [[5, 6], [7, 8]]. Outputs 0 and 1
  // read channel 0, outputs 2 and 3 channel 1.
  const kernels::Conv2dParams p = {1, 2, 2, 2, 1, 1, 4, 2, 2, 1, 1, 0, 0, 1, 1, 2};
  const std::vector<float> input = {1, 5, 2, 6, 3, 7, 4, 8};
  // OIHW: o0 [[1, 0], [0, 0]] -> 1; o1 [[0, 0], [0, 1]] -> 4; o2 all ones -> 26;
  // o3 [[0, 1], [-1, 0]] -> 6 - 7 = -1. Kernel layout [ky][kx][o]:
  const std::vector<float> weights = {1, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, -1, 0, 1, 1, 0};
  CHECK(run_conv(p, input, weights, nullptr) == std::vector<float>{1, 4, 26, -1});
}

TEST_CASE("reference kernel linear: 3 -> 2, batch 2, bias and no bias") {
  // PyTorch weight [[1, 0, -1], [2, 1, 0.5]], bias (0.5, -1); the kernel takes [in][out].
  const std::vector<float> weights = {1, 2, 0, 1, -1, 0.5f};
  const float bias[] = {0.5f, -1.0f};
  const std::vector<float> input = {1, 2, 3, -1, 0, 4};
  std::vector<float> output = poisoned_output(4);
  kernels::linear_f32_ref({2, 3, 2}, input.data(), weights.data(), bias, output.data(), {},
                          nullptr);
  CHECK(guard_intact(output, 4));
  // (1 - 3 + 0.5, 2 + 2 + 1.5 - 1) and (-1 - 4 + 0.5, -2 + 2 - 1).
  CHECK(std::vector<float>(output.begin(), output.begin() + 4) ==
        std::vector<float>{-1.5f, 4.5f, -4.5f, -1.0f});
  kernels::linear_f32_ref({2, 3, 2}, input.data(), weights.data(), nullptr, output.data(), {},
                          nullptr);
  CHECK(std::vector<float>(output.begin(), output.begin() + 4) ==
        std::vector<float>{-2.0f, 5.5f, -5.0f, 0.0f});
}

TEST_CASE("reference kernel max_pool2d: padding never wins") {
  // All inputs negative, so a zero from the padding would win if it were read.
  const std::vector<float> input = {-1, -2, -3, -4, -5, -6, -7, -8, -9};
  const kernels::Pool2dParams p = {1, 3, 3, 1, 4, 4, 2, 2, 1, 1, 1, 1};
  // Windows cover rows/columns oy-1..oy and ox-1..ox of the image.
  CHECK(run_pool(kernels::max_pool2d_f32_ref, p, input) ==
        std::vector<float>{-1, -1, -2, -3, -1, -1, -2, -3, -4, -4, -5, -6, -7, -7, -8, -9});
}

TEST_CASE("reference kernel max_pool2d: a NaN anywhere in the window wins, as in PyTorch") {
  // 2x4 image, 2 channels, 2x2 windows with stride 2. Channel 0 rows: (NaN, 5, 1, 2) and
  // (6, 7, 3, NaN): the NaN comes first in one window and last in the other. Channel 1 rows
  // (1, 2, 3, 4), (5, 6, 7, 8); channel 1 of window 1 also holds -inf.
  const std::vector<float> input = {kNaN, 1, 5, 2, 1, 3, 2, -kInf, 6, 5, 7, 6, 3, 7, kNaN, 8};
  const kernels::Pool2dParams p = {1, 2, 4, 2, 1, 2, 2, 2, 2, 2, 0, 0};
  const std::vector<float> output = run_pool(kernels::max_pool2d_f32_ref, p, input);
  CHECK(std::isnan(output[0]));
  CHECK(output[1] == 6.0f);
  CHECK(std::isnan(output[2]));
  CHECK(output[3] == 8.0f);
}

TEST_CASE("reference kernel avg_pool2d: padding counts in the divisor (count_include_pad)") {
  const std::vector<float> input = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  // 3x3 windows, stride 2, padding 1: each window holds four pixels and five zeros, and the
  // divisor is 9: (1+2+4+5)/9, (2+3+5+6)/9, (4+5+7+8)/9, (5+6+8+9)/9.
  const kernels::Pool2dParams padded = {1, 3, 3, 1, 2, 2, 3, 3, 2, 2, 1, 1};
  const std::vector<float> output = run_pool(kernels::avg_pool2d_f32_ref, padded, input);
  CHECK(output[0] == doctest::Approx(12.0 / 9));
  CHECK(output[1] == doctest::Approx(16.0 / 9));
  CHECK(output[2] == doctest::Approx(24.0 / 9));
  CHECK(output[3] == doctest::Approx(28.0 / 9));
  // Without padding, 2x2 windows with stride 1: exact quarters.
  const kernels::Pool2dParams plain = {1, 3, 3, 1, 2, 2, 2, 2, 1, 1, 0, 0};
  CHECK(run_pool(kernels::avg_pool2d_f32_ref, plain, input) == std::vector<float>{3, 4, 6, 7});
}

TEST_CASE("reference kernel global_avg_pool: the mean of each image's channel") {
  // Batch 2, 3 pixels, 2 channels.
  const std::vector<float> input = {1, 10, 2, 20, 3, 30, -1, 0.5f, 1, 0.5f, 3, 0.5f};
  std::vector<float> output = poisoned_output(4);
  kernels::global_avg_pool_f32_ref(2, 3, 2, input.data(), output.data());
  CHECK(guard_intact(output, 4));
  CHECK(output[0] == doctest::Approx(2.0));
  CHECK(output[1] == doctest::Approx(20.0));
  CHECK(output[2] == doctest::Approx(1.0));
  CHECK(output[3] == doctest::Approx(0.5));
}

TEST_CASE("reference kernel clamp as ReLU: negatives to zero, -0 and NaN kept as in PyTorch") {
  const float denormal = -std::numeric_limits<float>::denorm_min();
  const std::vector<float> input = {-1.0f, -0.0f, 0.0f, 2.5f, kNaN, -kInf, kInf, denormal};
  std::vector<float> output = poisoned_output(input.size());
  kernels::clamp_f32_ref(input.size(), input.data(), output.data(), 0.0f, kInf);
  CHECK(guard_intact(output, input.size()));
  CHECK(output[0] == 0.0f);
  // torch.relu(torch.tensor(-0.0)) is -0.0: the sign of a zero passes through.
  CHECK(output[1] == 0.0f);
  CHECK(std::signbit(output[1]));
  CHECK(output[2] == 0.0f);
  CHECK(output[3] == 2.5f);
  CHECK(std::isnan(output[4]));
  CHECK(output[5] == 0.0f);
  CHECK(output[6] == kInf);
  CHECK(output[7] == 0.0f);
  // In place gives the same.
  std::vector<float> in_place = input;
  kernels::clamp_f32_ref(in_place.size(), in_place.data(), in_place.data(), 0.0f, kInf);
  CHECK(std::isnan(in_place[4]));
  in_place[4] = output[4] = 0.0f;
  CHECK(in_place == std::vector<float>(output.begin(), output.begin() + input.size()));
}

TEST_CASE("reference kernel layout: parameter_index numbers weights as PyTorch does") {
  // Conv2d(4, 6, (2, 3), groups=2): PyTorch column (i * 2 + ky) * 3 + kx of out o lands at
  // [ky][kx][i][o] of the kernel layout.
  const lsuv::LayerSpec layers[] = {
      lsuv::conv2d("conv", 4, 6, 2, 3).with_groups(2),
      lsuv::flatten("flat"),
      lsuv::linear("fc", 0, 5),
  };
  lsuv::Model model;
  REQUIRE(model.configure(layers, 3, {3, 4, 4}, 1, lsuv_test::graph(3)) == Status::ok);
  const lsuv::Layer& conv = model.layer(0);
  REQUIRE(conv.fan_in() == 2 * 2 * 3);
  // out 4, column 11 = i 1, ky 1, kx 2.
  CHECK(conv.parameter_index(4, 11) == ((1u * 3 + 2) * 2 + 1) * 6 + 4);
  CHECK(conv.parameter_index(0, 0) == 0u);
  // Linear after Flatten of a 2x2x6 image: PyTorch feature c * 4 + y * 2 + x, NHWC feature
  // (y * 2 + x) * 6 + c; column 9 = c 2, y 0, x 1.
  const lsuv::Layer& fc = model.layer(2);
  REQUIRE(fc.fan_in() == 24);
  CHECK(fc.parameter_index(3, 9) == ((0u * 2 + 1) * 6 + 2) * 5 + 3);
  CHECK(fc.parameter_index(1, 23) == ((1u * 2 + 1) * 6 + 5) * 5 + 1);
}

// --- The sweep against the NCHW definition -----------------------------------------------------

namespace {

enum class GroupMode { none, two, depthwise, multiplier };

struct ConvCase {
  def::Conv2dArgs args;
  std::int32_t batch = 1, height = 1, width = 1;
  bool bias = true;
};

std::string describe(const ConvCase& c) {
  const def::Conv2dArgs& a = c.args;
  std::ostringstream s;
  s << "Conv2d(" << a.in_channels << ", " << a.out_channels << ", (" << a.kernel_h << ", "
    << a.kernel_w << "), stride=(" << a.stride_h << ", " << a.stride_w << "), padding=(" << a.pad_h
    << ", " << a.pad_w << "), dilation=(" << a.dilation_h << ", " << a.dilation_w
    << "), groups=" << a.groups << ", bias=" << c.bias << ") on " << c.batch << "x" << a.in_channels
    << "x" << c.height << "x" << c.width;
  return s.str();
}

lsuv::LayerSpec conv_spec(const ConvCase& c) {
  const def::Conv2dArgs& a = c.args;
  lsuv::LayerSpec spec = lsuv::conv2d("conv", a.in_channels, a.out_channels, a.kernel_h, a.kernel_w)
                             .with_stride(a.stride_h, a.stride_w)
                             .with_padding(a.pad_h, a.pad_w)
                             .with_dilation(a.dilation_h, a.dilation_w)
                             .with_groups(a.groups);
  return c.bias ? spec : spec.without_bias();
}

struct SweepTally {
  int tested = 0;
  int rejected = 0;  // configurations PyTorch rejects too (empty output)
  double worst_ratio = 0.0;
};

// Runs one configuration through conv2d_f32_ref and through a one-layer Model and compares both
// with the definition. Configurations with an empty output are ones PyTorch rejects: Model must
// reject them too (shape_mismatch), and nothing is run.
void check_conv_case(const ConvCase& c, std::mt19937& rng, SweepTally* tally) {
  INFO(describe(c));
  const def::Conv2dArgs& a = c.args;
  const lsuv::LayerSpec spec = conv_spec(c);
  const lsuv::ImageShape input_shape = {c.height, c.width, a.in_channels};
  const std::int32_t out_h =
      def::output_size(c.height, a.kernel_h, a.stride_h, a.pad_h, a.dilation_h);
  const std::int32_t out_w =
      def::output_size(c.width, a.kernel_w, a.stride_w, a.pad_w, a.dilation_w);
  if (out_h <= 0 || out_w <= 0) {
    lsuv::Model model;
    CHECK(model.configure(&spec, 1, input_shape, c.batch, lsuv_test::graph(1)) ==
          Status::shape_mismatch);
    ++tally->rejected;
    return;
  }
  const std::size_t weight_count = static_cast<std::size_t>(a.out_channels) *
                                   (a.in_channels / a.groups) * a.kernel_h * a.kernel_w;
  const std::vector<float> input = def::random_floats(
      rng, static_cast<std::size_t>(c.batch) * a.in_channels * c.height * c.width);
  const std::vector<float> weight = def::random_floats(rng, weight_count);
  const std::vector<float> bias =
      c.bias ? def::random_floats(rng, static_cast<std::size_t>(a.out_channels))
             : std::vector<float>{};
  const def::NchwTensor want = def::conv2d(
      def::from_nchw(c.batch, a.in_channels, c.height, c.width, input), weight, bias, a);
  REQUIRE(want.h == out_h);
  REQUIRE(want.w == out_w);
  const std::vector<float> input_nhwc =
      def::nchw_to_nhwc(input, c.batch, a.in_channels, c.height, c.width);

  const kernels::Conv2dParams p = {c.batch,    c.height,     c.width,        a.in_channels,
                                   out_h,      out_w,        a.out_channels, a.kernel_h,
                                   a.kernel_w, a.stride_h,   a.stride_w,     a.pad_h,
                                   a.pad_w,    a.dilation_h, a.dilation_w,   a.groups};
  const std::vector<float> kernel_output = run_conv(
      p, input_nhwc, def::oihw_to_kernel_layout(weight, a), c.bias ? bias.data() : nullptr);
  const def::Mismatch kernel_mismatch = def::compare_nhwc(want, kernel_output.data());
  CHECK(kernel_mismatch.count == 0);

  OwnedModel owned;
  REQUIRE(owned.build(&spec, 1, input_shape, c.batch) == Status::ok);
  REQUIRE(same_shape(owned.model.output_shape(), want));
  REQUIRE(set_torch_parameters(owned.model.layer(0), weight, bias));
  REQUIRE(owned.model.forward(input_nhwc.data(), c.batch) == Status::ok);
  const def::Mismatch model_mismatch = def::compare_nhwc(want, owned.model.output().data);
  CHECK(model_mismatch.count == 0);

  ++tally->tested;
  tally->worst_ratio =
      std::max({tally->worst_ratio, kernel_mismatch.worst_ratio, model_mismatch.worst_ratio});
}

// Channel counts for a group mode, varied by the generator.
void choose_channels(GroupMode mode, std::mt19937& rng, def::Conv2dArgs* a) {
  const auto pick = [&rng](std::int32_t low, std::int32_t high) {
    return low + static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(high - low + 1));
  };
  switch (mode) {
    case GroupMode::none:
      a->groups = 1;
      a->in_channels = pick(1, 3);
      a->out_channels = pick(1, 4);
      break;
    case GroupMode::two:
      a->groups = 2;
      a->in_channels = 2 * pick(1, 2);
      a->out_channels = 2 * pick(1, 3);
      break;
    case GroupMode::depthwise:
      a->groups = a->in_channels = a->out_channels = pick(2, 5);
      break;
    case GroupMode::multiplier:
      a->groups = a->in_channels = pick(2, 3);
      a->out_channels = 2 * a->in_channels;
      break;
  }
}

constexpr std::int32_t kSizes[] = {1, 2, 3, 5, 7, 13};

}  // namespace

TEST_CASE("reference kernel conv2d and Model::forward match the NCHW definition over a sweep") {
  // Every group mode x kernel height 1..5 x stride 1..3 x padding 0..2 x dilation 1..3 x image
  // height; the width's parameters, the batch (1 or 3) and the bias are drawn from a seeded
  // generator, independently of the height's so that a swapped h/w shows.
  std::mt19937 rng(20151119);
  SweepTally tally;
  int cases = 0, batch3 = 0, no_bias = 0, non_square = 0;
  const auto pick = [&rng](std::int32_t low, std::int32_t high) {
    return low + static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(high - low + 1));
  };
  for (GroupMode mode :
       {GroupMode::none, GroupMode::two, GroupMode::depthwise, GroupMode::multiplier})
    for (std::int32_t kernel = 1; kernel <= 5; ++kernel)
      for (std::int32_t stride = 1; stride <= 3; ++stride)
        for (std::int32_t pad = 0; pad <= 2; ++pad)
          for (std::int32_t dilation = 1; dilation <= 3; ++dilation)
            for (std::int32_t height : kSizes) {
              ConvCase c;
              choose_channels(mode, rng, &c.args);
              c.args.kernel_h = kernel;
              c.args.stride_h = stride;
              c.args.pad_h = pad;
              c.args.dilation_h = dilation;
              c.args.kernel_w = pick(1, 5);
              c.args.stride_w = pick(1, 3);
              c.args.pad_w = pick(0, 2);
              c.args.dilation_w = pick(1, 3);
              c.height = height;
              c.width = kSizes[rng() % 6];
              c.batch = rng() % 2 == 0 ? 1 : 3;
              c.bias = rng() % 2 == 0;
              check_conv_case(c, rng, &tally);
              ++cases;
              batch3 += c.batch == 3;
              no_bias += !c.bias;
              non_square += c.args.kernel_h != c.args.kernel_w;
            }
  CHECK(tally.tested + tally.rejected == cases);
  // What is skipped is only what PyTorch rejects (checked case by case above): big dilated
  // kernels on small images; well over a thousand configurations run.
  CHECK(tally.tested > 1400);
  CHECK(batch3 > cases / 4);
  CHECK(no_bias > cases / 4);
  CHECK(non_square > cases / 2);
  // The error bound is a bound, not a fudge factor: the worst element uses a fraction of it.
  CHECK(tally.worst_ratio < 1.0);
}

TEST_CASE("reference kernel conv2d: the comparison catches a kernel that swaps ky and kx") {
  // Guards the sweep itself: a layout bug that keeps every weight but moves it must fail.
  std::mt19937 rng(7);
  def::Conv2dArgs a;
  a.in_channels = 2;
  a.out_channels = 3;
  a.kernel_h = a.kernel_w = 3;
  const std::vector<float> input = def::random_floats(rng, 2 * 5 * 5);
  const std::vector<float> weight = def::random_floats(rng, 3 * 2 * 3 * 3);
  const def::NchwTensor want = def::conv2d(def::from_nchw(1, 2, 5, 5, input), weight, {}, a);
  std::vector<float> swapped = weight;
  for (std::size_t oi = 0; oi < 6; ++oi)
    for (std::size_t ky = 0; ky < 3; ++ky)
      for (std::size_t kx = 0; kx < 3; ++kx)
        swapped[oi * 9 + ky * 3 + kx] = weight[oi * 9 + kx * 3 + ky];
  const kernels::Conv2dParams p = {1, 5, 5, 2, 3, 3, 3, 3, 3, 1, 1, 0, 0, 1, 1, 1};
  const std::vector<float> input_nhwc = def::nchw_to_nhwc(input, 1, 2, 5, 5);
  const std::vector<float> right =
      run_conv(p, input_nhwc, def::oihw_to_kernel_layout(weight, a), nullptr);
  const std::vector<float> wrong =
      run_conv(p, input_nhwc, def::oihw_to_kernel_layout(swapped, a), nullptr);
  CHECK(def::compare_nhwc(want, right.data()).count == 0);
  CHECK(def::compare_nhwc(want, wrong.data()).count > 20);
}

TEST_CASE("reference kernel pooling and Model::forward match the NCHW definition over a sweep") {
  // Window height 1..4 x stride 1..3 x padding 0..2 x image height, max and avg; padding above
  // half the window is what PyTorch rejects (invalid_argument here), as is an empty output
  // (shape_mismatch). The width's parameters, channels and batch come from the generator.
  std::mt19937 rng(1998);
  int tested = 0, rejected = 0, cases = 0;
  double worst_ratio = 0.0;
  const auto pick = [&rng](std::int32_t low, std::int32_t high) {
    return low + static_cast<std::int32_t>(rng() % static_cast<std::uint32_t>(high - low + 1));
  };
  for (bool is_max : {true, false})
    for (std::int32_t kernel = 1; kernel <= 4; ++kernel)
      for (std::int32_t stride = 1; stride <= 3; ++stride)
        for (std::int32_t pad = 0; pad <= 2; ++pad)
          for (std::int32_t height : kSizes) {
            ++cases;
            def::Pool2dArgs a;
            a.kernel_h = kernel;
            a.stride_h = stride;
            a.pad_h = pad;
            a.kernel_w = pick(1, 4);
            a.stride_w = pick(1, 3);
            a.pad_w = pick(0, a.kernel_w / 2);
            const std::int32_t width = kSizes[rng() % 6];
            const std::int32_t channels = pick(1, 4);
            const std::int32_t batch = rng() % 2 == 0 ? 1 : 3;
            lsuv::LayerSpec spec =
                is_max ? lsuv::max_pool2d("pool", 1) : lsuv::avg_pool2d("pool", 1);
            spec.kernel_h = a.kernel_h;
            spec.kernel_w = a.kernel_w;
            spec = spec.with_stride(a.stride_h, a.stride_w).with_padding(a.pad_h, a.pad_w);
            const lsuv::ImageShape shape = {height, width, channels};
            std::ostringstream description;
            description << (is_max ? "MaxPool2d" : "AvgPool2d") << "((" << a.kernel_h << ", "
                        << a.kernel_w << "), stride=(" << a.stride_h << ", " << a.stride_w
                        << "), padding=(" << a.pad_h << ", " << a.pad_w << ")) on " << batch << "x"
                        << channels << "x" << height << "x" << width;
            INFO(description.str());
            const std::int32_t out_h = def::output_size(height, a.kernel_h, a.stride_h, a.pad_h, 1);
            const std::int32_t out_w = def::output_size(width, a.kernel_w, a.stride_w, a.pad_w, 1);
            lsuv::Model rejecting;
            if (a.pad_h > a.kernel_h / 2) {
              CHECK(rejecting.configure(&spec, 1, shape, batch, lsuv_test::graph(1)) ==
                    Status::invalid_argument);
              ++rejected;
              continue;
            }
            if (out_h <= 0 || out_w <= 0) {
              CHECK(rejecting.configure(&spec, 1, shape, batch, lsuv_test::graph(1)) ==
                    Status::shape_mismatch);
              ++rejected;
              continue;
            }
            const std::vector<float> input = def::random_floats(
                rng, static_cast<std::size_t>(batch) * channels * height * width);
            const def::NchwTensor x = def::from_nchw(batch, channels, height, width, input);
            const def::NchwTensor want = is_max ? def::max_pool2d(x, a) : def::avg_pool2d(x, a);
            const std::vector<float> input_nhwc =
                def::nchw_to_nhwc(input, batch, channels, height, width);
            const kernels::Pool2dParams p = {batch,      height,     width,      channels,
                                             out_h,      out_w,      a.kernel_h, a.kernel_w,
                                             a.stride_h, a.stride_w, a.pad_h,    a.pad_w};
            const std::vector<float> kernel_output = run_pool(
                is_max ? kernels::max_pool2d_f32_ref : kernels::avg_pool2d_f32_ref, p, input_nhwc);
            const def::Mismatch kernel_mismatch = def::compare_nhwc(want, kernel_output.data());
            CHECK(kernel_mismatch.count == 0);

            OwnedModel owned;
            REQUIRE(owned.build(&spec, 1, shape, batch) == Status::ok);
            REQUIRE(same_shape(owned.model.output_shape(), want));
            REQUIRE(owned.model.forward(input_nhwc.data(), batch) == Status::ok);
            const def::Mismatch model_mismatch = def::compare_nhwc(want, owned.model.output().data);
            CHECK(model_mismatch.count == 0);
            worst_ratio =
                std::max({worst_ratio, kernel_mismatch.worst_ratio, model_mismatch.worst_ratio});
            ++tested;
          }
  CHECK(tested + rejected == cases);
  CHECK(tested > cases / 3);
  CHECK(worst_ratio < 1.0);
}

TEST_CASE("reference kernel linear and global average pool match the definition over sizes") {
  std::mt19937 rng(42);
  for (std::int32_t in_features : {1, 2, 3, 7, 16, 33, 100})
    for (std::int32_t out_features : {1, 2, 5, 9})
      for (std::int32_t batch : {1, 3})
        for (bool with_bias : {true, false}) {
          INFO("Linear(" << in_features << ", " << out_features << ", bias=" << with_bias
                         << ") on batch " << batch);
          const std::vector<float> input =
              def::random_floats(rng, static_cast<std::size_t>(batch) * in_features);
          const std::vector<float> weight =
              def::random_floats(rng, static_cast<std::size_t>(out_features) * in_features);
          const std::vector<float> bias =
              with_bias ? def::random_floats(rng, static_cast<std::size_t>(out_features))
                        : std::vector<float>{};
          const def::NchwTensor want = def::linear(def::from_nchw(batch, in_features, 1, 1, input),
                                                   weight, bias, out_features);
          const std::size_t count = static_cast<std::size_t>(batch) * out_features;
          std::vector<float> output = poisoned_output(count);
          kernels::linear_f32_ref({batch, in_features, out_features}, input.data(),
                                  def::transpose(weight, out_features, in_features).data(),
                                  with_bias ? bias.data() : nullptr, output.data(), {}, nullptr);
          CHECK(guard_intact(output, count));
          CHECK(def::compare_nhwc(want, output.data()).count == 0);
        }
  for (std::int32_t height : kSizes)
    for (std::int32_t width : {1, 4, 13})
      for (std::int32_t channels : {1, 3, 8}) {
        INFO("AdaptiveAvgPool2d(1) on 2x" << channels << "x" << height << "x" << width);
        const std::vector<float> input =
            def::random_floats(rng, static_cast<std::size_t>(2) * channels * height * width);
        const def::NchwTensor want =
            def::adaptive_avg_pool2d(def::from_nchw(2, channels, height, width, input));
        const std::vector<float> input_nhwc = def::nchw_to_nhwc(input, 2, channels, height, width);
        std::vector<float> output = poisoned_output(2 * static_cast<std::size_t>(channels));
        kernels::global_avg_pool_f32_ref(2, height * width, channels, input_nhwc.data(),
                                         output.data());
        CHECK(guard_intact(output, 2 * static_cast<std::size_t>(channels)));
        CHECK(def::compare_nhwc(want, output.data()).count == 0);
      }
}

// --- Whole models against the NCHW pipeline ----------------------------------------------------

namespace {

// Random PyTorch-ordered parameters for every conv/linear layer of a bound model, and random
// BatchNorm2d state (variances positive).
struct TorchParameters {
  std::vector<std::vector<float>> weight, bias, running_mean, running_var;
};

TorchParameters randomize(const lsuv::Model& model, std::mt19937& rng) {
  TorchParameters parameters;
  parameters.weight.resize(static_cast<std::size_t>(model.layer_count()));
  parameters.bias.resize(static_cast<std::size_t>(model.layer_count()));
  parameters.running_mean.resize(static_cast<std::size_t>(model.layer_count()));
  parameters.running_var.resize(static_cast<std::size_t>(model.layer_count()));
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    const auto at = static_cast<std::size_t>(i);
    if (layer.spec.kind == lsuv::LayerKind::batch_norm2d) {
      parameters.weight[at] = def::random_floats(rng, layer.weight_count);
      parameters.bias[at] = def::random_floats(rng, layer.weight_count);
      parameters.running_mean[at] = def::random_floats(rng, layer.weight_count);
      parameters.running_var[at] = def::random_floats(rng, layer.weight_count);
      for (float& v : parameters.running_var[at]) v = 0.25f + v * v;
      const auto copy = [&](const std::vector<float>& from, float* to) {
        std::copy(from.begin(), from.end(), to);
      };
      copy(parameters.weight[at], layer.weights);
      copy(parameters.bias[at], layer.bias);
      copy(parameters.running_mean[at], layer.running_mean);
      copy(parameters.running_var[at], layer.running_var);
      continue;
    }
    if (!lsuv::has_parameters(layer.spec.kind)) continue;
    parameters.weight[at] = def::random_floats(rng, layer.weight_count);
    parameters.bias[at] = def::random_floats(rng, layer.bias_count);
    CHECK(set_torch_parameters(layer, parameters.weight[at], parameters.bias[at]));
  }
  return parameters;
}

def::Conv2dArgs conv_args(const lsuv::Layer& layer) {
  const lsuv::LayerSpec& s = layer.spec;
  def::Conv2dArgs a;
  a.in_channels = layer.input.channels;
  a.out_channels = s.out_channels;
  a.kernel_h = s.kernel_h;
  a.kernel_w = s.kernel_w;
  a.stride_h = s.stride_h;
  a.stride_w = s.stride_w;
  a.pad_h = s.pad_h;
  a.pad_w = s.pad_w;
  a.dilation_h = s.dilation_h;
  a.dilation_w = s.dilation_w;
  a.groups = s.groups;
  return a;
}

def::Pool2dArgs pool_args(const lsuv::LayerSpec& s) {
  def::Pool2dArgs a;
  a.kernel_h = s.kernel_h;
  a.kernel_w = s.kernel_w;
  a.stride_h = s.stride_h;
  a.stride_w = s.stride_w;
  a.pad_h = s.pad_h;
  a.pad_w = s.pad_w;
  return a;
}

// The network as PyTorch would run it on NCHW data, op by op from the records, each reading the
// tensors it names. lsuv's Linear flattens its input itself; PyTorch's needs a Flatten first,
// which is what `flatten` does here to an input that is not flat yet.
def::NchwTensor torch_forward(const lsuv::Model& model, const TorchParameters& parameters,
                              const def::NchwTensor& input) {
  std::vector<def::NchwTensor> outputs(static_cast<std::size_t>(model.layer_count()));
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    const auto at = static_cast<std::size_t>(i);
    const auto in = [&](std::int32_t k) -> const def::NchwTensor& {
      const std::int32_t from = layer.inputs[k];
      return from < 0 ? input : outputs[static_cast<std::size_t>(from)];
    };
    const def::NchwTensor& x = in(0);
    def::NchwTensor& y = outputs[at];
    switch (layer.spec.kind) {
      case lsuv::LayerKind::conv2d:
        y = def::conv2d(x, parameters.weight[at], parameters.bias[at], conv_args(layer));
        break;
      case lsuv::LayerKind::linear:
        y = def::linear(def::flatten(x), parameters.weight[at], parameters.bias[at],
                        layer.spec.out_channels);
        break;
      case lsuv::LayerKind::relu:
        y = def::relu(x);
        break;
      case lsuv::LayerKind::relu6:
        y = def::clamp(x, 0.0, 6.0);
        break;
      case lsuv::LayerKind::hardtanh:
        y = def::clamp(x, layer.spec.clamp_min, layer.spec.clamp_max);
        break;
      case lsuv::LayerKind::max_pool2d:
        y = def::max_pool2d(x, pool_args(layer.spec));
        break;
      case lsuv::LayerKind::avg_pool2d:
        y = def::avg_pool2d(x, pool_args(layer.spec));
        break;
      case lsuv::LayerKind::adaptive_avg_pool2d:
        y = def::adaptive_avg_pool2d(x);
        break;
      case lsuv::LayerKind::flatten:
        y = def::flatten(x);
        break;
      case lsuv::LayerKind::add: {
        std::vector<const def::NchwTensor*> terms;
        for (std::int32_t k = 0; k < layer.input_count; ++k) terms.push_back(&in(k));
        y = def::add(terms);
        if (layer.spec.relu) y = def::relu(y);
        break;
      }
      case lsuv::LayerKind::batch_norm2d:
        y = def::batch_norm2d(x, parameters.weight[at], parameters.bias[at],
                              parameters.running_mean[at], parameters.running_var[at],
                              layer.spec.eps);
        break;
    }
  }
  return outputs.back();
}

// Builds the model, gives it random parameters in PyTorch's numbering, runs a batch through
// Model::forward and through the NCHW pipeline, and compares.
void check_model_against_pipeline(const lsuv::LayerSpec* layers, std::int32_t count,
                                  lsuv::ImageShape shape, std::int32_t batch, std::uint32_t seed) {
  std::mt19937 rng(seed);
  OwnedModel owned;
  REQUIRE(owned.build(layers, count, shape, batch) == Status::ok);
  const TorchParameters parameters = randomize(owned.model, rng);
  const std::vector<float> input =
      def::random_floats(rng, static_cast<std::size_t>(batch) * shape.elements());
  const def::NchwTensor want =
      torch_forward(owned.model, parameters,
                    def::from_nchw(batch, shape.channels, shape.height, shape.width, input));
  const std::vector<float> input_nhwc =
      def::nchw_to_nhwc(input, batch, shape.channels, shape.height, shape.width);
  REQUIRE(owned.model.forward(input_nhwc.data(), batch) == Status::ok);
  REQUIRE(same_shape(owned.model.output_shape(), want));
  REQUIRE(owned.model.output().batch == batch);
  const def::Mismatch mismatch = def::compare_nhwc(want, owned.model.output().data);
  CHECK(mismatch.count == 0);
  CHECK(mismatch.worst_ratio < 1.0);
}

}  // namespace

TEST_CASE(
    "reference kernels: Conv2d -> MaxPool2d -> Flatten -> Linear follows PyTorch's CHW order") {
  // 9x7 image -> conv 9x7x4 -> pool 4x3x4 -> 48 features in C x H x W order -> 5.
  const lsuv::LayerSpec layers[] = {
      lsuv::conv2d("conv", 3, 4, 3).with_padding(1),
      lsuv::relu("relu"),
      lsuv::max_pool2d("pool", 2),
      lsuv::flatten("flat"),
      lsuv::linear("fc", 48, 5),
  };
  check_model_against_pipeline(layers, 5, {9, 7, 3}, 3, 1);
  // The same without the ReLU, so negative activations reach the pool and the Linear.
  const lsuv::LayerSpec plain[] = {layers[0], layers[2], layers[3], layers[4]};
  check_model_against_pipeline(plain, 4, {9, 7, 3}, 1, 2);
}

TEST_CASE("reference kernels: grouped conv, padded avg pool, ReLU after Flatten, two Linears") {
  lsuv::LayerSpec pool = lsuv::avg_pool2d("pool", 3).with_stride(2).with_padding(1);
  const lsuv::LayerSpec layers[] = {
      lsuv::conv2d("conv", 2, 6, 3, 2).with_stride(2, 1).with_groups(2).with_dilation(1, 2),
      pool,
      lsuv::flatten("flat"),
      lsuv::relu("relu"),
      lsuv::linear("fc1", 0, 7).without_bias(),
      lsuv::relu("relu2"),
      lsuv::linear("fc2", 7, 3),
  };
  check_model_against_pipeline(layers, 7, {11, 8, 2}, 3, 3);
}

TEST_CASE("reference kernels: Linear straight after a conv flattens in PyTorch's CHW order") {
  const lsuv::LayerSpec layers[] = {
      lsuv::conv2d("conv", 1, 3, 2).with_stride(2),
      lsuv::linear("fc", 3 * 3 * 2, 4),
  };
  check_model_against_pipeline(layers, 2, {6, 5, 1}, 2, 4);
}

TEST_CASE("reference kernels: the seed's network matches the NCHW pipeline") {
  check_model_against_pipeline(lsuv::kSeedLayers, lsuv::kSeedLayerCount, lsuv::kSeedInput, 2, 5);
}

// --- Graphs: residual joins, batch norm, clamps, branches ----------------------------------------

namespace {

std::vector<lsuv::CpuLevel> levels_here() {
  std::vector<lsuv::CpuLevel> levels;
  for (lsuv::CpuLevel level :
       {lsuv::CpuLevel::ref, lsuv::CpuLevel::sse2, lsuv::CpuLevel::avx2, lsuv::CpuLevel::neon})
    if (lsuv::cpu_level_supported(level)) levels.push_back(level);
  return levels;
}

struct LevelLimit {
  ~LevelLimit() { (void)lsuv::set_cpu_level_limit(lsuv::cpu_level_detected()); }
};

}  // namespace

TEST_CASE("graphs: a residual network matches the NCHW definition at every kernel level") {
  LevelLimit restore;
  for (lsuv::CpuLevel level : levels_here()) {
    CAPTURE(std::string(lsuv::cpu_level_name(level)));
    REQUIRE(lsuv::set_cpu_level_limit(level) == Status::ok);
    for (std::int32_t batch : {1, 3})
      check_model_against_pipeline(lsuv_test::kResidual, lsuv_test::kResidualCount, {9, 10, 3},
                                   batch, 20 + batch);
  }
}

TEST_CASE("graphs: a depthwise-separable network matches the NCHW definition at every level") {
  LevelLimit restore;
  for (lsuv::CpuLevel level : levels_here()) {
    CAPTURE(std::string(lsuv::cpu_level_name(level)));
    REQUIRE(lsuv::set_cpu_level_limit(level) == Status::ok);
    for (std::int32_t batch : {1, 5})
      check_model_against_pipeline(lsuv_test::kDepthwise, lsuv_test::kDepthwiseCount, {12, 11, 1},
                                   batch, 30 + batch);
  }
}

TEST_CASE("graphs: configure names the op and the shapes it refuses") {
  lsuv::Model model;
  lsuv::ConfigureError why;
  const lsuv::LayerSpec wrong_channels[] = {lsuv::conv2d("c1", 3, 8, 3),
                                            lsuv::conv2d("c2", 16, 4, 3)};
  CHECK(model.configure(wrong_channels, 2, {9, 9, 3}, 1, lsuv_test::graph(2), &why) ==
        Status::shape_mismatch);
  CHECK(why.op == 1);
  CHECK(std::string(why.message) == "c2: expects 16 input channels, 8 arrive (7x7x8)");
  const lsuv::LayerSpec unknown_input[] = {lsuv::relu("r"), lsuv::add("sum", "r", "nowhere")};
  CHECK(model.configure(unknown_input, 2, {2, 2, 1}, 1, lsuv_test::graph(2), &why) ==
        Status::invalid_argument);
  CHECK(std::string(why.message) == "sum: input 'nowhere' names no earlier op");
  const lsuv::LayerSpec later_input[] = {lsuv::relu("a").with_input("b"), lsuv::relu("b")};
  CHECK(model.configure(later_input, 2, {2, 2, 1}, 1, lsuv_test::graph(2), &why) ==
        Status::invalid_argument);
  CHECK(why.op == 0);
  const lsuv::LayerSpec mismatched[] = {lsuv::conv2d("c", 1, 2, 3), lsuv::add("sum", "c", "input")};
  CHECK(model.configure(mismatched, 2, {5, 5, 1}, 1, lsuv_test::graph(2), &why) ==
        Status::shape_mismatch);
  CHECK(std::string(why.message) == "sum: input 2 is 5x5x1, input 1 is 3x3x2");
  const lsuv::LayerSpec one_term[] = {lsuv::add("sum", "input", "input")};
  lsuv::LayerSpec single = one_term[0];
  single.input_count = 1;
  CHECK(model.configure(&single, 1, {2, 2, 1}, 1, lsuv_test::graph(1), &why) ==
        Status::invalid_argument);
  CHECK(std::string(why.message) == "sum: add takes 2 to 4 inputs, 1 given");
  const lsuv::LayerSpec bn[] = {lsuv::batch_norm2d("bn", 4)};
  CHECK(model.configure(bn, 1, {2, 2, 3}, 1, lsuv_test::graph(1), &why) == Status::shape_mismatch);
  CHECK(std::string(why.message) == "bn: expects 4 channels, 3 arrive (2x2x3)");
  const lsuv::LayerSpec bad_clamp[] = {lsuv::hardtanh("h", 1.0f, -1.0f)};
  CHECK(model.configure(bad_clamp, 1, {2, 2, 3}, 1, lsuv_test::graph(1), &why) ==
        Status::invalid_argument);
  CHECK(model.configure(lsuv_test::kResidual, lsuv_test::kResidualCount, {9, 10, 3}, 2,
                        lsuv_test::graph(lsuv_test::kResidualCount), &why) == Status::ok);
  CHECK(why.op == -1);
  CHECK(why.message[0] == '\0');
}

TEST_CASE("graphs: the plan keeps every live tensor apart and stays near the lower bound") {
  struct Net {
    const lsuv::LayerSpec* layers;
    std::int32_t count;
    lsuv::ImageShape input;
  };
  const auto overlap = [](std::size_t a, std::size_t na, std::size_t b, std::size_t nb) {
    return na > 0 && nb > 0 && a < b + nb && b < a + na;
  };
  for (const Net& net :
       {Net{lsuv_test::kResidual, lsuv_test::kResidualCount, lsuv_test::kResidualInput},
        Net{lsuv_test::kDepthwise, lsuv_test::kDepthwiseCount, lsuv_test::kDepthwiseInput},
        Net{lsuv::kSeedLayers, lsuv::kSeedLayerCount, lsuv::kSeedInput}}) {
    for (std::int32_t batch : {1, 8, 64}) {
      lsuv::Model model;
      REQUIRE(model.configure(net.layers, net.count, net.input, batch,
                              lsuv_test::graph(net.count)) == Status::ok);
      const lsuv::MemoryPlan plan = model.memory_plan();
      CAPTURE(net.layers[0].name);
      CAPTURE(batch);
      CAPTURE(plan.activation_bytes);
      CAPTURE(plan.lower_bound_bytes);
      CHECK(plan.activation_bytes >= plan.lower_bound_bytes);
      CHECK(plan.activation_bytes <= plan.lower_bound_bytes + plan.lower_bound_bytes / 10);
      // The storage a tensor shares with the ops that work in place over it.
      const auto root = [&](std::int32_t i) {
        while (model.layer(i).in_place) i = model.layer(i).inputs[0];
        return i;
      };
      for (std::int32_t step = 0; step < model.layer_count(); ++step) {
        const lsuv::Layer& op = model.layer(step);
        CHECK(op.scratch_offset + op.scratch_bytes <= plan.activation_bytes);
        for (std::int32_t i = 0; i <= step; ++i) {
          const lsuv::Layer& a = model.layer(i);
          if (a.last_use < step) continue;  // not alive at this op
          CHECK(a.output_offset + a.output_bytes <= plan.activation_bytes);
          CHECK_FALSE(
              overlap(a.output_offset, a.output_bytes, op.scratch_offset, op.scratch_bytes));
          for (std::int32_t j = 0; j < i; ++j) {
            const lsuv::Layer& b = model.layer(j);
            if (b.last_use < step || root(i) == root(j)) continue;
            CAPTURE(i);
            CAPTURE(j);
            CHECK_FALSE(overlap(a.output_offset, a.output_bytes, b.output_offset, b.output_bytes));
          }
        }
      }
    }
  }
}

TEST_CASE("graphs: a chain's plan takes no more than the two ping-pong buffers it replaced") {
  lsuv::Model model;
  REQUIRE(model.configure(lsuv::kSeedLayers, lsuv::kSeedLayerCount, lsuv::kSeedInput, 64,
                          lsuv_test::graph(lsuv::kSeedLayerCount)) == Status::ok);
  const lsuv::MemoryPlan plan = model.memory_plan();
  std::size_t largest_scratch = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    largest_scratch = std::max(largest_scratch, model.layer(i).scratch_bytes);
  MESSAGE("seed model, batch 64: activations and scratch "
          << plan.activation_bytes << " bytes, lower bound " << plan.lower_bound_bytes
          << ", ping-pong " << plan.ping_pong_bytes << " + largest scratch " << largest_scratch);
  CHECK(plan.activation_bytes <= plan.ping_pong_bytes + largest_scratch);
}

// --- Model-level contracts ---------------------------------------------------------------------

TEST_CASE("kernel-backed Model::forward rejects batches outside 1..max_batch and null input") {
  const lsuv::LayerSpec layers[] = {lsuv::conv2d("conv", 1, 2, 3), lsuv::relu("relu")};
  OwnedModel owned;
  REQUIRE(owned.build(layers, 2, {5, 5, 1}, 4) == Status::ok);
  const std::vector<float> input(4 * 25, 1.0f);
  CHECK(owned.model.forward(input.data(), 0) == Status::invalid_argument);
  CHECK(owned.model.forward(input.data(), -1) == Status::invalid_argument);
  CHECK(owned.model.forward(input.data(), 5) == Status::invalid_argument);
  CHECK(owned.model.forward(input.data(), std::numeric_limits<std::int32_t>::max()) ==
        Status::invalid_argument);
  CHECK(owned.model.forward(nullptr, 1) == Status::invalid_argument);
  // The model still works after refusing.
  REQUIRE(owned.model.forward(input.data(), 4) == Status::ok);
  CHECK(owned.model.output().batch == 4);
  CHECK(owned.model.output().shape == lsuv::ImageShape{3, 3, 2});
}

TEST_CASE("kernel-backed Model::forward before bind is not_bound") {
  const float input[25] = {};
  lsuv::Model fresh;
  CHECK(fresh.forward(input, 1) == Status::not_bound);
  const lsuv::LayerSpec layer = lsuv::conv2d("conv", 1, 2, 3);
  lsuv::Model configured;
  REQUIRE(configured.configure(&layer, 1, {5, 5, 1}, 1, lsuv_test::graph(1)) == Status::ok);
  CHECK(configured.forward(input, 1) == Status::not_bound);
}

TEST_CASE("kernel-backed Model::configure rejects what PyTorch rejects") {
  lsuv::Model model;
  const lsuv::ImageShape rgb = {8, 8, 3};
  SUBCASE("groups that do not divide the channels") {
    const lsuv::LayerSpec in_not_divisible = lsuv::conv2d("conv", 3, 4, 1).with_groups(2);
    CHECK(model.configure(&in_not_divisible, 1, rgb, 1, lsuv_test::graph(1)) ==
          Status::invalid_argument);
    const lsuv::LayerSpec out_not_divisible = lsuv::conv2d("conv", 3, 4, 1).with_groups(3);
    CHECK(model.configure(&out_not_divisible, 1, rgb, 1, lsuv_test::graph(1)) ==
          Status::invalid_argument);
    const lsuv::LayerSpec zero_groups = lsuv::conv2d("conv", 3, 3, 1).with_groups(0);
    CHECK(model.configure(&zero_groups, 1, rgb, 1, lsuv_test::graph(1)) ==
          Status::invalid_argument);
  }
  SUBCASE("in_channels that differ from what arrives") {
    const lsuv::LayerSpec first = lsuv::conv2d("conv", 2, 4, 3);
    CHECK(model.configure(&first, 1, rgb, 1, lsuv_test::graph(1)) == Status::shape_mismatch);
    const lsuv::LayerSpec second[] = {lsuv::conv2d("a", 3, 4, 3), lsuv::conv2d("b", 5, 4, 3)};
    CHECK(model.configure(second, 2, rgb, 1, lsuv_test::graph(2)) == Status::shape_mismatch);
    const lsuv::LayerSpec features[] = {lsuv::flatten("flat"), lsuv::linear("fc", 8 * 8, 2)};
    CHECK(model.configure(features, 2, rgb, 1, lsuv_test::graph(2)) == Status::shape_mismatch);
  }
  SUBCASE("a window larger than the padded input") {
    const lsuv::ImageShape small = {3, 5, 1};
    const lsuv::LayerSpec too_tall = lsuv::conv2d("conv", 1, 1, 4, 1);
    CHECK(model.configure(&too_tall, 1, small, 1, lsuv_test::graph(1)) == Status::shape_mismatch);
    const lsuv::LayerSpec too_wide = lsuv::conv2d("conv", 1, 1, 1, 6);
    CHECK(model.configure(&too_wide, 1, small, 1, lsuv_test::graph(1)) == Status::shape_mismatch);
    // Dilation 3 spans 7 rows; padding 1 makes 5 of the 3.
    const lsuv::LayerSpec dilated = lsuv::conv2d("conv", 1, 1, 3).with_dilation(3).with_padding(1);
    CHECK(model.configure(&dilated, 1, small, 1, lsuv_test::graph(1)) == Status::shape_mismatch);
    // Exactly the padded size fits: one output row.
    const lsuv::LayerSpec exact = lsuv::conv2d("conv", 1, 1, 5).with_padding(1);
    REQUIRE(model.configure(&exact, 1, small, 1, lsuv_test::graph(1)) == Status::ok);
    CHECK(model.output_shape() == lsuv::ImageShape{1, 3, 1});
    const lsuv::LayerSpec pool = lsuv::max_pool2d("pool", 4);
    CHECK(model.configure(&pool, 1, small, 1, lsuv_test::graph(1)) == Status::shape_mismatch);
    const lsuv::LayerSpec avg = lsuv::avg_pool2d("pool", 4);
    CHECK(model.configure(&avg, 1, small, 1, lsuv_test::graph(1)) == Status::shape_mismatch);
  }
  SUBCASE("pool padding above half the window") {
    const lsuv::LayerSpec pool = lsuv::max_pool2d("pool", 2).with_padding(2);
    CHECK(model.configure(&pool, 1, rgb, 1, lsuv_test::graph(1)) == Status::invalid_argument);
    const lsuv::LayerSpec avg = lsuv::avg_pool2d("pool", 3).with_padding(0, 2);
    CHECK(model.configure(&avg, 1, rgb, 1, lsuv_test::graph(1)) == Status::invalid_argument);
  }
  SUBCASE("duplicate or empty names") {
    const lsuv::LayerSpec duplicate[] = {lsuv::relu("r"), lsuv::conv2d("c", 3, 3, 1),
                                         lsuv::relu("r")};
    CHECK(model.configure(duplicate, 3, rgb, 1, lsuv_test::graph(3)) == Status::invalid_argument);
    const lsuv::LayerSpec empty[] = {lsuv::relu("r"), lsuv::relu("")};
    CHECK(model.configure(empty, 2, rgb, 1, lsuv_test::graph(2)) == Status::invalid_argument);
  }
  SUBCASE("any number of ops, as many as the graph arena holds") {
    std::vector<lsuv::LayerSpec> layers;
    for (std::int32_t i = 0; i < 300; ++i) {
      const std::string name = "relu" + std::to_string(i);
      layers.push_back(lsuv::relu(name.c_str()));
    }
    CHECK(model.configure(layers.data(), 300, rgb, 1, lsuv_test::graph(300)) == Status::ok);
    CHECK(model.layer_count() == 300);
    std::vector<unsigned char> short_of_one(lsuv::Model::graph_bytes(300) - 1);
    lsuv::Arena too_small(short_of_one.data(), short_of_one.size());
    lsuv::ConfigureError why;
    CHECK(model.configure(layers.data(), 300, rgb, 1, too_small, &why) == Status::arena_too_small);
    CHECK(std::string(why.message).find("graph_bytes") != std::string::npos);
    CHECK(too_small.used() == 0);
    CHECK(model.layer_count() == 300);  // still the model configured before
  }
}

TEST_CASE("kernel-backed Model::configure reports sizes that overflow as size_overflow") {
  lsuv::Model model;
  constexpr std::int32_t kHuge = 1 << 20;
  // 2^60 floats an image times 2^20 images: more bytes than size_t counts.
  const lsuv::LayerSpec relu = lsuv::relu("relu");
  CHECK(model.configure(&relu, 1, {kHuge, kHuge, kHuge}, kHuge, lsuv_test::graph(1)) ==
        Status::size_overflow);
  // Huge channels: 2^20 x 2^20 x 2^20 output floats are 2^62 bytes an image (the input is the
  // caller's). Two images still fit in size_t (2^63 bytes), four do not.
  const lsuv::LayerSpec wide = lsuv::conv2d("conv", 1, kHuge, 1);
  const lsuv::ImageShape plane = {kHuge, kHuge, 1};
  if (sizeof(std::size_t) >= 8) {
    CHECK(model.configure(&wide, 1, plane, 1, lsuv_test::graph(1)) == Status::ok);
    CHECK(static_cast<std::uint64_t>(model.required_bytes()) > (std::uint64_t{1} << 62));
    CHECK(model.configure(&wide, 1, plane, 2, lsuv_test::graph(1)) == Status::ok);
    CHECK(static_cast<std::uint64_t>(model.required_bytes()) > (std::uint64_t{1} << 63));
  } else {
    CHECK(model.configure(&wide, 1, plane, 1, lsuv_test::graph(1)) == Status::size_overflow);
  }
  CHECK(model.configure(&wide, 1, plane, 4, lsuv_test::graph(1)) == Status::size_overflow);
  // A conv whose fan-in (kernel_h * kernel_w * in_channels) exceeds int32: PyTorch's weight
  // columns could no longer be numbered (Layer::fan_in, parameter_index).
  const lsuv::LayerSpec deep = lsuv::conv2d("conv", 1024, 1, 2048);
  CHECK(model.configure(&deep, 1, {2048, 2048, 1024}, 1, lsuv_test::graph(1)) ==
        Status::size_overflow);
  // Each dimension and the batch have a ceiling.
  CHECK(model.configure(&relu, 1, {1, 1, std::numeric_limits<std::int32_t>::max()}, 1,
                        lsuv_test::graph(1)) == Status::size_overflow);
  CHECK(model.configure(&relu, 1, {1, 1, 1}, std::numeric_limits<std::int32_t>::max(),
                        lsuv_test::graph(1)) == Status::size_overflow);
}
