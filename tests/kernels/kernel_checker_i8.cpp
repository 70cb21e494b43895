// The int8 kernel checker: every int8 entry of every level this machine runs, bit-exact against
// its reference (kernels/reference_i8.hpp), on shapes that cover every tile tail and convolution
// configuration and on the corners of the fixed-point contract: -128 * -128 products (int16 pair
// sums overflow), centred inputs of 255 (zero points at both extremes), accumulators next to
// both ends of int32, multipliers near 2^31 and 2^30 with shifts at -31 and +30, narrow output
// ranges. Each kernel runs twice into outputs pre-filled with two different bytes between guard
// bytes, so an element left unwritten or a write out of bounds fails; scratch is poisoned with
// 0xff and followed by guard bytes. A level's accumulator moments must be the
// reference's bit for bit.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/fixed_point.hpp"
#include "kernels/i8_dispatch.hpp"
#include "kernels/reference.hpp"
#include "kernels/reference_i8.hpp"
#include "lsuv/cpu.hpp"
#include "poisoned_scratch.hpp"

namespace {

using lsuv_test::PoisonedScratch;

namespace kernels = lsuv::kernels;
using kernels::I8Epilogue;
using kernels::I8Kernels;
using lsuv::CpuLevel;

constexpr std::size_t kGuard = 64;
constexpr std::int8_t kFills[2] = {0x11, -0x5e};

std::int8_t guard_byte(std::size_t i) {
  return static_cast<std::int8_t>(0xa5 ^ (i * 37));
}

// An output between guard bytes, pre-filled with one byte.
class GuardedOutput {
 public:
  GuardedOutput(std::size_t n, std::int8_t fill) : storage_(n + 2 * kGuard), n_(n) {
    for (std::size_t i = 0; i < storage_.size(); ++i) storage_[i] = guard_byte(i);
    std::memset(data(), fill, n);
  }
  std::int8_t* data() { return storage_.data() + kGuard; }
  std::int8_t operator[](std::size_t i) const { return storage_[kGuard + i]; }
  bool guards_intact() const {
    for (std::size_t i = 0; i < kGuard; ++i)
      if (storage_[i] != guard_byte(i) || storage_[kGuard + n_ + i] != guard_byte(kGuard + n_ + i))
        return false;
    return true;
  }

 private:
  std::vector<std::int8_t> storage_;
  std::size_t n_;
};

// What one kernel run under the checker came to: outputs that differ from the reference (in
// either of the two pre-filled runs), and whether guards and scratch guards held.
struct Verdict {
  std::size_t mismatched = 0;
  bool guards = true;
  bool moments = true;
  bool ok() const { return mismatched == 0 && guards && moments; }
};

// Runs `run(out)` into both pre-filled outputs and compares each with `want`.
template <class Run>
Verdict compare_runs(const std::vector<std::int8_t>& want, Run run) {
  Verdict v;
  for (std::int8_t fill : kFills) {
    GuardedOutput got(want.size(), fill);
    run(got.data());
    for (std::size_t i = 0; i < want.size(); ++i) v.mismatched += got[i] == want[i] ? 0 : 1;
    v.guards = v.guards && got.guards_intact();
  }
  return v;
}

bool moments_agree(const std::vector<kernels::ChannelMoments>& got,
                   const std::vector<kernels::ChannelMoments>& want) {
  for (std::size_t c = 0; c < want.size(); ++c)
    if (got[c].count != want[c].count || std::memcmp(&got[c].mean, &want[c].mean, 8) != 0 ||
        std::memcmp(&got[c].m2, &want[c].m2, 8) != 0)
      return false;
  return true;
}

// The SIMD levels this machine runs (the reference is the oracle).
std::vector<CpuLevel> simd_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel level : lsuv::kCpuLevels)
    if (level != CpuLevel::ref && kernels::i8_kernels_at(level) != nullptr) levels.push_back(level);
  return levels;
}

// Every int8 table this machine runs besides the reference, by name: each SIMD level's, and the
// same level without its int8 extension where it uses one ("avx512+vnni" and "avx512").
struct Variant {
  std::string name;
  const I8Kernels* table;
};
std::vector<Variant> simd_variants() {
  std::vector<Variant> variants;
  for (CpuLevel level : simd_levels()) {
    const char* extension = kernels::i8_extension(level);
    const std::string name = lsuv::cpu_level_name(level);
    if (extension == nullptr) {
      variants.push_back({name, kernels::i8_kernels_at(level)});
      continue;
    }
    variants.push_back({name + "+" + extension, kernels::i8_kernels_at(level)});
    variants.push_back({name, kernels::i8_kernels_without_extension(level)});
  }
  return variants;
}

std::int8_t random_int8(std::mt19937& rng) {
  return static_cast<std::int8_t>(std::uniform_int_distribution<int>(-128, 127)(rng));
}
std::int8_t random_extreme(std::mt19937& rng) {
  return (rng() & 1) ? std::int8_t{127} : std::int8_t{-128};
}

// The data corners every conv2d and linear shape is checked on.
enum class Corner {
  random,          // uniform codes, zero points and biases; outputs spread over the range
  extremes,        // codes only -128 or 127, zero points -128 or 127
  min_times_min,   // every code -128: products 16384, int16 pair sums 32768
  centred_255,     // every code -128 with input zero point 127: products 32640
  near_int32_max,  // biases put every accumulator within K * 2 * 32640 of INT32_MAX
  near_int32_min,  // ... and of INT32_MIN
  multipliers,     // multipliers near 2^31 and 2^30, shifts -31 and +30, narrow ranges
};
constexpr Corner kCorners[] = {Corner::random,      Corner::extremes,       Corner::min_times_min,
                               Corner::centred_255, Corner::near_int32_max, Corner::near_int32_min,
                               Corner::multipliers};

