// The int8 reference kernels (kernels/reference_i8.hpp) on hand-computed values and against a
// double-precision model of the same quantised layers: dequantise, evaluate PyTorch's layer in
// double (reference_definition.hpp, NCHW, nothing shared with the kernels), quantise the result
// with a single rounding. The fixed-point kernels round twice with a multiplier accurate to
// 2^-31, so they land within one unit of that model.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/fixed_point.hpp"
#include "kernels/reference_i8.hpp"
#include "reference_definition.hpp"

namespace {

namespace def = lsuv::testing;
namespace kernels = lsuv::kernels;
using kernels::I8Epilogue;

constexpr std::int32_t kHalf = 1 << 30;  // 0.5 as a Q0.31 multiplier
constexpr std::int8_t kGuard = 0x5a;
constexpr std::size_t kGuardCount = 16;

// An output buffer filled with `fill` and followed by guard bytes.
std::vector<std::int8_t> output_buffer(std::size_t count, std::int8_t fill) {
  std::vector<std::int8_t> buffer(count, fill);
  buffer.insert(buffer.end(), kGuardCount, kGuard);
  return buffer;
}

bool guard_intact(const std::vector<std::int8_t>& buffer, std::size_t count) {
  for (std::size_t i = count; i < buffer.size(); ++i)
    if (buffer[i] != kGuard) return false;
  return true;
}

std::vector<std::int8_t> random_int8(std::mt19937& rng, std::size_t n, int lo = -128,
                                     int hi = 127) {
  std::uniform_int_distribution<int> dist(lo, hi);
  std::vector<std::int8_t> v(n);
  for (std::int8_t& x : v) x = static_cast<std::int8_t>(dist(rng));
  return v;
}

std::vector<float> as_floats(const std::vector<std::int8_t>& v) {
  return std::vector<float>(v.begin(), v.end());
}

std::vector<std::int8_t> as_int8(const std::vector<float>& v) {
  std::vector<std::int8_t> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = static_cast<std::int8_t>(v[i]);
  return out;
}

// The real value of an int8 code.
double dequantise(std::int32_t q, double scale, std::int32_t zero_point) {
  return scale * (q - zero_point);
}

// The single-rounding quantisation of a real value (std::round: ties away from zero).
std::int32_t quantise(double real, double scale, std::int32_t zero_point, std::int32_t lo,
                      std::int32_t hi) {
  const double q = std::round(real / scale) + zero_point;
  return static_cast<std::int32_t>(q < lo ? lo : (q > hi ? hi : q));
}

TEST_CASE("int8 linear: hand-computed accumulators, requantisation, range and moments") {
  // x = {-128, 127, 0} with zero point -128 is centred to {0, 255, 128}.
  const std::int8_t x[6] = {-128, 127, 0, -128, -128, -128};  // the second image is all zeros
  const std::int8_t w[6] = {1, -128, -1, 127, 2, -128};       // [in][out]
  const std::int32_t bias[2] = {10, -1};
  // out 0: 255 * -1 + 128 * 2 + 10 = 11; out 1: 255 * 127 + 128 * -128 - 1 = 16000.
  // 11 * 0.5 = 5.5 -> 6; 16000 * 2^-7 = 125; zero point -3.
  const std::int32_t multiplier[2] = {kHalf, kHalf};
  const std::int32_t shift[2] = {0, -6};
  std::vector<kernels::ChannelMoments> moments(2);
  I8Epilogue e;
  e.multiplier = multiplier;
  e.shift = shift;
  e.output_zero_point = -3;
  e.accumulator_moments = moments.data();
  std::vector<std::int8_t> out = output_buffer(4, 0);
  kernels::linear_i8_ref({2, 3, 2}, x, -128, w, bias, out.data(), e, nullptr);
  CHECK(guard_intact(out, 4));
  CHECK(out[0] == 3);
  CHECK(out[1] == 122);
  // The all-zero image: the bias alone, 10 * 0.5 = 5 and -1 * 0.5 -> 0 (ties towards +inf).
  CHECK(out[2] == 2);
  CHECK(out[3] == -3);
  // Accumulators 11, 10 and 16000, -1.
  CHECK(moments[0].count == 2);
  CHECK(moments[0].mean == doctest::Approx(10.5).epsilon(1e-15));
  CHECK(moments[0].m2 == doctest::Approx(0.5).epsilon(1e-12));
  CHECK(moments[1].mean == doctest::Approx(7999.5).epsilon(1e-15));
  CHECK(moments[1].m2 == doctest::Approx(2.0 * 8000.5 * 8000.5).epsilon(1e-12));
  // A clamped range (ReLU6-like) and no bias: out 1 is 16001 * 2^-7 = 125.0078 -> 125 - 3.
  e.output_min = -3;
  e.output_max = 100;
  e.accumulator_moments = nullptr;
  kernels::linear_i8_ref({2, 3, 2}, x, -128, w, nullptr, out.data(), e, nullptr);
  CHECK(out[0] == -2);  // 1 * 0.5 rounds to 1
  CHECK(out[1] == 100);
  CHECK(out[2] == -3);
  CHECK(out[3] == -3);
}

TEST_CASE("int8 conv2d: padding reads as the zero point") {
  // One pixel x = 10 with zero point 4 under a 3x3 kernel of ones and padding 1: only the centre
  // tap is inside, so the accumulator is 10 - 4 = 6 (padding as raw zeros would give -26).
  kernels::Conv2dParams p{};
  p.batch = p.in_h = p.in_w = p.in_c = p.out_h = p.out_w = p.out_c = 1;
  p.kernel_h = p.kernel_w = 3;
  p.stride_h = p.stride_w = p.dilation_h = p.dilation_w = p.groups = 1;
  p.pad_h = p.pad_w = 1;
  const std::int8_t x = 10;
  const std::vector<std::int8_t> w(9, 1);
  const std::int32_t multiplier = kHalf, shift = 1;  // 1.0
  I8Epilogue e;
  e.multiplier = &multiplier;
  e.shift = &shift;
  e.output_zero_point = -7;
  std::vector<std::int8_t> out = output_buffer(1, 0);
  kernels::conv2d_i8_ref(p, &x, 4, w.data(), nullptr, out.data(), e, nullptr);
  CHECK(out[0] == -1);
  CHECK(guard_intact(out, 1));
}

struct QuantConvCase {
  std::int32_t batch, in_c, in_h, in_w, out_c, kernel_h, kernel_w, stride, pad, dilation, groups;
  std::int32_t input_zero_point, output_zero_point;
  bool bias, relu;
};

std::string describe(const QuantConvCase& c) {
  return "in " + std::to_string(c.in_c) + "x" + std::to_string(c.in_h) + "x" +
         std::to_string(c.in_w) + " out " + std::to_string(c.out_c) + " k" +
         std::to_string(c.kernel_h) + "x" + std::to_string(c.kernel_w) + " s" +
         std::to_string(c.stride) + " p" + std::to_string(c.pad) + " d" +
         std::to_string(c.dilation) + " g" + std::to_string(c.groups) + " zp " +
         std::to_string(c.input_zero_point) + "/" + std::to_string(c.output_zero_point);
}

TEST_CASE("int8 conv2d is within one unit of the double model on every configuration") {
  std::mt19937 rng(101);
  const QuantConvCase cases[] = {
      {2, 3, 7, 6, 5, 3, 3, 1, 1, 1, 1, 0, 0, true, false},        // plain, padded
      {1, 4, 9, 9, 6, 3, 3, 2, 1, 1, 1, -128, 127, true, false},   // strided, extreme zps
      {1, 3, 8, 7, 4, 3, 2, 1, 2, 2, 1, 127, -128, false, true},   // dilated, non-square, ReLU
      {2, 6, 5, 5, 4, 3, 3, 1, 1, 1, 2, 17, -5, true, true},       // groups
      {1, 8, 6, 6, 8, 3, 3, 1, 1, 1, 8, -20, 30, true, false},     // depthwise
      {1, 4, 6, 5, 8, 3, 3, 2, 1, 1, 4, -128, -128, true, true},   // depthwise, multiplier 2
      {3, 16, 4, 4, 12, 1, 1, 1, 0, 1, 1, 127, 127, true, false},  // 1x1
      {1, 2, 5, 5, 3, 5, 5, 1, 2, 1, 1, 3, 0, true, false},        // kernel as large as input
      {1, 5, 3, 3, 7, 3, 3, 3, 0, 1, 1, -1, 2, false, false},      // one output pixel
  };
  const double input_scale = 1.0 / 16.0, output_scale = 0.37;
  for (const QuantConvCase& c : cases) {
    def::Conv2dArgs a;
    a.in_channels = c.in_c;
    a.out_channels = c.out_c;
    a.kernel_h = c.kernel_h;
    a.kernel_w = c.kernel_w;
    a.stride_h = a.stride_w = c.stride;
    a.pad_h = a.pad_w = c.pad;
    a.dilation_h = a.dilation_w = c.dilation;
    a.groups = c.groups;
    const std::int32_t out_h = def::output_size(c.in_h, c.kernel_h, c.stride, c.pad, c.dilation);
    const std::int32_t out_w = def::output_size(c.in_w, c.kernel_w, c.stride, c.pad, c.dilation);
    const std::int32_t group_in = c.in_c / c.groups;
    const std::size_t in_n = static_cast<std::size_t>(c.batch) * c.in_c * c.in_h * c.in_w;
    const std::size_t w_n = static_cast<std::size_t>(c.out_c) * group_in * c.kernel_h * c.kernel_w;
    const std::vector<std::int8_t> x_nchw = random_int8(rng, in_n);
    const std::vector<std::int8_t> w_oihw = random_int8(rng, w_n);
    std::vector<std::int32_t> bias(c.out_c), multiplier(c.out_c), shift(c.out_c);
    std::vector<double> weight_scale(c.out_c);
    for (std::int32_t o = 0; o < c.out_c; ++o) {
      weight_scale[o] = std::ldexp(1.0, -5 - o % 3);  // powers of two: the model is exact
      bias[o] = c.bias ? std::uniform_int_distribution<std::int32_t>(-20000, 20000)(rng) : 0;
      const kernels::QuantizedMultiplier q =
          kernels::quantize_multiplier(input_scale * weight_scale[o] / output_scale);
      multiplier[o] = q.multiplier;
      shift[o] = q.shift;
    }
    // The model: real input, weights and bias, PyTorch's conv in double.
    std::vector<float> x_real(in_n), w_real(w_n), b_real(c.out_c);
    for (std::size_t i = 0; i < in_n; ++i)
      x_real[i] = static_cast<float>(dequantise(x_nchw[i], input_scale, c.input_zero_point));
    for (std::int32_t o = 0; o < c.out_c; ++o) {
      const std::size_t per = w_n / c.out_c;
      for (std::size_t i = 0; i < per; ++i)
        w_real[o * per + i] = static_cast<float>(weight_scale[o] * w_oihw[o * per + i]);
      b_real[o] = static_cast<float>(input_scale * weight_scale[o] * bias[o]);
    }
    const def::NchwTensor y =
        def::conv2d(def::from_nchw(c.batch, c.in_c, c.in_h, c.in_w, x_real), w_real, b_real, a);
    // The kernel, on the same codes in its own layouts.
    const std::vector<std::int8_t> x_nhwc =
        as_int8(def::nchw_to_nhwc(as_floats(x_nchw), c.batch, c.in_c, c.in_h, c.in_w));
    const std::vector<std::int8_t> w_hwio =
        as_int8(def::oihw_to_kernel_layout(as_floats(w_oihw), a));
    kernels::Conv2dParams p{};
    p.batch = c.batch;
    p.in_h = c.in_h;
    p.in_w = c.in_w;
    p.in_c = c.in_c;
    p.out_h = out_h;
    p.out_w = out_w;
    p.out_c = c.out_c;
    p.kernel_h = c.kernel_h;
    p.kernel_w = c.kernel_w;
    p.stride_h = p.stride_w = c.stride;
    p.pad_h = p.pad_w = c.pad;
    p.dilation_h = p.dilation_w = c.dilation;
    p.groups = c.groups;
    std::vector<kernels::ChannelMoments> moments(c.out_c);
    I8Epilogue e;
    e.multiplier = multiplier.data();
    e.shift = shift.data();
    e.output_zero_point = c.output_zero_point;
    e.output_min = c.relu ? c.output_zero_point : -128;
    e.accumulator_moments = moments.data();
    const std::size_t out_n = static_cast<std::size_t>(c.batch) * out_h * out_w * c.out_c;
    std::vector<std::int8_t> got = output_buffer(out_n, 0);
    kernels::conv2d_i8_ref(p, x_nhwc.data(), c.input_zero_point, w_hwio.data(),
                           c.bias ? bias.data() : nullptr, got.data(), e, nullptr);
    std::size_t bad = 0, off_by_one = 0, moment_bad = 0;
    std::vector<long double> sum(c.out_c, 0.0L), sum_sq(c.out_c, 0.0L);
    for (std::int32_t n = 0; n < c.batch; ++n)
      for (std::int32_t o = 0; o < c.out_c; ++o)
        for (std::int32_t oy = 0; oy < out_h; ++oy)
          for (std::int32_t ox = 0; ox < out_w; ++ox) {
            const double real = y.value[y.index(n, o, oy, ox)];
            const std::int32_t want =
                quantise(real, output_scale, c.output_zero_point, e.output_min, e.output_max);
            const std::int32_t have =
                got[((static_cast<std::size_t>(n) * out_h + oy) * out_w + ox) * c.out_c + o];
            bad += std::abs(have - want) <= 1 ? 0 : 1;
            off_by_one += have == want ? 0 : 1;
            // The exact accumulator, for the moments.
            const long double acc = real / (input_scale * weight_scale[o]);
            sum[o] += acc;
            sum_sq[o] += acc * acc;
          }
    const long double count = static_cast<long double>(c.batch) * out_h * out_w;
    for (std::int32_t o = 0; o < c.out_c; ++o) {
      const long double mean = sum[o] / count;
      const long double m2 = sum_sq[o] - sum[o] * mean;
      moment_bad += moments[o].count == static_cast<std::uint64_t>(count) &&
                            std::fabs(moments[o].mean - static_cast<double>(mean)) <=
                                1e-9 * (1.0 + std::fabs(static_cast<double>(mean))) &&
                            std::fabs(moments[o].m2 - static_cast<double>(m2)) <=
                                1e-9 * (1.0 + static_cast<double>(sum_sq[o]))
                        ? 0
                        : 1;
    }
    INFO(describe(c));
    CHECK(guard_intact(got, out_n));
    CHECK(bad == 0);
    CHECK(off_by_one * 20 <= out_n);  // the two roundings rarely differ from one
    CHECK(moment_bad == 0);
  }
}

TEST_CASE("int8 linear is within one unit of the double model, extreme zero points included") {
  std::mt19937 rng(102);
  const double input_scale = 0.125, output_scale = 2.9;
  for (std::int32_t zero_point : {-128, -1, 0, 127}) {
    const std::int32_t batch = 3, in = 37, out = 19;
    const std::vector<std::int8_t> x = random_int8(rng, static_cast<std::size_t>(batch) * in);
    const std::vector<std::int8_t> w_out_in = random_int8(rng, static_cast<std::size_t>(out) * in);
    std::vector<std::int32_t> bias(out), multiplier(out), shift(out);
    std::vector<float> w_real(w_out_in.size()), b_real(out), x_real(x.size());
    for (std::int32_t o = 0; o < out; ++o) {
      const double weight_scale = std::ldexp(1.0, -7 - o % 4);
      bias[o] = std::uniform_int_distribution<std::int32_t>(-5000, 5000)(rng);
      b_real[o] = static_cast<float>(input_scale * weight_scale * bias[o]);
      for (std::int32_t i = 0; i < in; ++i)
        w_real[static_cast<std::size_t>(o) * in + i] =
            static_cast<float>(weight_scale * w_out_in[static_cast<std::size_t>(o) * in + i]);
      const kernels::QuantizedMultiplier q =
          kernels::quantize_multiplier(input_scale * weight_scale / output_scale);
      multiplier[o] = q.multiplier;
      shift[o] = q.shift;
    }
    for (std::size_t i = 0; i < x.size(); ++i)
      x_real[i] = static_cast<float>(dequantise(x[i], input_scale, zero_point));
    const def::NchwTensor y =
        def::linear(def::from_nchw(batch, in, 1, 1, x_real), w_real, b_real, out);
    const std::vector<std::int8_t> w_in_out = as_int8(def::transpose(as_floats(w_out_in), out, in));
    I8Epilogue e;
    e.multiplier = multiplier.data();
    e.shift = shift.data();
    e.output_zero_point = -zero_point / 2;
    std::vector<std::int8_t> got = output_buffer(static_cast<std::size_t>(batch) * out, 0);
    kernels::linear_i8_ref({batch, in, out}, x.data(), zero_point, w_in_out.data(), bias.data(),
                           got.data(), e, nullptr);
    std::size_t bad = 0;
    for (std::int32_t n = 0; n < batch; ++n)
      for (std::int32_t o = 0; o < out; ++o) {
        const std::int32_t want =
            quantise(y.value[y.index(n, o, 0, 0)], output_scale, e.output_zero_point, -128, 127);
        bad += std::abs(got[static_cast<std::size_t>(n) * out + o] - want) <= 1 ? 0 : 1;
      }
    INFO("input zero point ", zero_point);
    CHECK(guard_intact(got, static_cast<std::size_t>(batch) * out));
    CHECK(bad == 0);
  }
}

kernels::Pool2dParams pool_params(std::int32_t batch, std::int32_t h, std::int32_t w,
                                  std::int32_t channels, std::int32_t kernel, std::int32_t stride,
                                  std::int32_t pad) {
  kernels::Pool2dParams p{};
  p.batch = batch;
  p.in_h = h;
  p.in_w = w;
  p.channels = channels;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_h = p.pad_w = pad;
  p.out_h = def::output_size(h, kernel, stride, pad, 1);
  p.out_w = def::output_size(w, kernel, stride, pad, 1);
  return p;
}

TEST_CASE("int8 average pool: hand-computed ties and padding as the zero point") {
  // 2x2 windows over one 2x2 image, no padding: sums 3, 2, -2 and -3 over 4.
  const std::int8_t x[4 * 4] = {1, 1, -1, -1, 2, 1, -1, -2, 0, 0, 0, 0, 0, 0, 0, 0};
  std::vector<std::int8_t> out = output_buffer(4, 9);
  kernels::avg_pool2d_i8_ref(pool_params(1, 2, 2, 4, 2, 1, 0), x, 0, out.data());
  CHECK(out[0] == 1);   // 0.75
  CHECK(out[1] == 1);   // 0.5 away from zero
  CHECK(out[2] == -1);  // -0.5 away from zero
  CHECK(out[3] == -1);  // -0.75
  CHECK(guard_intact(out, 4));
  // One pixel under a 2x2 window with padding 1: every window holds it and three padded
  // positions that count as the zero point -3: (v - 9) / 4.
  const std::int8_t pixel[3] = {5, 6, 7};
  out = output_buffer(4 * 3, 9);
  kernels::avg_pool2d_i8_ref(pool_params(1, 1, 1, 3, 2, 1, 1), pixel, -3, out.data());
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(out[i * 3 + 0] == -1);  // -4 / 4
    CHECK(out[i * 3 + 1] == -1);  // -0.75
    CHECK(out[i * 3 + 2] == -1);  // -0.5, away from zero
  }
  CHECK(guard_intact(out, 12));
}

