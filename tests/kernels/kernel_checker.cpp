// The kernel checker: every SIMD kernel at every level this machine runs, against its _ref
// twin, on seeded random shapes that cover every tile tail and every convolution configuration.
// Outputs live between NaN canaries (a distinctive payload), so a write out of bounds or an
// element left unwritten fails; float tolerances are derived from each output's reduction.
// Kernel scratch is filled with NaN bytes before every call (all-ones: NaN as a float, an
// unmapped address as a pointer), so a kernel that reads scratch it did not write fails.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "kernels/dispatch.hpp"
#include "kernels/reference.hpp"
#include "lsuv/cpu.hpp"
#include "poisoned_scratch.hpp"

namespace {

using lsuv_test::PoisonedScratch;

namespace kernels = lsuv::kernels;
using lsuv::CpuLevel;

constexpr std::uint32_t kCanaryBits = 0x7fc0dead;  // a quiet NaN no kernel produces
constexpr std::size_t kGuard = 64;                 // canary floats on each side of an output

float canary() {
  float f;
  std::memcpy(&f, &kCanaryBits, sizeof f);
  return f;
}
bool is_canary(float f) {
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits == kCanaryBits;
}

// An output buffer between guard regions, all poisoned.
class Poisoned {
 public:
  explicit Poisoned(std::size_t n) : storage_(n + 2 * kGuard, canary()), n_(n) {}
  float* data() { return storage_.data() + kGuard; }
  const float* data() const { return storage_.data() + kGuard; }
  std::size_t size() const { return n_; }
  float operator[](std::size_t i) const { return data()[i]; }
  // Canaries intact around the output and none left inside it.
  bool guards_intact() const {
    for (std::size_t i = 0; i < kGuard; ++i)
      if (!is_canary(storage_[i]) || !is_canary(storage_[kGuard + n_ + i])) return false;
    return true;
  }
  std::size_t unwritten() const {
    std::size_t count = 0;
    for (std::size_t i = 0; i < n_; ++i) count += is_canary(data()[i]) ? 1 : 0;
    return count;
  }