const char* corner_name(Corner c) {
  switch (c) {
    case Corner::random:
      return "random";
    case Corner::extremes:
      return "extremes";
    case Corner::min_times_min:
      return "-128*-128";
    case Corner::centred_255:
      return "centred 255";
    case Corner::near_int32_max:
      return "near INT32_MAX";
    case Corner::near_int32_min:
      return "near INT32_MIN";
    case Corner::multipliers:
      return "multipliers";
  }
  return "?";
}

// The operands of one conv2d or linear call with `taps` products per output.
struct DenseProblem {
  std::vector<std::int8_t> input, weights;
  std::vector<std::int32_t> bias, multiplier, shift;
  std::int32_t input_zero_point = 0;
  I8Epilogue epilogue;
  bool with_bias = true;

  const std::int32_t* bias_or_null() const { return with_bias ? bias.data() : nullptr; }
};

DenseProblem make_problem(Corner corner, std::size_t input_n, std::size_t weight_n,
                          std::int32_t out_c, std::int32_t taps, bool with_bias,
                          std::mt19937& rng) {
  DenseProblem d;
  d.with_bias = with_bias || corner == Corner::near_int32_max || corner == Corner::near_int32_min;
  d.input.resize(input_n);
  d.weights.resize(weight_n);
  const bool extreme = corner == Corner::extremes;
  const bool all_min = corner == Corner::min_times_min || corner == Corner::centred_255;
  for (std::int8_t& x : d.input)
    x = all_min ? std::int8_t{-128} : (extreme ? random_extreme(rng) : random_int8(rng));
  for (std::int8_t& w : d.weights)
    w = all_min ? std::int8_t{-128} : (extreme ? random_extreme(rng) : random_int8(rng));
  d.input_zero_point = corner == Corner::min_times_min ? 0
                       : corner == Corner::centred_255 ? 127
                       : extreme                       ? ((rng() & 1) ? 127 : -128)
                                 : std::uniform_int_distribution<std::int32_t>(-128, 127)(rng);
  d.bias.resize(out_c);
  d.multiplier.resize(out_c);
  d.shift.resize(out_c);
  const std::int32_t reach = taps * 32640;  // the largest |sum w * (x - zero point)|
  // A real multiplier that brings a typical accumulator of `magnitude` to about 60.
  const auto spread_over = [&](double magnitude, std::int32_t o) {
    const double u = std::uniform_real_distribution<double>(0.5, 2.0)(rng);
    const kernels::QuantizedMultiplier q = kernels::quantize_multiplier(u * 60.0 / magnitude);
    d.multiplier[o] = q.multiplier;
    d.shift[o] = q.shift;
  };
  for (std::int32_t o = 0; o < out_c; ++o) {
    switch (corner) {
      case Corner::near_int32_max:
        d.bias[o] = kernels::kInt32Max - reach;
        spread_over(std::ldexp(1.0, 31), o);  // about 60: a wrapped accumulator gives -60
        break;
      case Corner::near_int32_min:
        d.bias[o] = kernels::kInt32Min + reach;
        spread_over(std::ldexp(1.0, 31), o);
        break;
      case Corner::multipliers: {
        constexpr kernels::QuantizedMultiplier kExtremes[] = {{kernels::kInt32Max, -31},
                                                              {kernels::kInt32Max, 30},
                                                              {1 << 30, -31},
                                                              {1 << 30, 30},
                                                              {kernels::kInt32Max, 0},
                                                              {(1 << 30) + 1, -1},
                                                              {kernels::kInt32Max, -20},
                                                              {1 << 30, -10},
                                                              {0, 0}};
        const kernels::QuantizedMultiplier q = kExtremes[o % 9];
        d.multiplier[o] = q.multiplier;
        d.shift[o] = q.shift;
        d.bias[o] = std::uniform_int_distribution<std::int32_t>(-(1 << 20), 1 << 20)(rng);
        break;
      }
      default:
        d.bias[o] = std::uniform_int_distribution<std::int32_t>(-(1 << 16), 1 << 16)(rng);
        spread_over(std::sqrt(static_cast<double>(taps)) * 74.0 *
                            (74.0 + std::fabs(static_cast<double>(d.input_zero_point))) +
                        1.0,
                    o);
    }
  }
  I8Epilogue& e = d.epilogue;
  e.multiplier = d.multiplier.data();
  e.shift = d.shift.data();
  e.output_zero_point = extreme ? ((rng() & 1) ? 127 : -128)
                                : std::uniform_int_distribution<std::int32_t>(-128, 127)(rng);
  switch (rng() % 3) {
    case 0:  // the whole range
      break;
    case 1:  // ReLU
      e.output_min = e.output_zero_point;
      break;
    default:  // ReLU6-like: a narrow range above the zero point
      e.output_min = e.output_zero_point;
      e.output_max = e.output_zero_point + 40 > 127 ? 127 : e.output_zero_point + 40;
  }
  return d;
}