TEST_CASE("int8 pooling agrees with the double model: max exactly, averages within one unit") {
  std::mt19937 rng(103);
  struct PoolCase {
    std::int32_t batch, h, w, channels, kernel, stride, pad, zero_point;
  };
  const PoolCase cases[] = {{2, 8, 8, 3, 2, 2, 0, 0},    {1, 9, 7, 8, 3, 2, 1, -128},
                            {3, 5, 5, 17, 3, 1, 1, 127}, {1, 6, 6, 5, 2, 2, 1, -7},
                            {1, 4, 4, 1, 4, 4, 0, 50},   {1, 7, 7, 4, 5, 2, 2, 3}};
  const double scale = 0.05;
  for (const PoolCase& c : cases) {
    const kernels::Pool2dParams p =
        pool_params(c.batch, c.h, c.w, c.channels, c.kernel, c.stride, c.pad);
    const std::vector<std::int8_t> x_nchw =
        random_int8(rng, static_cast<std::size_t>(c.batch) * c.channels * c.h * c.w);
    std::vector<float> x_real(x_nchw.size());
    for (std::size_t i = 0; i < x_real.size(); ++i)
      x_real[i] = static_cast<float>(dequantise(x_nchw[i], scale, c.zero_point));
    def::Pool2dArgs a;
    a.kernel_h = a.kernel_w = c.kernel;
    a.stride_h = a.stride_w = c.stride;
    a.pad_h = a.pad_w = c.pad;
    const def::NchwTensor real = def::from_nchw(c.batch, c.channels, c.h, c.w, x_real);
    const def::NchwTensor max_model = def::max_pool2d(real, a);
    const def::NchwTensor avg_model = def::avg_pool2d(real, a);
    const std::vector<std::int8_t> x =
        as_int8(def::nchw_to_nhwc(as_floats(x_nchw), c.batch, c.channels, c.h, c.w));
    const std::size_t out_n = static_cast<std::size_t>(c.batch) * p.out_h * p.out_w * c.channels;
    std::vector<std::int8_t> got_max = output_buffer(out_n, 0), got_avg = output_buffer(out_n, 0);
    kernels::max_pool2d_i8_ref(p, x.data(), got_max.data());
    kernels::avg_pool2d_i8_ref(p, x.data(), c.zero_point, got_avg.data());
    std::size_t bad = 0;
    for (std::int32_t n = 0; n < c.batch; ++n)
      for (std::int32_t ch = 0; ch < c.channels; ++ch)
        for (std::int32_t oy = 0; oy < p.out_h; ++oy)
          for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
            const std::size_t at = max_model.index(n, ch, oy, ox);
            const std::size_t got_at =
                ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * c.channels + ch;
            bad += got_max[got_at] == quantise(max_model.value[at], scale, c.zero_point, -128, 127)
                       ? 0
                       : 1;
            bad += std::abs(got_avg[got_at] -
                            quantise(avg_model.value[at], scale, c.zero_point, -128, 127)) <= 1
                       ? 0
                       : 1;
          }
    INFO("pool ", c.kernel, " stride ", c.stride, " pad ", c.pad, " zero point ", c.zero_point);
    CHECK(guard_intact(got_max, out_n));
    CHECK(guard_intact(got_avg, out_n));
    CHECK(bad == 0);
  }
  // Global average: 3 images of 7 pixels, one channel hand-computed, all within half a unit of
  // the exact mean.
  const std::int32_t batch = 3, pixels = 7, channels = 5;
  std::vector<std::int8_t> x =
      random_int8(rng, static_cast<std::size_t>(batch) * pixels * channels);
  for (std::int32_t i = 0; i < pixels; ++i)
    x[static_cast<std::size_t>(i) * channels] = i < 4 ? -128 : 127;
  std::vector<std::int8_t> got = output_buffer(static_cast<std::size_t>(batch) * channels, 0);
  kernels::global_avg_pool_i8_ref(batch, pixels, channels, x.data(), got.data());
  CHECK(got[0] == -19);  // (4 * -128 + 3 * 127) / 7 = -131 / 7 = -18.7
  std::size_t bad = 0;
  for (std::int32_t n = 0; n < batch; ++n)
    for (std::int32_t ch = 0; ch < channels; ++ch) {
      std::int32_t sum = 0;
      for (std::int32_t i = 0; i < pixels; ++i)
        sum += x[(static_cast<std::size_t>(n) * pixels + i) * channels + ch];
      const double mean = static_cast<double>(sum) / pixels;
      bad += std::fabs(got[static_cast<std::size_t>(n) * channels + ch] - mean) <= 0.5 ? 0 : 1;
    }
  CHECK(bad == 0);
  CHECK(guard_intact(got, static_cast<std::size_t>(batch) * channels));
}