 private:
  std::vector<float> storage_;
  std::size_t n_;
};

std::vector<float> random_floats(std::mt19937& rng, std::size_t n, float lo = -1.0f,
                                 float hi = 1.0f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> absolute(const std::vector<float>& v) {
  std::vector<float> a(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

// The levels to check: every SIMD level this machine runs (the reference is the oracle).
std::vector<CpuLevel> simd_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel level : lsuv::kCpuLevels)
    if (level != CpuLevel::ref && kernels::f32_kernels_at(level) != nullptr)
      levels.push_back(level);
  return levels;
}

std::string level_name(CpuLevel level) {
  return lsuv::cpu_level_name(level);
}

// |got - want| <= (K + 2) * epsilon * sum_k |x_k w_k| (+ |bias|): a sum of K products reordered
// or fused differs from the reference by at most about that much.
bool within_reduction_tolerance(float got, float want, float abs_sum, std::int32_t k) {
  const float tol = static_cast<float>(k + 2) * std::numeric_limits<float>::epsilon() * abs_sum +
                    std::numeric_limits<float>::min();
  return std::fabs(got - want) <= tol;
}

bool same_bits_or_both_nan(float a, float b) {
  if (std::isnan(a) && std::isnan(b)) return true;
  return std::memcmp(&a, &b, sizeof a) == 0;
}

std::string describe(const kernels::Conv2dParams& p) {
  return "n" + std::to_string(p.batch) + " in " + std::to_string(p.in_h) + "x" +
         std::to_string(p.in_w) + "x" + std::to_string(p.in_c) + " out " + std::to_string(p.out_h) +
         "x" + std::to_string(p.out_w) + "x" + std::to_string(p.out_c) + " k" +
         std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + " s" +
         std::to_string(p.stride_h) + "," + std::to_string(p.stride_w) + " p" +
         std::to_string(p.pad_h) + "," + std::to_string(p.pad_w) + " d" +
         std::to_string(p.dilation_h) + "," + std::to_string(p.dilation_w) + " g" +
         std::to_string(p.groups);
}

// F32Epilogue's block moments against the exact (double two-pass) moments of the same values.
// A block of n <= kMomentBlockRows rows sums values shifted by its first one, so each shifted
// value is at most the channel's range R in magnitude and is rounded once (u = epsilon / 2);
// n such terms summed in float are off by at most n u (sum of magnitudes) <= n^2 u R, which
// moves the block mean by n u R; the sum of squares likewise by n^2 u R^2 and M2 = S2 - S1^2 / n
// by at most 3 n^2 u R^2 per block (S1 <= n R). Over all rows: |mean error| <= (n + 1) u R and
// |M2 error| <= 3 (n + 1) u rows R^2; the checks allow twice that, plus double rounding.
void check_block_moments(const float* values, std::size_t rows, std::size_t channels,
                         const std::vector<kernels::ChannelMoments>& got, const std::string& what) {
  std::vector<kernels::ChannelMoments> exact(channels);
  kernels::add_channel_moments_f32_ref(values, rows, channels, exact.data());
  const double u = std::numeric_limits<float>::epsilon() / 2.0;
  const double n = kernels::kMomentBlockRows + 1;
  std::size_t bad = 0;
  for (std::size_t c = 0; c < channels; ++c) {
    float lo = values[c], hi = values[c];
    for (std::size_t r = 0; r < rows; ++r) {
      lo = std::fmin(lo, values[r * channels + c]);
      hi = std::fmax(hi, values[r * channels + c]);
    }
    const double range = static_cast<double>(hi) - lo;
    const double mean_tol = 2.0 * n * u * range + 1e-12 * std::fabs(exact[c].mean);
    const double m2_tol =
        6.0 * n * u * static_cast<double>(rows) * range * range + 1e-12 * exact[c].m2;
    // A NaN in a channel's values makes both moments NaN, in the kernel as in the oracle.
    const auto close = [](double a, double b, double tol) {
      return (std::isnan(a) && std::isnan(b)) || std::fabs(a - b) <= tol;
    };
    const bool ok = got[c].count == exact[c].count && close(got[c].mean, exact[c].mean, mean_tol) &&
                    close(got[c].m2, exact[c].m2, m2_tol);
    bad += ok ? 0 : 1;
  }
  INFO(what);
  CHECK(bad == 0);
}

// The epilogues every kernel that takes one is checked with: none, ReLU, a two-sided clamp
// (ReLU6-like, bounds inside the data), moments alone, and moments with a clamp.
struct EpilogueCase {
  float lo, hi;
  bool moments;
};
constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr EpilogueCase kEpilogues[] = {{-kInf, kInf, false},
                                       {0.0f, kInf, false},
                                       {-0.25f, 0.5f, false},
                                       {-kInf, kInf, true},
                                       {0.0f, 0.75f, true}};

float clamped(float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

// Runs a kernel with each epilogue and checks it against the same kernel without one (`plain`,
// already checked against the reference): the clamp on store is bit-exact to clamp_f32_ref of
// the plain output (NaN kept), and the moments are the block moments of the plain output.
template <class Run>
void check_epilogues(const std::vector<float>& plain, std::size_t rows, std::size_t channels,
                     const std::string& what, Run run) {
  const std::size_t out_n = plain.size();
  for (const EpilogueCase& e : kEpilogues) {
    std::vector<kernels::ChannelMoments> moments(channels);
    kernels::F32Epilogue epilogue;
    epilogue.clamp_min = e.lo;
    epilogue.clamp_max = e.hi;
    epilogue.moments = e.moments ? moments.data() : nullptr;
    Poisoned got(out_n);
    run(epilogue, got.data());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < out_n; ++i)
      bad += same_bits_or_both_nan(got[i], clamped(plain[i], e.lo, e.hi)) ? 0 : 1;
    INFO(what, " clamp [", e.lo, ", ", e.hi, "] moments ", e.moments);
    CHECK(got.guards_intact());
    CHECK(bad == 0);
    if (e.moments) check_block_moments(plain.data(), rows, channels, moments, what);
  }
}

struct ConvCase {
  std::int32_t batch, in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride, pad, dilation, groups;
  bool bias;
};

kernels::Conv2dParams make_params(const ConvCase& c) {
  kernels::Conv2dParams p{};
  p.batch = c.batch;
  p.in_h = c.in_h;
  p.in_w = c.in_w;
  p.in_c = c.in_c;
  p.out_c = c.out_c;
  p.kernel_h = c.kernel_h;
  p.kernel_w = c.kernel_w;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = c.pad;
  p.dilation_h = p.dilation_w = c.dilation;
  p.groups = c.groups;
  p.out_h = (c.in_h + 2 * c.pad - c.dilation * (c.kernel_h - 1) - 1) / c.stride + 1;
  p.out_w = (c.in_w + 2 * c.pad - c.dilation * (c.kernel_w - 1) - 1) / c.stride + 1;
  return p;
}

// Runs one convolution at every level; returns the number of mismatching outputs (all levels).
void check_conv(const kernels::Conv2dParams& p, bool with_bias, std::mt19937& rng) {
  const std::size_t in_n = static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.in_c;
  const std::int32_t group_in = p.in_c / p.groups;
  const std::size_t w_n = static_cast<std::size_t>(p.kernel_h) * p.kernel_w * group_in * p.out_c;
  const std::size_t out_n = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c;
  const std::vector<float> input = random_floats(rng, in_n);
  const std::vector<float> weights = random_floats(rng, w_n);
  const std::vector<float> bias = random_floats(rng, static_cast<std::size_t>(p.out_c));
  const float* b = with_bias ? bias.data() : nullptr;
  std::vector<float> want(out_n), bound(out_n);
  kernels::conv2d_f32_ref(p, input.data(), weights.data(), b, want.data(), {}, nullptr);
  const std::vector<float> abs_bias = absolute(bias);
  kernels::conv2d_f32_ref(p, absolute(input).data(), absolute(weights).data(),
                          with_bias ? abs_bias.data() : nullptr, bound.data(), {}, nullptr);
  const std::int32_t k = p.kernel_h * p.kernel_w * group_in;
  const std::size_t rows = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w;
  const auto epilogues_of = [&](const kernels::F32Kernels& kernel_table) {
    return [&](const kernels::F32Epilogue& epilogue, float* out) {
      const std::size_t bytes = kernel_table.conv2d_scratch_bytes(p);
      CHECK(bytes <= kernels::conv2d_scratch_bytes_any_level(p));
      const PoisonedScratch scratch(bytes);
      kernel_table.conv2d(p, input.data(), weights.data(), b, out, epilogue, scratch.data());
      CHECK(scratch.guard_intact());
    };
  };
  check_epilogues(want, rows, static_cast<std::size_t>(p.out_c), "ref " + describe(p),
                  epilogues_of(*kernels::f32_kernels_at(CpuLevel::ref)));
  for (CpuLevel level : simd_levels()) {
    Poisoned got(out_n);
    epilogues_of (*kernels::f32_kernels_at(level))({}, got.data());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < out_n; ++i)
      bad += within_reduction_tolerance(got[i], want[i], bound[i], k) ? 0 : 1;
    INFO(level_name(level), " ", describe(p), " bias ", with_bias);
    CHECK(got.guards_intact());
    CHECK(got.unwritten() == 0);
    CHECK(bad == 0);
    const std::vector<float> plain(got.data(), got.data() + out_n);
    check_epilogues(plain, rows, static_cast<std::size_t>(p.out_c),
                    level_name(level) + " " + describe(p),
                    epilogues_of(*kernels::f32_kernels_at(level)));
  }
}

TEST_CASE("every machine level reports a name and the reference is always supported") {
  CHECK(std::string(lsuv::cpu_level_name(CpuLevel::ref)) == "ref");
  CHECK(std::string(lsuv::cpu_level_name(CpuLevel::avx2)) == "avx2");
  CHECK(std::string(lsuv::cpu_level_name(CpuLevel::avx512)) == "avx512");
  CHECK(std::string(lsuv::cpu_level_name(static_cast<CpuLevel>(200))) == "unknown");
  CHECK(lsuv::cpu_level_supported(CpuLevel::ref));
  CHECK((kernels::f32_kernels_at(CpuLevel::ref)->conv2d == &kernels::conv2d_f32_ref));
  const std::string levels = "detected " + level_name(lsuv::cpu_level_detected()) + ", in use " +
                             level_name(lsuv::cpu_level());
  MESSAGE(levels);
  // The CPU rule picks a supported level no higher than the best one, and says why.
  const CpuLevel preferred = lsuv::cpu_level_preferred();
  const std::string rule = "preferred " + level_name(preferred) + "; " + lsuv::cpu_level_rule();
  MESSAGE(rule);
  CHECK(lsuv::cpu_level_supported(preferred));
  CHECK(std::string(lsuv::cpu_level_rule()).rfind(level_name(preferred) + ":", 0) == 0);
  const bool zen4_exception =
      lsuv::cpu_level_detected() == CpuLevel::avx512 && preferred == CpuLevel::avx2;
  CHECK((preferred == lsuv::cpu_level_detected() || zen4_exception));
#if defined(__x86_64__)
  CHECK(lsuv::cpu_level_supported(CpuLevel::sse2));
  CHECK_FALSE(lsuv::cpu_level_supported(CpuLevel::neon));
#elif defined(__aarch64__) || (defined(__arm__) && defined(__ARM_NEON))
  CHECK(lsuv::cpu_level_supported(CpuLevel::neon));
  CHECK_FALSE(lsuv::cpu_level_supported(CpuLevel::avx2));
#endif
}

TEST_CASE("set_cpu_level_limit switches the table the core calls and never goes up uninvited") {
  const CpuLevel best = lsuv::cpu_level_detected();
  REQUIRE(lsuv::set_cpu_level_limit(CpuLevel::ref) == lsuv::Status::ok);
  CHECK(lsuv::cpu_level() == CpuLevel::ref);
  CHECK((kernels::f32_kernels().conv2d == &kernels::conv2d_f32_ref));
  CHECK((kernels::f32_kernels().add_channel_moments == &kernels::add_channel_moments_f32_ref));
  for (CpuLevel level : simd_levels()) {
    REQUIRE(lsuv::set_cpu_level_limit(level) == lsuv::Status::ok);
    CHECK(lsuv::cpu_level() == level);
    CHECK((kernels::f32_kernels().linear == kernels::f32_kernels_at(level)->linear));
  }
#if defined(__x86_64__)
  CHECK(lsuv::set_cpu_level_limit(CpuLevel::neon) == lsuv::Status::unsupported);
  // A limit above what the CPU has selects the best it has (sse2 under qemu -cpu Nehalem), and an
  // explicit limit overrides the CPU rule (avx512 on Zen 4).
  REQUIRE(lsuv::set_cpu_level_limit(CpuLevel::avx512) == lsuv::Status::ok);
  CHECK(lsuv::cpu_level() == best);
#else
  CHECK(lsuv::set_cpu_level_limit(CpuLevel::avx2) == lsuv::Status::unsupported);
#endif
  CHECK(lsuv::set_cpu_level_limit(static_cast<CpuLevel>(99)) == lsuv::Status::invalid_argument);
  const CpuLevel top = best;
  REQUIRE(lsuv::set_cpu_level_limit(top) == lsuv::Status::ok);
  CHECK(lsuv::cpu_level() == best);
}

TEST_CASE("conv2d matches the reference on every configuration and tile tail") {
  std::mt19937 rng(20240603);
  // Output channel counts straddle the 1-vector and 2-vector tiles of every ISA (4, 8, 16, 32
  // floats): below, at, and past each; input channels cover 1, odd, the K-block splits
  // (above 512 channels, and taps x channels above 512), and more than 64 taps per block.
  const std::int32_t out_channels[] = {1,  3,  4,  5,  7,  8,  9,  12, 15,
                                       16, 17, 24, 31, 32, 33, 40, 64, 65};
  for (std::int32_t oc : out_channels) {
    for (std::int32_t k : {1, 3, 5}) {
      for (std::int32_t stride : {1, 2}) {
        const std::int32_t pad = k / 2 + (oc % 2);
        check_conv(make_params({2, 9, 11, 3, oc, k, k, stride, pad, 1, 1, oc % 3 != 0}),
                   oc % 3 != 0, rng);
      }
    }
  }
  const ConvCase cases[] = {
      // batch, in_h, in_w, in_c, out_c, kh, kw, stride, pad, dilation, groups, bias
      {1, 28, 28, 1, 8, 5, 5, 2, 1, 1, 1, true},      // the seed's first layer
      {3, 13, 13, 8, 16, 3, 3, 1, 2, 1, 1, true},     // and its second
      {1, 7, 5, 1, 1, 1, 1, 1, 0, 1, 1, false},       // a single channel, no bias
      {2, 8, 8, 16, 32, 1, 1, 1, 0, 1, 1, true},      // pointwise
      {1, 9, 9, 13, 19, 1, 1, 2, 0, 1, 1, true},      // strided pointwise, odd channels
      {1, 10, 7, 6, 10, 2, 3, 3, 1, 1, 1, true},      // non-square kernel, stride 3
      {2, 12, 12, 5, 9, 3, 3, 1, 2, 2, 1, true},      // dilation
      {1, 11, 13, 4, 6, 3, 5, 2, 3, 2, 1, true},      // padding wider than the kernel reach
      {1, 6, 6, 12, 18, 3, 3, 1, 1, 1, 3, true},      // grouped
      {2, 7, 9, 16, 40, 3, 3, 2, 1, 1, 2, true},      // grouped, wide groups
      {2, 9, 9, 24, 24, 3, 3, 1, 1, 1, 24, true},     // depthwise
      {1, 11, 10, 37, 37, 5, 5, 2, 2, 1, 37, false},  // depthwise, odd channels, 5x5 s2
      {1, 8, 8, 3, 3, 3, 3, 1, 1, 2, 3, true},        // depthwise with dilation
      {1, 9, 9, 8, 16, 3, 3, 1, 1, 1, 8, true},       // depthwise multiplier 2
      {1, 6, 6, 5, 15, 3, 3, 2, 1, 1, 5, true},       // depthwise multiplier 3
      {1, 5, 5, 600, 20, 1, 1, 1, 0, 1, 1, true},     // more than 512 input channels
      {1, 6, 5, 240, 33, 3, 3, 1, 1, 1, 1, true},     // K blocks of whole taps (4+4+1, 8+1)
      {1, 12, 12, 1, 9, 9, 9, 1, 4, 1, 1, true},      // 81 taps: more than 64 per block
      {1, 4, 4, 512, 40, 1, 1, 1, 0, 1, 1, true},     // an N block narrower than the layer
      {1, 3, 3, 4, 530, 1, 1, 1, 0, 1, 1, true},      // over 512 outputs: moment N blocks
      {1, 3, 3, 2, 3, 3, 3, 1, 0, 1, 1, true},        // a 1x1 output
      {1, 1, 1, 7, 5, 3, 3, 1, 1, 1, 1, true},        // a 1x1 input, all but one tap padding
  };
  for (const ConvCase& c : cases) check_conv(make_params(c), c.bias, rng);
}

// Few input and output channels run vectorised over output pixels on AVX-512 (16 pixels of a row
// x 3 rows x 8 channels a tile, simd/conv2d_pixels.hpp): output widths around 16 and 32, heights
// around 3, channels around 8, both horizontal strides with other vertical ones, and padding.
TEST_CASE("conv2d with few channels matches the reference on every pixel, row and channel tail") {
  std::mt19937 rng(1611);
  struct Case {
    std::int32_t in_h, in_w, in_c, out_c, kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  };
  const Case cases[] = {
      {5, 8, 1, 1, 1, 1, 1, 1, 0, 0},    {4, 15, 2, 7, 3, 3, 1, 1, 1, 1},
      {6, 16, 3, 8, 3, 3, 1, 1, 1, 1},   {7, 17, 8, 9, 3, 3, 1, 1, 1, 1},
      {9, 31, 5, 16, 3, 5, 2, 1, 2, 2},  {8, 33, 8, 17, 5, 3, 1, 1, 0, 1},
      {11, 40, 1, 24, 5, 5, 1, 2, 1, 1}, {12, 65, 4, 31, 3, 3, 3, 2, 1, 0},
      {10, 35, 6, 32, 7, 7, 2, 2, 3, 3}, {3, 20, 8, 12, 1, 1, 1, 2, 0, 0},
      {2, 18, 7, 5, 2, 4, 1, 2, 1, 2},   {13, 28, 1, 8, 5, 5, 2, 2, 1, 1},
      {6, 45, 1, 8, 3, 3, 1, 2, 0, 0},   {5, 70, 1, 5, 4, 5, 2, 2, 2, 2},
      {4, 37, 8, 16, 3, 3, 1, 1, 2, 3},  {3, 34, 1, 3, 1, 2, 1, 2, 0, 3},
  };
  for (const Case& c : cases) {
    for (std::int32_t batch : {1, 2}) {
      kernels::Conv2dParams p{};
      p.batch = batch;
      p.in_h = c.in_h;
      p.in_w = c.in_w;
      p.in_c = c.in_c;
      p.out_c = c.out_c;
      p.kernel_h = c.kernel_h;
      p.kernel_w = c.kernel_w;
      p.stride_h = c.stride_h;
      p.stride_w = c.stride_w;
      p.pad_h = c.pad_h;
      p.pad_w = c.pad_w;
      p.dilation_h = p.dilation_w = 1;
      p.groups = 1;
      p.out_h = (c.in_h + 2 * c.pad_h - c.kernel_h) / c.stride_h + 1;
      p.out_w = (c.in_w + 2 * c.pad_w - c.kernel_w) / c.stride_w + 1;
      check_conv(p, batch == 1, rng);
    }
  }
}

TEST_CASE("linear matches the reference for every batch and width tail") {
  std::mt19937 rng(7);
  for (std::int32_t batch : {1, 2, 5, 6, 7, 13, 17, 64}) {
    for (std::int32_t in : {1, 3, 8, 17, 64, 513}) {
      for (std::int32_t out : {1, 4, 7, 8, 16, 17, 33, 48, 100}) {
        const kernels::LinearParams p = {batch, in, out};
        const std::vector<float> x = random_floats(rng, static_cast<std::size_t>(batch) * in);
        const std::vector<float> w = random_floats(rng, static_cast<std::size_t>(in) * out);
        const std::vector<float> b = random_floats(rng, static_cast<std::size_t>(out));
        const std::size_t out_n = static_cast<std::size_t>(batch) * out;
        std::vector<float> want(out_n), bound(out_n);
        kernels::linear_f32_ref(p, x.data(), w.data(), b.data(), want.data(), {}, nullptr);
        kernels::linear_f32_ref(p, absolute(x).data(), absolute(w).data(), absolute(b).data(),
                                bound.data(), {}, nullptr);
        const std::string shape = " batch " + std::to_string(batch) + " in " + std::to_string(in) +
                                  " out " + std::to_string(out);
        const auto epilogues_of = [&](const kernels::F32Kernels& kernel_table) {
          return [&](const kernels::F32Epilogue& epilogue, float* y) {
            const std::size_t bytes = kernel_table.linear_scratch_bytes(p);
            CHECK(bytes <= kernels::linear_scratch_bytes_any_level(p));
            const PoisonedScratch scratch(bytes);
            kernel_table.linear(p, x.data(), w.data(), b.data(), y, epilogue, scratch.data());
            CHECK(scratch.guard_intact());
          };
        };
        check_epilogues(want, static_cast<std::size_t>(batch), static_cast<std::size_t>(out),
                        "ref" + shape, epilogues_of(*kernels::f32_kernels_at(CpuLevel::ref)));
        for (CpuLevel level : simd_levels()) {
          Poisoned got(out_n);
          epilogues_of (*kernels::f32_kernels_at(level))({}, got.data());
          std::size_t bad = 0;
          for (std::size_t i = 0; i < out_n; ++i)
            bad += within_reduction_tolerance(got[i], want[i], bound[i], in) ? 0 : 1;
          INFO(level_name(level), shape);
          CHECK(got.guards_intact());
          CHECK(got.unwritten() == 0);
          CHECK(bad == 0);
          const std::vector<float> plain(got.data(), got.data() + out_n);
          check_epilogues(plain, static_cast<std::size_t>(batch), static_cast<std::size_t>(out),
                          level_name(level) + shape, epilogues_of(*kernels::f32_kernels_at(level)));
        }
      }
    }
  }
}

// Lengths 0 and 1 .. 3 x the widest vector (8 floats) + 1: every main-loop and tail split.
std::vector<std::size_t> tail_lengths() {
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 3 * 8 + 1; ++n) lengths.push_back(n);
  for (std::size_t n : {31u, 32u, 33u, 63u, 64u, 65u, 200u}) lengths.push_back(n);
  return lengths;
}