// One conv2d problem against the reference, for one table: the output with and without the
// moments sink, and the moments.
Verdict check_conv(const I8Kernels& k, const kernels::Conv2dParams& p, const DenseProblem& d) {
  const std::size_t out_n = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c;
  std::vector<std::int8_t> want(out_n);
  std::vector<kernels::ChannelMoments> want_moments(p.out_c);
  I8Epilogue with_moments = d.epilogue;
  with_moments.accumulator_moments = want_moments.data();
  kernels::conv2d_i8_ref(p, d.input.data(), d.input_zero_point, d.weights.data(), d.bias_or_null(),
                         want.data(), with_moments, nullptr);
  std::vector<kernels::ChannelMoments> got_moments(p.out_c);
  bool scratch_ok = true;
  const auto run_with = [&](const I8Epilogue& e) {
    return [&, e](std::int8_t* out) {
      const std::size_t bytes = k.conv2d_scratch_bytes(p);
      const PoisonedScratch scratch(bytes);
      k.conv2d(p, d.input.data(), d.input_zero_point, d.weights.data(), d.bias_or_null(), out, e,
               scratch.data());
      scratch_ok = scratch_ok && scratch.guard_intact();
    };
  };
  Verdict v = compare_runs(want, run_with(d.epilogue));
  I8Epilogue sink = d.epilogue;
  sink.accumulator_moments = got_moments.data();
  const Verdict m = compare_runs(want, run_with(sink));
  // compare_runs ran the level twice into the same moments: so does the reference.
  kernels::conv2d_i8_ref(p, d.input.data(), d.input_zero_point, d.weights.data(), d.bias_or_null(),
                         want.data(), with_moments, nullptr);
  v.mismatched += m.mismatched;
  v.guards = v.guards && m.guards && scratch_ok;
  v.moments = moments_agree(got_moments, want_moments);
  return v;
}

Verdict check_linear(const I8Kernels& k, const kernels::LinearParams& p, const DenseProblem& d) {
  const std::size_t out_n = static_cast<std::size_t>(p.batch) * p.out_features;
  std::vector<std::int8_t> want(out_n);
  std::vector<kernels::ChannelMoments> want_moments(p.out_features);
  I8Epilogue with_moments = d.epilogue;
  with_moments.accumulator_moments = want_moments.data();
  kernels::linear_i8_ref(p, d.input.data(), d.input_zero_point, d.weights.data(), d.bias_or_null(),
                         want.data(), with_moments, nullptr);
  std::vector<kernels::ChannelMoments> got_moments(p.out_features);
  bool scratch_ok = true;
  const auto run_with = [&](const I8Epilogue& e) {
    return [&, e](std::int8_t* out) {
      const PoisonedScratch scratch(k.linear_scratch_bytes(p));
      k.linear(p, d.input.data(), d.input_zero_point, d.weights.data(), d.bias_or_null(), out, e,
               scratch.data());
      scratch_ok = scratch_ok && scratch.guard_intact();
    };
  };
  Verdict v = compare_runs(want, run_with(d.epilogue));
  I8Epilogue sink = d.epilogue;
  sink.accumulator_moments = got_moments.data();
  const Verdict m = compare_runs(want, run_with(sink));
  // compare_runs ran the level twice into the same moments: so does the reference.
  kernels::linear_i8_ref(p, d.input.data(), d.input_zero_point, d.weights.data(), d.bias_or_null(),
                         want.data(), with_moments, nullptr);
  v.mismatched += m.mismatched;
  v.guards = v.guards && m.guards && scratch_ok;
  v.moments = moments_agree(got_moments, want_moments);
  return v;
}

struct ConvShape {
  std::int32_t batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride, pad, dilation, groups;
  bool bias;
};

kernels::Conv2dParams conv_params(const ConvShape& s) {
  kernels::Conv2dParams p{};
  p.batch = s.batch;
  p.in_h = s.in_h;
  p.in_w = s.in_w;
  p.in_c = s.in_c;
  p.out_c = s.out_c;
  p.kernel_h = s.kernel_h;
  p.kernel_w = s.kernel_w;
  p.stride_h = p.stride_w = s.stride;
  p.pad_h = p.pad_w = s.pad;
  p.dilation_h = p.dilation_w = s.dilation;
  p.groups = s.groups;
  p.out_h = (s.in_h + 2 * s.pad - s.dilation * (s.kernel_h - 1) - 1) / s.stride + 1;
  p.out_w = (s.in_w + 2 * s.pad - s.dilation * (s.kernel_w - 1) - 1) / s.stride + 1;
  return p;
}

std::string describe(const kernels::Conv2dParams& p) {
  return "n" + std::to_string(p.batch) + " in " + std::to_string(p.in_h) + "x" +
         std::to_string(p.in_w) + "x" + std::to_string(p.in_c) + " out c" +
         std::to_string(p.out_c) + " k" + std::to_string(p.kernel_h) + "x" +
         std::to_string(p.kernel_w) + " s" + std::to_string(p.stride_h) + " p" +
         std::to_string(p.pad_h) + " d" + std::to_string(p.dilation_h) + " g" +
         std::to_string(p.groups);
}