// TFLite's parameters for a rescaling add of `count` inputs (AddI8Params' comment).
kernels::AddI8Params add_params(const std::vector<double>& scales,
                                const std::vector<std::int32_t>& zero_points, double output_scale,
                                std::int32_t output_zero_point) {
  kernels::AddI8Params a;
  a.count = static_cast<std::int32_t>(scales.size());
  double largest = 0.0;
  for (double s : scales) largest = std::fmax(largest, s);
  const double twice = 2.0 * largest;
  for (std::int32_t k = 0; k < a.count; ++k) {
    const kernels::QuantizedMultiplier q = kernels::quantize_multiplier(scales[k] / twice);
    a.input_zero_point[k] = zero_points[k];
    a.input_multiplier[k] = q.multiplier;
    a.input_shift[k] = q.shift;
  }
  const kernels::QuantizedMultiplier q =
      kernels::quantize_multiplier(twice / (std::ldexp(1.0, a.left_shift) * output_scale));
  a.output_multiplier = q.multiplier;
  a.output_shift = q.shift;
  a.output_zero_point = output_zero_point;
  return a;
}

TEST_CASE("int8 add rescales every input as TFLite does, within one unit of the double model") {
  // Hand-computed: scales 0.5 and 0.25 into 0.5, zero points 0: 10 * 0.5 + 6 * 0.25 = 6.5 -> 13.
  {
    const kernels::AddI8Params a = add_params({0.5, 0.25}, {0, 0}, 0.5, 0);
    const std::int8_t x0 = 10, x1 = 6;
    const std::int8_t* inputs[2] = {&x0, &x1};
    std::int8_t out = 0;
    kernels::add_i8_ref(1, inputs, a, &out);
    CHECK(out == 13);
  }
  std::mt19937 rng(104);
  const std::size_t n = 501;
  for (std::int32_t count = 2; count <= 4; ++count) {
    std::vector<double> scales;
    std::vector<std::int32_t> zero_points;
    std::vector<std::vector<std::int8_t>> x;
    std::vector<const std::int8_t*> inputs;
    for (std::int32_t k = 0; k < count; ++k) {
      scales.push_back(0.01 + 0.07 * k + 0.003 * count);
      zero_points.push_back(k == 0 ? -128 : (k == 1 ? 127 : 5 * k));
      x.push_back(random_int8(rng, n));
    }
    for (const auto& v : x) inputs.push_back(v.data());
    for (bool relu : {false, true}) {
      kernels::AddI8Params a = add_params(scales, zero_points, 0.11, -9);
      if (relu) a.output_min = a.output_zero_point;
      std::vector<std::int8_t> got = output_buffer(n, 0);
      kernels::add_i8_ref(n, inputs.data(), a, got.data());
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        double real = 0.0;
        for (std::int32_t k = 0; k < count; ++k)
          real += dequantise(x[k][i], scales[k], zero_points[k]);
        bad += std::abs(got[i] - quantise(real, 0.11, -9, a.output_min, 127)) <= 1 ? 0 : 1;
      }
      // In place over the first input gives the same.
      std::vector<std::int8_t> in_place = x[0];
      std::vector<const std::int8_t*> in_place_inputs = inputs;
      in_place_inputs[0] = in_place.data();
      kernels::add_i8_ref(n, in_place_inputs.data(), a, in_place.data());
      std::size_t differs = 0;
      for (std::size_t i = 0; i < n; ++i) differs += in_place[i] == got[i] ? 0 : 1;
      INFO("inputs ", count, " relu ", relu);
      CHECK(guard_intact(got, n));
      CHECK(bad == 0);
      CHECK(differs == 0);
    }
  }
}

TEST_CASE("int8 clamp keeps values inside the range, in place too") {
  std::vector<std::int8_t> x = {-128, -5, -4, 0, 6, 7, 127};
  std::vector<std::int8_t> out = output_buffer(x.size(), 0);
  kernels::clamp_i8_ref(x.size(), x.data(), out.data(), -4, 6);
  const std::int8_t want[] = {-4, -4, -4, 0, 6, 6, 6};
  for (std::size_t i = 0; i < x.size(); ++i) CHECK(out[i] == want[i]);
  CHECK(guard_intact(out, x.size()));
  kernels::clamp_i8_ref(x.size(), x.data(), x.data(), -128, 127);
  CHECK(x[0] == -128);
  CHECK(x[6] == 127);
}

}  // namespace