TEST_CASE("clamp is bit-exact, keeps NaN, and works in place") {
  std::mt19937 rng(11);
  const float bounds[][2] = {{0.0f, kInf}, {0.0f, 6.0f}, {-0.5f, 0.25f}, {-kInf, kInf}};
  for (std::size_t n : tail_lengths()) {
    std::vector<float> x = random_floats(rng, n);
    if (n > 2) x[n / 2] = std::numeric_limits<float>::quiet_NaN();
    if (n > 3) x[1] = -0.0f;
    if (n > 5) x[n - 2] = -kInf;
    if (n > 6) x[n - 3] = kInf;
    for (const auto& b : bounds) {
      std::vector<float> want(n);
      kernels::clamp_f32_ref(n, x.data(), want.data(), b[0], b[1]);
      if (n > 2) CHECK(std::isnan(want[n / 2]));
      for (CpuLevel level : simd_levels()) {
        Poisoned got(n);
        kernels::f32_kernels_at(level)->clamp(n, x.data(), got.data(), b[0], b[1]);
        std::vector<float> in_place = x;
        kernels::f32_kernels_at(level)->clamp(n, in_place.data(), in_place.data(), b[0], b[1]);
        std::size_t bad = 0;
        for (std::size_t i = 0; i < n; ++i)
          bad += (same_bits_or_both_nan(got[i], want[i]) &&
                  same_bits_or_both_nan(in_place[i], want[i]))
                     ? 0
                     : 1;
        INFO(level_name(level), " n ", n, " clamp [", b[0], ", ", b[1], "]");
        CHECK(got.guards_intact());
        CHECK(got.unwritten() == 0);
        CHECK(bad == 0);
      }
    }
  }
}