// Output channels straddle the int32 vectors of every ISA (4, 8, 16 lanes) and taps per output
// the 2- and 4-byte groups of the int8 dot products (K % 4 = 0..3); every configuration.
constexpr ConvShape kConvShapes[] = {
    {1, 5, 5, 1, 1, 3, 3, 1, 1, 1, 1, true},
    {2, 6, 7, 3, 7, 3, 3, 1, 1, 1, 1, true},
    {1, 7, 6, 4, 8, 3, 3, 2, 1, 1, 1, false},
    {1, 5, 5, 5, 9, 1, 1, 1, 0, 1, 1, true},
    {1, 6, 6, 6, 15, 2, 2, 1, 0, 1, 1, true},
    {1, 4, 4, 16, 16, 3, 3, 1, 1, 1, 1, true},
    {1, 5, 4, 2, 17, 3, 3, 1, 2, 2, 1, true},
    {1, 4, 5, 7, 31, 3, 1, 1, 1, 1, 1, true},
    {1, 3, 3, 13, 32, 3, 3, 1, 1, 1, 1, true},
    {1, 3, 3, 10, 33, 1, 1, 1, 0, 1, 1, true},
    {2, 3, 3, 3, 65, 2, 2, 1, 1, 1, 1, false},
    {1, 6, 6, 8, 8, 3, 3, 1, 1, 1, 8, true},
    {1, 7, 7, 17, 17, 3, 3, 2, 1, 1, 17, true},
    {1, 5, 5, 33, 33, 5, 5, 1, 2, 1, 33, true},
    {1, 5, 5, 4, 8, 3, 3, 1, 1, 1, 4, true},
    {1, 6, 6, 8, 12, 3, 3, 1, 1, 1, 2, true},
    {1, 5, 5, 12, 12, 1, 1, 1, 0, 1, 3, true},
    {1, 1, 1, 300, 5, 1, 1, 1, 0, 1, 1, true},
    {1, 8, 8, 16, 16, 3, 3, 1, 1, 2, 16, false},
    // One group and input channels a multiple of 4 (the VNNI indirect path): pixel counts off
    // its 8-row tile, channels around its 16 and 32, strides, dilation, wide padding.
    {2, 5, 5, 16, 32, 3, 3, 1, 2, 1, 1, true},
    {1, 7, 7, 32, 32, 3, 3, 1, 2, 1, 1, true},
    {1, 6, 5, 8, 17, 3, 3, 2, 1, 1, 1, true},
    {1, 9, 9, 4, 33, 3, 3, 1, 1, 2, 1, false},
    {1, 3, 7, 12, 64, 1, 1, 1, 0, 1, 1, true},
    {1, 5, 6, 20, 15, 2, 3, 1, 3, 1, 1, true},
    // The AVX2 indirect path (one group, any channels): a first layer's single channel with
    // 5-wide odd runs and stride 2 (pixels off its 12-row tile), odd channels with dilation.
    {2, 12, 12, 1, 8, 5, 5, 2, 1, 1, 1, true},
    {1, 9, 9, 3, 10, 3, 3, 1, 2, 2, 1, true},
    // The AVX2 Winograd path (3x3, stride 1, input channels a multiple of 8): odd output sizes
    // (partial 2x2 blocks), block counts off its groups of 6, channel tails, no padding.
    {2, 9, 7, 8, 13, 3, 3, 1, 1, 1, 1, true},
    {1, 8, 8, 24, 40, 3, 3, 1, 0, 1, 1, false},
    {1, 11, 12, 16, 16, 3, 3, 1, 2, 1, 1, true},
};

DenseProblem conv_problem(const kernels::Conv2dParams& p, Corner corner, bool bias,
                          std::mt19937& rng) {
  const std::int32_t group_in = p.in_c / p.groups;
  return make_problem(corner, static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.in_c,
                      static_cast<std::size_t>(p.kernel_h) * p.kernel_w * group_in * p.out_c,
                      p.out_c, p.kernel_h * p.kernel_w * group_in, bias, rng);
}

void require_verdict(const Verdict& v, const std::string& what) {
  INFO(what);
  CHECK(v.mismatched == 0);
  CHECK(v.guards);
  CHECK(v.moments);
}

TEST_CASE("int8 conv2d of every level is bit-exact to the reference on every corner") {
  std::mt19937 rng(20241);
  for (const ConvShape& s : kConvShapes) {
    const kernels::Conv2dParams p = conv_params(s);
    for (Corner corner : kCorners) {
      const DenseProblem d = conv_problem(p, corner, s.bias, rng);
      for (const Variant& variant : simd_variants()) {
        const I8Kernels& k = *variant.table;
        CHECK(k.conv2d_scratch_bytes(p) <= kernels::conv2d_scratch_bytes_i8_any_level(p));
        require_verdict(check_conv(k, p, d),
                        variant.name + " " + describe(p) + " " + corner_name(corner));
      }
    }
  }
}

TEST_CASE("int8 linear of every level is bit-exact to the reference on every corner") {
  std::mt19937 rng(20242);
  const kernels::LinearParams shapes[] = {{1, 1, 1},   {2, 3, 7},   {5, 16, 8},   {3, 17, 9},
                                          {1, 64, 16}, {4, 33, 31}, {2, 100, 33}, {17, 40, 65},
                                          {1, 300, 5}, {0, 8, 8}};
  for (const kernels::LinearParams& p : shapes) {
    for (Corner corner : kCorners) {
      const DenseProblem d =
          make_problem(corner, static_cast<std::size_t>(p.batch) * p.in_features,
                       static_cast<std::size_t>(p.in_features) * p.out_features, p.out_features,
                       p.in_features, (p.in_features & 1) == 0, rng);
      for (const Variant& variant : simd_variants()) {
        const I8Kernels& k = *variant.table;
        CHECK(k.linear_scratch_bytes(p) <= kernels::linear_scratch_bytes_i8_any_level(p));
        require_verdict(check_linear(k, p, d), variant.name + " linear " + std::to_string(p.batch) +
                                                   "x" + std::to_string(p.in_features) + "->" +
                                                   std::to_string(p.out_features) + " " +
                                                   corner_name(corner));
      }
    }
  }
}

// The input data of the pooling checks: uniform codes, only -128 and 127, and constant -128 or
// 127 (int16 partial sums at their limits when windows pass 256 taps).
enum class PoolData { random, extremes, all_min, all_max };
constexpr PoolData kPoolData[] = {PoolData::random, PoolData::extremes, PoolData::all_min,
                                  PoolData::all_max};