// Row x channel shapes whose element counts and channel counts cover every tail.
std::vector<std::pair<std::size_t, std::size_t>> elementwise_shapes() {
  std::vector<std::pair<std::size_t, std::size_t>> shapes;
  for (std::size_t channels = 1; channels <= 3 * 8 + 1; ++channels)
    for (std::size_t rows : {1u, 2u, 3u}) shapes.push_back({rows, channels});
  shapes.push_back({67, 5});
  shapes.push_back({130, 16});
  shapes.push_back({9, 64});
  return shapes;
}

TEST_CASE("add matches the reference for 2..4 inputs, in place, with every epilogue") {
  std::mt19937 rng(19);
  for (const auto& shape : elementwise_shapes()) {
    const std::size_t rows = shape.first, channels = shape.second, n = rows * channels;
    for (std::int32_t count = 2; count <= 4; ++count) {
      std::vector<std::vector<float>> inputs;
      for (std::int32_t k = 0; k < count; ++k) inputs.push_back(random_floats(rng, n));
      if (n > 2) inputs[1][n / 2] = std::numeric_limits<float>::quiet_NaN();
      std::vector<const float*> pointers;
      for (const std::vector<float>& in : inputs) pointers.push_back(in.data());
      std::vector<float> want(n);
      kernels::add_f32_ref(rows, channels, pointers.data(), count, want.data(), {});
      for (CpuLevel level : simd_levels()) {
        const kernels::F32Kernels& k = *kernels::f32_kernels_at(level);
        const std::string what = level_name(level) + " add rows " + std::to_string(rows) +
                                 " channels " + std::to_string(channels) + " inputs " +
                                 std::to_string(count);
        Poisoned got(n);
        k.add(rows, channels, pointers.data(), count, got.data(), {});
        std::size_t bad = 0;
        for (std::size_t i = 0; i < n; ++i) bad += same_bits_or_both_nan(got[i], want[i]) ? 0 : 1;
        // In place: the output is the first input.
        std::vector<float> first = inputs[0];
        std::vector<const float*> aliased = pointers;
        aliased[0] = first.data();
        k.add(rows, channels, aliased.data(), count, first.data(), {});
        for (std::size_t i = 0; i < n; ++i) bad += same_bits_or_both_nan(first[i], want[i]) ? 0 : 1;
        INFO(what);
        CHECK(got.guards_intact());
        CHECK(got.unwritten() == 0);
        CHECK(bad == 0);
        check_epilogues(want, rows, channels, what,
                        [&](const kernels::F32Epilogue& epilogue, float* out) {
                          k.add(rows, channels, pointers.data(), count, out, epilogue);
                        });
      }
    }
  }
}