std::vector<std::int8_t> pool_input(std::size_t n, PoolData data, std::mt19937& rng) {
  std::vector<std::int8_t> x(n);
  for (std::int8_t& v : x)
    v = data == PoolData::random     ? random_int8(rng)
        : data == PoolData::extremes ? random_extreme(rng)
        : data == PoolData::all_min  ? std::int8_t{-128}
                                     : std::int8_t{127};
  return x;
}

const char* pool_data_name(PoolData data) {
  return data == PoolData::random     ? "random"
         : data == PoolData::extremes ? "extremes"
         : data == PoolData::all_min  ? "all -128"
                                      : "all 127";
}

// Channels below, at and around the 16-channel blocks (an overlapping last block), windows from
// 1x1 to 17x17 (more than 256 taps), non-square windows and strides, padding up to windows
// wholly in the padding (max -128, average the zero point).
TEST_CASE("int8 pooling of every level is bit-exact to the reference, extremes and padding") {
  std::mt19937 rng(20243);
  struct PoolCase {
    std::int32_t batch, in_h, in_w, channels, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  };
  const PoolCase cases[] = {{2, 8, 8, 3, 2, 2, 2, 2, 0, 0},     {1, 9, 7, 8, 3, 3, 2, 2, 1, 1},
                            {3, 5, 5, 17, 3, 3, 1, 1, 1, 1},    {1, 6, 6, 33, 2, 2, 2, 2, 1, 1},
                            {2, 11, 9, 16, 3, 3, 3, 3, 0, 0},   {1, 4, 4, 1, 4, 4, 4, 4, 0, 0},
                            {1, 7, 7, 40, 5, 5, 2, 2, 2, 2},    {1, 9, 9, 64, 9, 9, 1, 1, 4, 4},
                            {1, 3, 3, 65, 3, 3, 1, 1, 1, 1},    {1, 5, 6, 15, 1, 1, 1, 1, 0, 0},
                            {2, 7, 5, 31, 2, 3, 1, 2, 1, 0},    {1, 6, 9, 24, 3, 2, 2, 3, 0, 1},
                            {1, 3, 3, 20, 2, 2, 1, 1, 2, 2},    {1, 17, 17, 16, 17, 17, 1, 1, 0, 0},
                            {1, 18, 17, 18, 17, 16, 1, 2, 1, 8}};
  for (const PoolCase& c : cases) {
    kernels::Pool2dParams p{};
    p.batch = c.batch;
    p.in_h = c.in_h;
    p.in_w = c.in_w;
    p.channels = c.channels;
    p.kernel_h = c.kernel_h;
    p.kernel_w = c.kernel_w;
    p.stride_h = c.stride_h;
    p.stride_w = c.stride_w;
    p.pad_h = c.pad_h;
    p.pad_w = c.pad_w;
    p.out_h = (c.in_h + 2 * c.pad_h - c.kernel_h) / c.stride_h + 1;
    p.out_w = (c.in_w + 2 * c.pad_w - c.kernel_w) / c.stride_w + 1;
    const std::size_t in_n = static_cast<std::size_t>(c.batch) * c.in_h * c.in_w * c.channels;
    const std::size_t out_n = static_cast<std::size_t>(c.batch) * p.out_h * p.out_w * c.channels;
    for (PoolData data : kPoolData) {
      const std::vector<std::int8_t> x = pool_input(in_n, data, rng);
      std::vector<std::int8_t> want_max(out_n);
      kernels::max_pool2d_i8_ref(p, x.data(), want_max.data());
      for (std::int32_t zero_point : {-128, 0, 127}) {
        std::vector<std::int8_t> want_avg(out_n);
        kernels::avg_pool2d_i8_ref(p, x.data(), zero_point, want_avg.data());
        for (const Variant& variant : simd_variants()) {
          const I8Kernels& k = *variant.table;
          const std::string what = variant.name + " pool " + std::to_string(c.kernel_h) + "x" +
                                   std::to_string(c.kernel_w) + " stride " +
                                   std::to_string(c.stride_h) + "," + std::to_string(c.stride_w) +
                                   " pad " + std::to_string(c.pad_h) + "," +
                                   std::to_string(c.pad_w) + " C " + std::to_string(c.channels) +
                                   " zp " + std::to_string(zero_point) + " " + pool_data_name(data);
          if (zero_point == 0)
            require_verdict(
                compare_runs(want_max, [&](std::int8_t* out) { k.max_pool2d(p, x.data(), out); }),
                what + " max");
          require_verdict(
              compare_runs(want_avg,
                           [&](std::int8_t* out) { k.avg_pool2d(p, x.data(), zero_point, out); }),
              what + " avg");
        }
      }
    }
  }
}