TEST_CASE("channel_affine matches the reference within a rounding, in place, every epilogue") {
  std::mt19937 rng(23);
  for (const auto& shape : elementwise_shapes()) {
    const std::size_t rows = shape.first, channels = shape.second, n = rows * channels;
    std::vector<float> x = random_floats(rng, n);
    if (n > 2) x[n / 2] = std::numeric_limits<float>::quiet_NaN();
    const std::vector<float> scale = random_floats(rng, channels, -2.0f, 2.0f);
    const std::vector<float> shift = random_floats(rng, channels);
    std::vector<float> want(n);
    kernels::channel_affine_f32_ref(rows, channels, x.data(), scale.data(), shift.data(),
                                    want.data(), {});
    // A fused and an unfused multiply-add differ by at most one rounding of the product.
    const auto close = [&](float got, std::size_t i) {
      const std::size_t c = i % channels;
      const float tol = 2.0f * std::numeric_limits<float>::epsilon() *
                            (std::fabs(x[i] * scale[c]) + std::fabs(shift[c])) +
                        std::numeric_limits<float>::min();
      return (std::isnan(got) && std::isnan(want[i])) || std::fabs(got - want[i]) <= tol;
    };
    for (CpuLevel level : simd_levels()) {
      const kernels::F32Kernels& k = *kernels::f32_kernels_at(level);
      const std::string what = level_name(level) + " channel_affine rows " + std::to_string(rows) +
                               " channels " + std::to_string(channels);
      Poisoned got(n);
      k.channel_affine(rows, channels, x.data(), scale.data(), shift.data(), got.data(), {});
      std::vector<float> in_place = x;
      k.channel_affine(rows, channels, in_place.data(), scale.data(), shift.data(), in_place.data(),
                       {});
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        bad += close(got[i], i) ? 0 : 1;
        bad += same_bits_or_both_nan(in_place[i], got[i]) ? 0 : 1;
      }
      INFO(what);
      CHECK(got.guards_intact());
      CHECK(got.unwritten() == 0);
      CHECK(bad == 0);
      const std::vector<float> plain(got.data(), got.data() + n);
      check_epilogues(
          plain, rows, channels, what, [&](const kernels::F32Epilogue& epilogue, float* out) {
            k.channel_affine(rows, channels, x.data(), scale.data(), shift.data(), out, epilogue);
          });
    }
  }
}

TEST_CASE("pooling is bit-exact to the reference, NaN and padding included") {
  std::mt19937 rng(13);
  struct PoolCase {
    std::int32_t batch, in_h, in_w, channels, kernel, stride, pad;
  };
  const PoolCase cases[] = {{2, 8, 8, 3, 2, 2, 0},  {1, 9, 7, 8, 3, 2, 1},   {3, 5, 5, 17, 3, 1, 1},
                            {1, 6, 6, 33, 2, 2, 1}, {2, 11, 9, 16, 3, 3, 0}, {1, 4, 4, 1, 4, 4, 0},
                            {1, 7, 7, 40, 5, 2, 2}};
  for (const PoolCase& c : cases) {
    kernels::Pool2dParams p{};
    p.batch = c.batch;
    p.in_h = c.in_h;
    p.in_w = c.in_w;
    p.channels = c.channels;
    p.kernel_h = p.kernel_w = c.kernel;
    p.stride_h = p.stride_w = c.stride;
    p.pad_h = p.pad_w = c.pad;
    p.out_h = (c.in_h + 2 * c.pad - c.kernel) / c.stride + 1;
    p.out_w = (c.in_w + 2 * c.pad - c.kernel) / c.stride + 1;
    const std::size_t in_n = static_cast<std::size_t>(c.batch) * c.in_h * c.in_w * c.channels;
    std::vector<float> x = random_floats(rng, in_n, -3.0f, -1.0f);  // negative: padding must lose
    x[in_n / 3] = std::numeric_limits<float>::quiet_NaN();
    const std::size_t out_n = static_cast<std::size_t>(c.batch) * p.out_h * p.out_w * c.channels;
    std::vector<float> want_max(out_n), want_avg(out_n);
    kernels::max_pool2d_f32_ref(p, x.data(), want_max.data());
    kernels::avg_pool2d_f32_ref(p, x.data(), want_avg.data());
    for (CpuLevel level : simd_levels()) {
      Poisoned got_max(out_n), got_avg(out_n);
      kernels::f32_kernels_at(level)->max_pool2d(p, x.data(), got_max.data());
      kernels::f32_kernels_at(level)->avg_pool2d(p, x.data(), got_avg.data());
      std::size_t bad = 0;
      for (std::size_t i = 0; i < out_n; ++i)
        bad += (same_bits_or_both_nan(got_max[i], want_max[i]) &&
                same_bits_or_both_nan(got_avg[i], want_avg[i]))
                   ? 0
                   : 1;
      INFO(level_name(level), " pool ", c.kernel, " stride ", c.stride, " pad ", c.pad, " C ",
           c.channels);
      CHECK(got_max.guards_intact());
      CHECK(got_avg.guards_intact());
      CHECK(bad == 0);
    }
  }
  for (std::int32_t channels : {1, 3, 4, 8, 9, 16, 17, 32, 33, 72, 131}) {
    const std::int32_t batch = 3, pixels = 19;
    const std::vector<float> x =
        random_floats(rng, static_cast<std::size_t>(batch) * pixels * channels);
    const std::size_t out_n = static_cast<std::size_t>(batch) * channels;
    std::vector<float> want(out_n);
    kernels::global_avg_pool_f32_ref(batch, pixels, channels, x.data(), want.data());
    for (CpuLevel level : simd_levels()) {
      Poisoned got(out_n);
      kernels::f32_kernels_at(level)->global_avg_pool(batch, pixels, channels, x.data(),
                                                      got.data());
      std::size_t bad = 0;
      for (std::size_t i = 0; i < out_n; ++i) bad += same_bits_or_both_nan(got[i], want[i]) ? 0 : 1;
      INFO(level_name(level), " global pool C ", channels);
      CHECK(got.guards_intact());
      CHECK(bad == 0);
    }
  }
}