// Pixel counts on both sides of 256 (where int16 partial sums are widened) and large divisors
// for the corrected float reciprocal; channels below, at and around the 16-channel blocks.
TEST_CASE("int8 global average pooling of every level is bit-exact to the reference") {
  std::mt19937 rng(20246);
  const auto check = [&](std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                         const std::vector<std::int8_t>& x, const std::string& data) {
    std::vector<std::int8_t> want(static_cast<std::size_t>(batch) * channels);
    kernels::global_avg_pool_i8_ref(batch, pixels, channels, x.data(), want.data());
    for (const Variant& variant : simd_variants()) {
      const I8Kernels& k = *variant.table;
      require_verdict(compare_runs(want,
                                   [&](std::int8_t* out) {
                                     k.global_avg_pool(batch, pixels, channels, x.data(), out);
                                   }),
                      variant.name + " global pool C " + std::to_string(channels) + " pixels " +
                          std::to_string(pixels) + " " + data);
    }
  };
  const auto check_data = [&](std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                              PoolData data) {
    check(batch, pixels, channels,
          pool_input(static_cast<std::size_t>(batch) * pixels * channels, data, rng),
          pool_data_name(data));
  };
  for (std::int32_t channels : {1, 3, 4, 8, 15, 16, 17, 31, 32, 33, 64, 65, 100})
    for (std::int32_t pixels : {1, 2, 7, 49, 64})
      check_data(2, pixels, channels, (channels & 1) ? PoolData::extremes : PoolData::random);
  for (PoolData data : kPoolData)
    for (std::int32_t pixels : {255, 256, 257, 1000, 4099}) check_data(1, pixels, 17, data);
  // Inputs whose channel c sums to sums[c]: each pixel holds floor or ceil of the mean.
  const auto with_sums = [](std::int32_t pixels, const std::vector<std::int32_t>& sums) {
    const std::size_t channels = sums.size();
    std::vector<std::int8_t> x(static_cast<std::size_t>(pixels) * channels);
    for (std::size_t c = 0; c < channels; ++c) {
      const std::int32_t magnitude = sums[c] < 0 ? -sums[c] : sums[c];
      const std::int32_t sign = sums[c] < 0 ? -1 : 1;
      for (std::int32_t i = 0; i < pixels; ++i)
        x[static_cast<std::size_t>(i) * channels + c] = static_cast<std::int8_t>(
            sign * (magnitude / pixels + (i < magnitude % pixels ? 1 : 0)));
    }
    return x;
  };
  // The float estimate one too low: a = |sum| + 30 = 61 k, and k * 61 * (1 / 61.0f) truncates to
  // k - 1 for most k (for k = 1 to 16 here, both signs).
  std::vector<std::int32_t> low(32);
  for (std::int32_t c = 0; c < 32; ++c) low[c] = ((c / 2 + 1) * 61 - 30) * (c & 1 ? -1 : 1);
  REQUIRE(static_cast<std::int32_t>(61.0f * (1.0f / 61)) == 0);
  check(1, 61, 32, with_sums(61, low), "float estimate one too low");
  // One too high: a = |sum| + 51560 = 127 * 103121 - 1, whose estimate rounds up to 127; the
  // exact quotient is 126.
  constexpr std::int32_t kPixels = 103121;
  REQUIRE(kernels::rounded_division(13044806, kPixels) == 126);
  REQUIRE(static_cast<std::int32_t>(13096366.0f * (1.0f / kPixels)) == 127);
  const std::vector<std::int32_t> high = {
      13044806, -13044806, 13044806, -13044806, 13044806, -13044806, 13044806, -13044806,
      13044806, -13044806, 13044806, -13044806, 13044806, -13044806, 13044806, -13044806};
  check(1, kPixels, 16, with_sums(kPixels, high), "float estimate one too high");
}

// The parameters of the add checks: random ones in TFLite's ranges; extremes (multipliers
// 2^31 - 1, zero points -128 and 127, outputs saturating at the range); and corners of the
// arithmetic: multipliers 2^31 - 1, 2^30, 2^30 + 1 and 0, input shifts 0 to -31, left shifts 0
// and 20, output shifts from -31 up to +30 (the saturating left shift of the sum).
enum class AddCorner { random, extremes, corners };
constexpr AddCorner kAddCorners[] = {AddCorner::random, AddCorner::extremes, AddCorner::corners};

const char* add_corner_name(AddCorner c) {
  return c == AddCorner::random ? "random" : c == AddCorner::extremes ? "extremes" : "corners";
}

kernels::AddI8Params random_add(std::int32_t count, AddCorner corner, std::mt19937& rng) {
  kernels::AddI8Params a;
  a.count = count;
  const bool extremes = corner == AddCorner::extremes;
  std::uniform_int_distribution<std::int32_t> multiplier(1 << 30, kernels::kInt32Max);
  constexpr std::int32_t kMultipliers[] = {kernels::kInt32Max, 1 << 30, (1 << 30) + 1, 0};
  constexpr std::int32_t kInputShifts[] = {0, -31, -1, -30, -7};
  constexpr std::int32_t kOutputShifts[] = {-31, -20, -1, 0, 1, 12, 30};
  if (corner == AddCorner::corners) a.left_shift = (rng() & 1) ? 20 : 0;
  for (std::int32_t k = 0; k < count; ++k) {
    a.input_zero_point[k] = corner != AddCorner::random ? ((k & 1) ? 127 : -128) : random_int8(rng);
    a.input_multiplier[k] = extremes                      ? kernels::kInt32Max
                            : corner == AddCorner::random ? multiplier(rng)
                                                          : kMultipliers[rng() % 4];
    a.input_shift[k] = extremes ? 0
                       : corner == AddCorner::random
                           ? std::uniform_int_distribution<std::int32_t>(-3, 0)(rng)
                           : kInputShifts[rng() % 5];
  }
  a.output_multiplier = corner == AddCorner::random ? multiplier(rng) : kernels::kInt32Max;
  a.output_shift = extremes ? -20
                   : corner == AddCorner::random
                       ? std::uniform_int_distribution<std::int32_t>(-22, -17)(rng)
                       : kOutputShifts[rng() % 7];
  a.output_zero_point = extremes ? 127 : random_int8(rng);
  if (rng() & 1) a.output_min = a.output_zero_point;
  if (corner == AddCorner::corners && (rng() & 1)) a.output_max = a.output_min;
  return a;
}