// Two passes in long double: the oracle for the moments kernels.
void exact_moments(const std::vector<float>& data, std::size_t rows, std::size_t channels,
                   std::size_t c, long double* mean, long double* m2) {
  long double sum = 0.0L;
  for (std::size_t r = 0; r < rows; ++r) sum += data[r * channels + c];
  *mean = sum / static_cast<long double>(rows);
  long double acc = 0.0L;
  for (std::size_t r = 0; r < rows; ++r) {
    const long double d = data[r * channels + c] - *mean;
    acc += d * d;
  }
  *m2 = acc;
}

TEST_CASE("add_channel_moments agrees with an exact two-pass, also at a large offset") {
  std::mt19937 rng(17);
  struct MomentCase {
    std::size_t rows, channels;
    float offset, spread;
  };
  const MomentCase cases[] = {
      {1, 1, 0.0f, 1.0f},      {5, 3, 0.0f, 1.0f},     {63, 8, 2.0f, 0.5f},
      {64, 16, -1.0f, 3.0f},   {65, 17, 0.0f, 1.0f},   {300, 33, 0.5f, 2.0f},
      {1000, 32, 1e4f, 1e-2f}, {777, 9, -3e3f, 1e-3f}, {129, 4, 0.0f, 1e-20f}};
  for (const MomentCase& c : cases) {
    std::vector<float> data = random_floats(rng, c.rows * c.channels, -1.0f, 1.0f);
    for (float& x : data) x = c.offset + c.spread * x;
    for (CpuLevel level : simd_levels()) {
      // Prior state (one value at the offset): the kernel must merge, not overwrite.
      std::vector<kernels::ChannelMoments> stats(c.channels, {1, c.offset, 0.0});
      kernels::f32_kernels_at(level)->add_channel_moments(data.data(), c.rows, c.channels,
                                                          stats.data());
      std::size_t bad = 0;
      for (std::size_t ch = 0; ch < c.channels; ++ch) {
        std::vector<float> column(c.rows + 1, c.offset);
        for (std::size_t r = 0; r < c.rows; ++r) column[r + 1] = data[r * c.channels + ch];
        long double mean, m2;
        exact_moments(column, c.rows + 1, 1, 0, &mean, &m2);
        const double scale = static_cast<double>(c.spread) * c.spread * (c.rows + 1);
        const bool ok = stats[ch].count == c.rows + 1 &&
                        std::fabs(stats[ch].mean - static_cast<double>(mean)) <=
                            1e-6 * c.spread + 1e-12 * std::fabs(c.offset) &&
                        std::fabs(stats[ch].m2 - static_cast<double>(m2)) <= 1e-5 * scale;
        bad += ok ? 0 : 1;
      }
      INFO(level_name(level), " rows ", c.rows, " channels ", c.channels, " offset ", c.offset);
      CHECK(bad == 0);
    }
  }
}

// Every entry of a table by name, as a pointer-sized value, for comparing tables entry by entry.
std::vector<std::pair<std::string, const void*>> entries(const kernels::F32Kernels& k) {
  std::vector<std::pair<std::string, const void*>> list;
#define LSUV_ENTRY(name) list.push_back({#name, reinterpret_cast<const void*>(k.name)});
#define LSUV_SCRATCH_ENTRY(name) LSUV_ENTRY(name) LSUV_ENTRY(name##_scratch_bytes)
  LSUV_F32_KERNELS_WITH_SCRATCH(LSUV_SCRATCH_ENTRY)
  LSUV_F32_KERNELS_PLAIN(LSUV_ENTRY)
#undef LSUV_SCRATCH_ENTRY
#undef LSUV_ENTRY
  return list;
}

TEST_CASE(
    "each level's table is its own entries over the level below, kernels with their scratch") {
  const kernels::F32Kernels* ref = kernels::f32_kernels_at(CpuLevel::ref);
  REQUIRE(ref != nullptr);
  for (const auto& entry : entries(*ref)) {
    INFO("ref ", entry.first);
    CHECK(entry.second != nullptr);
  }
  CHECK(kernels::f32_kernels_own(CpuLevel::ref) != nullptr);
  // The chain below each SIMD level on this architecture is the reference.
  for (CpuLevel level : simd_levels()) {
    const kernels::F32Kernels* own = kernels::f32_kernels_own(level);
    REQUIRE(own != nullptr);
    CHECK(((own->conv2d == nullptr) == (own->conv2d_scratch_bytes == nullptr)));
    CHECK(((own->linear == nullptr) == (own->linear_scratch_bytes == nullptr)));
    const CpuLevel below = level == CpuLevel::avx2 ? CpuLevel::sse2 : CpuLevel::ref;
    const auto own_entries = entries(*own);
    const auto below_entries = entries(*kernels::f32_kernels_at(below));
    const auto merged = entries(*kernels::f32_kernels_at(level));
    for (std::size_t i = 0; i < merged.size(); ++i) {
      INFO(level_name(level), " ", merged[i].first);
      const void* want =
          own_entries[i].second != nullptr ? own_entries[i].second : below_entries[i].second;
      CHECK(merged[i].second == want);
    }
  }
  // The elementwise kernels the graph ops call exist at every SIMD level (no silent fallback).
  for (CpuLevel level : simd_levels()) {
    const kernels::F32Kernels* own = kernels::f32_kernels_own(level);
    INFO(level_name(level));
    CHECK((own->clamp != nullptr));
    CHECK((own->add != nullptr));
    CHECK((own->channel_affine != nullptr));
  }
}

TEST_CASE("scratch queries: the reference needs none, any_level is the largest over levels") {
  const kernels::Conv2dParams p = make_params({2, 9, 9, 16, 24, 3, 3, 1, 1, 1, 1, true});
  const kernels::LinearParams l = {5, 300, 40};
  CHECK(kernels::f32_kernels_at(CpuLevel::ref)->conv2d_scratch_bytes(p) == 0);
  CHECK(kernels::f32_kernels_at(CpuLevel::ref)->linear_scratch_bytes(l) == 0);
  std::size_t conv_largest = 0, linear_largest = 0;
  for (CpuLevel level : simd_levels()) {
    conv_largest = std::max(conv_largest, kernels::f32_kernels_at(level)->conv2d_scratch_bytes(p));
    linear_largest =
        std::max(linear_largest, kernels::f32_kernels_at(level)->linear_scratch_bytes(l));
  }
  CHECK(kernels::conv2d_scratch_bytes_any_level(p) == conv_largest);
  CHECK(kernels::linear_scratch_bytes_any_level(l) == linear_largest);
  // The scratch does not depend on the batch, so a plan sized at its largest batch fits all.
  kernels::Conv2dParams one = p;
  one.batch = 1;
  CHECK(kernels::conv2d_scratch_bytes_any_level(one) == kernels::conv2d_scratch_bytes_any_level(p));
}

// Run by meson with LSUV_CPU set to a value that names no level (see meson.build), and in the
// plain run with whatever the environment holds.
TEST_CASE("LSUV_CPU: a level of this architecture is taken, anything else is reported") {
  const char* text = std::getenv("LSUV_CPU");
  bool valid = text == nullptr;
#if defined(__x86_64__)
  for (const char* name : {"ref", "sse2", "avx2", "avx512"})
    valid = valid || (text && std::strcmp(text, name) == 0);
#elif defined(__aarch64__) || defined(__arm__)
  for (const char* name : {"ref", "neon"}) valid = valid || (text && std::strcmp(text, name) == 0);
#else
  valid = valid || (text && std::strcmp(text, "ref") == 0);
#endif
  INFO("LSUV_CPU=", text ? text : "(unset)");
  CHECK((lsuv::cpu_level_environment() == lsuv::Status::ok) == valid);
  // An unknown value leaves the default: the detected level, or the lower one the CPU rule
  // prefers (AVX2 on Zen 4).
  if (!valid) CHECK(lsuv::cpu_level() == lsuv::cpu_level_preferred());
}

}  // namespace