TEST_CASE("int8 add and clamp of every level are bit-exact to the reference, in place too") {
  std::mt19937 rng(20244);
  for (std::size_t n : {1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 257}) {
    for (std::int32_t count = 2; count <= kernels::kMaxAddInputs; ++count) {
      for (AddCorner corner : kAddCorners) {
        std::vector<std::vector<std::int8_t>> x(count, std::vector<std::int8_t>(n));
        std::vector<const std::int8_t*> inputs;
        for (auto& v : x) {
          for (std::int8_t& e : v)
            e = corner != AddCorner::random ? random_extreme(rng) : random_int8(rng);
          inputs.push_back(v.data());
        }
        const kernels::AddI8Params a = random_add(count, corner, rng);
        std::vector<std::int8_t> want(n);
        kernels::add_i8_ref(n, inputs.data(), a, want.data());
        for (const Variant& variant : simd_variants()) {
          const I8Kernels& k = *variant.table;
          const std::string what = variant.name + " add n " + std::to_string(n) + " inputs " +
                                   std::to_string(count) + " " + add_corner_name(corner);
          require_verdict(
              compare_runs(want, [&](std::int8_t* out) { k.add(n, inputs.data(), a, out); }), what);
          std::vector<std::int8_t> in_place = x[0];
          std::vector<const std::int8_t*> in_place_inputs = inputs;
          in_place_inputs[0] = in_place.data();
          k.add(n, in_place_inputs.data(), a, in_place.data());
          INFO(what, " in place");
          CHECK(in_place == want);
        }
      }
    }
    std::vector<std::int8_t> x(n);
    for (std::int8_t& v : x) v = random_int8(rng);
    const std::pair<int, int> ranges[] = {{-128, 127}, {0, 127}, {-5, 6}, {-128, -128}, {127, 127}};
    for (const auto& range : ranges) {
      std::vector<std::int8_t> want(n);
      kernels::clamp_i8_ref(n, x.data(), want.data(), range.first, range.second);
      for (const Variant& variant : simd_variants()) {
        const I8Kernels& k = *variant.table;
        const std::string what = variant.name + " clamp n " + std::to_string(n) + " [" +
                                 std::to_string(range.first) + ", " + std::to_string(range.second) +
                                 "]";
        require_verdict(compare_runs(want,
                                     [&](std::int8_t* out) {
                                       k.clamp(n, x.data(), out, range.first, range.second);
                                     }),
                        what);
        std::vector<std::int8_t> in_place = x;
        k.clamp(n, in_place.data(), in_place.data(), range.first, range.second);
        INFO(what, " in place");
        CHECK(in_place == want);
      }
    }
  }
}

// A linear kernel that sums its products in int16 pairs with saturation (what _mm256_maddubs
// does to a pair): right wherever no pair sum passes 32767.
void linear_int16_pairs(const kernels::LinearParams& p, const std::int8_t* input,
                        std::int32_t input_zero_point, const std::int8_t* weights,
                        const std::int32_t* bias, std::int8_t* output, const I8Epilogue& e,
                        void* /*scratch*/) {
  for (std::int32_t n = 0; n < p.batch; ++n)
    for (std::int32_t o = 0; o < p.out_features; ++o) {
      std::int64_t sum = bias != nullptr ? bias[o] : 0;
      for (std::int32_t i = 0; i < p.in_features; i += 2) {
        std::int32_t pair = 0;
        for (std::int32_t j = i; j < i + 2 && j < p.in_features; ++j)
          pair += weights[static_cast<std::size_t>(j) * p.out_features + o] *
                  (input[static_cast<std::size_t>(n) * p.in_features + j] - input_zero_point);
        sum += pair > 32767 ? 32767 : (pair < -32768 ? -32768 : pair);
      }
      const std::int32_t scaled = kernels::multiply_by_quantized_multiplier(
          static_cast<std::int32_t>(sum), e.multiplier[o], e.shift[o]);
      output[static_cast<std::size_t>(n) * p.out_features + o] = kernels::clamp_to_int8(
          static_cast<std::int64_t>(scaled) + e.output_zero_point, e.output_min, e.output_max);
      if (e.accumulator_moments != nullptr) {
        kernels::ChannelMoments one{1, static_cast<double>(sum), 0.0};
        kernels::merge_moments(e.accumulator_moments[o], one);
      }
    }
}

// A conv2d kernel that leaves its last output as it found it.
void conv2d_skips_last(const kernels::Conv2dParams& p, const std::int8_t* input,
                       std::int32_t input_zero_point, const std::int8_t* weights,
                       const std::int32_t* bias, std::int8_t* output, const I8Epilogue& e,
                       void* scratch) {
  const std::size_t last = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c - 1;
  const std::int8_t before = output[last];
  kernels::conv2d_i8_ref(p, input, input_zero_point, weights, bias, output, e, scratch);
  output[last] = before;
}

TEST_CASE("the int8 checker catches int16 pair saturation and an unwritten output") {
  I8Kernels broken = *kernels::i8_kernels_at(CpuLevel::ref);
  broken.linear = &linear_int16_pairs;
  broken.conv2d = &conv2d_skips_last;
  std::mt19937 rng(20245);
  const kernels::LinearParams lp = {3, 16, 8};
  const auto linear_verdict = [&](Corner corner) {
    return check_linear(broken, lp, make_problem(corner, 3 * 16, 16 * 8, 8, 16, true, rng));
  };
  // -128 * -128 pairs sum to 32768 and centred 255 pairs to 65280: both saturate.
  CHECK_FALSE(linear_verdict(Corner::min_times_min).ok());
  CHECK_FALSE(linear_verdict(Corner::centred_255).ok());
  const kernels::Conv2dParams cp = conv_params({1, 4, 4, 3, 5, 3, 3, 1, 1, 1, 1, true});
  const Verdict conv = check_conv(broken, cp, conv_problem(cp, Corner::random, true, rng));
  CHECK(conv.mismatched > 0);
}

TEST_CASE("int8 tables: each level's own entries over the level below, the reference complete") {
  const I8Kernels* ref = kernels::i8_kernels_at(CpuLevel::ref);
  REQUIRE(ref != nullptr);
  CHECK((ref->conv2d == &kernels::conv2d_i8_ref));
  CHECK((ref->conv2d_scratch_bytes == &kernels::conv2d_scratch_bytes_i8_ref));
  CHECK((ref->global_avg_pool == &kernels::global_avg_pool_i8_ref));
  const auto entries = [](const I8Kernels& k) {
    std::vector<std::pair<std::string, const void*>> list;
#define LSUV_ENTRY(name) list.push_back({#name, reinterpret_cast<const void*>(k.name)});
#define LSUV_SCRATCH_ENTRY(name) LSUV_ENTRY(name) LSUV_ENTRY(name##_scratch_bytes)
    LSUV_I8_KERNELS_WITH_SCRATCH(LSUV_SCRATCH_ENTRY)
    LSUV_I8_KERNELS_PLAIN(LSUV_ENTRY)
#undef LSUV_SCRATCH_ENTRY
#undef LSUV_ENTRY
    return list;
  };
  for (const auto& entry : entries(*ref)) {
    INFO("ref ", entry.first);
    CHECK(entry.second != nullptr);
  }
  // Walking the supported levels lowest first, each merges over the previous one.
  const I8Kernels* below = ref;
  for (CpuLevel level : simd_levels()) {
    const I8Kernels* own = kernels::i8_kernels_own(level);
    REQUIRE(own != nullptr);
    CHECK(((own->conv2d == nullptr) == (own->conv2d_scratch_bytes == nullptr)));
    CHECK(((own->linear == nullptr) == (own->linear_scratch_bytes == nullptr)));
    const auto own_entries = entries(*own);
    const auto below_entries = entries(*below);
    const auto merged = entries(*kernels::i8_kernels_at(level));
    for (std::size_t i = 0; i < merged.size(); ++i) {
      INFO(lsuv::cpu_level_name(level), " ", merged[i].first);
      CHECK(merged[i].second ==
            (own_entries[i].second != nullptr ? own_entries[i].second : below_entries[i].second));
    }
    below = kernels::i8_kernels_at(level);
  }
  // A level with an int8 extension differs from itself without it in conv2d and linear; the
  // variant without it lies over the same table below; a level without one is its own variant.
  below = ref;
  for (CpuLevel level : simd_levels()) {
    const I8Kernels* with = kernels::i8_kernels_at(level);
    const I8Kernels* without = kernels::i8_kernels_without_extension(level);
    REQUIRE(without != nullptr);
    INFO(lsuv::cpu_level_name(level), " extension ",
         std::string(kernels::i8_extension(level) != nullptr ? kernels::i8_extension(level)
                                                             : "none"));
    if (kernels::i8_extension(level) != nullptr) {
      CHECK((with->conv2d != without->conv2d));
      CHECK((with->linear != without->linear));
    } else {
      CHECK(entries(*with) == entries(*without));
    }
    CHECK((without->clamp == with->clamp));
    below = with;
  }
#if defined(__x86_64__)
  if (kernels::i8_kernels_at(CpuLevel::avx512) != nullptr) {
    CHECK((kernels::i8_extension(CpuLevel::avx512) != nullptr) ==
          (__builtin_cpu_supports("avx512vnni") != 0));
    CHECK((kernels::i8_kernels_without_extension(CpuLevel::avx512)->conv2d ==
           kernels::i8_kernels_at(CpuLevel::avx2)->conv2d));
  }
  CHECK(kernels::i8_extension(CpuLevel::avx2) == nullptr);
  // SSE4.1 is the sse2 level's extension: used exactly when the CPU has it (under qemu -cpu
  // Conroe, a Core 2 without it, the level's int8 kernels are the reference's).
  REQUIRE(kernels::i8_kernels_at(CpuLevel::sse2) != nullptr);
  CHECK((kernels::i8_extension(CpuLevel::sse2) != nullptr) ==
        (__builtin_cpu_supports("sse4.1") != 0));
  CHECK((kernels::i8_kernels_without_extension(CpuLevel::sse2)->linear == &kernels::linear_i8_ref));
#endif
  // The table in use follows the level limit, as the float table does.
  const CpuLevel in_use = lsuv::cpu_level();
  REQUIRE(lsuv::set_cpu_level_limit(CpuLevel::ref) == lsuv::Status::ok);
  CHECK(&kernels::i8_kernels() == kernels::i8_kernels_at(CpuLevel::ref));
  for (CpuLevel level : simd_levels()) {
    REQUIRE(lsuv::set_cpu_level_limit(level) == lsuv::Status::ok);
    CHECK(&kernels::i8_kernels() == kernels::i8_kernels_at(lsuv::cpu_level()));
  }
  REQUIRE(lsuv::set_cpu_level_limit(in_use) == lsuv::Status::ok);
  // Levels of another architecture have no table.
#if defined(__x86_64__)
  CHECK(kernels::i8_kernels_at(CpuLevel::neon) == nullptr);
  CHECK(kernels::i8_kernels_own(CpuLevel::neon) == nullptr);
#elif defined(__aarch64__) || defined(__arm__)
  CHECK(kernels::i8_kernels_at(CpuLevel::avx2) == nullptr);
#endif
  const kernels::Conv2dParams p = conv_params({2, 9, 9, 16, 24, 3, 3, 1, 1, 1, 1, true});
  CHECK(kernels::conv2d_scratch_bytes_i8_any_level(p) >= ref->conv2d_scratch_bytes(p));
}

}  // namespace
