// The backward kernel checker: every backward entry of every level this machine runs, against its
// _ref twin (kernels/backward_ref.hpp), on shapes that cover every tile tail (channel counts
// below, at and past one and two vectors of every ISA, K runs shorter and longer than a tile)
// and every convolution configuration, in both GradWrite modes. Assigned gradients live between
// NaN canaries, so a write out of bounds or an element left unwritten fails; scratch is filled
// with all-ones bytes (NaN floats, unmapped pointers) and followed by a guard. Float tolerances
// come from each output's reduction: (K + 2) epsilon times the sum of |products| (and |the
// accumulated value|); the column sums and the clamp are bit-exact.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/backward_dispatch.hpp"
#include "kernels/backward_ref.hpp"
#include "lsuv/cpu.hpp"
#include "poisoned_scratch.hpp"

namespace {

namespace kernels = lsuv::kernels;
using kernels::GradWrite;
using lsuv::CpuLevel;
using lsuv_test::PoisonedScratch;

constexpr std::uint32_t kCanaryBits = 0x7fc0beef;  // a quiet NaN no kernel produces
constexpr std::size_t kGuard = 64;

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

// A gradient buffer between canary guards: all canaries (assign) or given values (accumulate).
class Guarded {
 public:
  explicit Guarded(std::size_t n) : storage_(n + 2 * kGuard, canary()), n_(n) {}
  Guarded(const std::vector<float>& start) : Guarded(start.size()) {
    std::memcpy(data(), start.data(), start.size() * sizeof(float));
  }
  float* data() { return storage_.data() + kGuard; }
  float operator[](std::size_t i) const { return storage_[kGuard + i]; }
  bool intact() const {
    for (std::size_t i = 0; i < kGuard; ++i)
      if (!is_canary(storage_[i]) || !is_canary(storage_[kGuard + n_ + i])) return false;
    for (std::size_t i = 0; i < n_; ++i)
      if (is_canary(storage_[kGuard + i])) return false;
    return true;
  }

 private:
  std::vector<float> storage_;
  std::size_t n_;
};

std::vector<float> random_floats(std::mt19937& rng, std::size_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> absolute(const std::vector<float>& v) {
  std::vector<float> a(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) a[i] = std::fabs(v[i]);
  return a;
}

// Every SIMD level this machine runs (the reference is the oracle).
std::vector<CpuLevel> simd_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel level : lsuv::kCpuLevels)
    if (level != CpuLevel::ref && kernels::f32_backward_kernels_at(level) != nullptr)
      levels.push_back(level);
  return levels;
}

bool within(float got, float want, float abs_sum, std::int64_t k) {
  const float tol = static_cast<float>(k + 2) * std::numeric_limits<float>::epsilon() * abs_sum +
                    std::numeric_limits<float>::min();
  return std::fabs(got - want) <= tol;
}

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// One reduction entry at every level in both modes. run(table, out, mode, scratch) computes into
// out; ref_into(out, abs) the reference of the plain or absolute-valued operands (the bound of
// the products); k the reduction length; bytes(table) the entry's scratch query and any_level
// the planner's.
template <class Run, class Reference, class Bytes>
void check_reduction(std::size_t n, std::int64_t k, const std::string& what, std::mt19937& rng,
                     Run run, Reference ref_into, Bytes bytes, std::size_t any_level) {
  std::vector<float> want(n), bound(n);
  ref_into(want.data(), false);
  ref_into(bound.data(), true);
  const std::vector<float> start = random_floats(rng, n);
  for (CpuLevel level : simd_levels()) {
    const kernels::F32BackwardKernels& table = *kernels::f32_backward_kernels_at(level);
    for (GradWrite mode : {GradWrite::assign, GradWrite::accumulate}) {
      const bool add = mode == GradWrite::accumulate;
      Guarded got = add ? Guarded(start) : Guarded(n);
      const std::size_t scratch_bytes = bytes(table);
      CHECK(scratch_bytes <= any_level);
      const PoisonedScratch scratch(scratch_bytes);
      run(table, got.data(), mode, scratch.data());
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) {
        const float expected = add ? start[i] + want[i] : want[i];
        const float sum = add ? std::fabs(start[i]) + bound[i] : bound[i];
        bad += within(got[i], expected, sum, k + (add ? 1 : 0)) ? 0 : 1;
      }
      INFO(lsuv::cpu_level_name(level), " ", what, add ? " accumulate" : " assign");
      CHECK(got.intact());
      CHECK(scratch.guard_intact());
      CHECK(bad == 0);
    }
  }
}

struct ConvCase {
  std::int32_t batch, in_h, in_w, in_c, out_c, kernel, stride, pad, dilation, groups;
};

kernels::Conv2dParams make_params(const ConvCase& c) {
  kernels::Conv2dParams p{};
  p.batch = c.batch;
  p.in_h = c.in_h;
  p.in_w = c.in_w;
  p.in_c = c.in_c;
  p.out_c = c.out_c;
  p.kernel_h = p.kernel_w = c.kernel;
  p.stride_h = p.stride_w = c.stride;
  p.pad_h = p.pad_w = c.pad;
  p.dilation_h = p.dilation_w = c.dilation;
  p.groups = c.groups;
  p.out_h = (c.in_h + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
  p.out_w = (c.in_w + 2 * c.pad - c.dilation * (c.kernel - 1) - 1) / c.stride + 1;
  return p;
}

std::string describe(const kernels::Conv2dParams& p) {
  return "n" + std::to_string(p.batch) + " in " + std::to_string(p.in_h) + "x" +
         std::to_string(p.in_w) + "x" + std::to_string(p.in_c) + " out " + std::to_string(p.out_h) +
         "x" + std::to_string(p.out_w) + "x" + std::to_string(p.out_c) + " k" +
         std::to_string(p.kernel_h) + "x" + std::to_string(p.kernel_w) + " s" +
         std::to_string(p.stride_h) + " p" + std::to_string(p.pad_h) + " d" +
         std::to_string(p.dilation_h) + " g" + std::to_string(p.groups);
}

// Clamp outputs for the gated input gradients: random values with exact bounds (0 and 0.5)
// and NaN among them, and two gates over them (ReLU's [0, inf), a [0, 0.5] clamp).
struct ClampGates {
  ClampGates(std::mt19937& rng, std::size_t n) : output(random_floats(rng, n)) {
    for (std::size_t i = 0; i < n; i += 7) output[i] = 0.0f;
    for (std::size_t i = 3; i < n; i += 11) output[i] = 0.5f;
    for (std::size_t i = 5; i < n; i += 13) output[i] = std::numeric_limits<float>::quiet_NaN();
    relu = {output.data(), 0.0f, std::numeric_limits<float>::infinity()};
    relu6 = {output.data(), 0.0f, 0.5f};
  }
  std::string name(const kernels::ClampGate* gate) const {
    return gate == nullptr ? "" : gate == &relu ? " gated by relu" : " gated by a clamp";
  }
  std::vector<float> output;
  kernels::ClampGate relu{}, relu6{};
};

void check_conv(const kernels::Conv2dParams& p, std::mt19937& rng) {
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  const std::size_t in_n = static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.in_c;
  const std::size_t w_n = static_cast<std::size_t>(p.kernel_h) * p.kernel_w * group_in * p.out_c;
  const std::size_t out_n = static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c;
  const std::vector<float> input = random_floats(rng, in_n);
  const std::vector<float> weights = random_floats(rng, w_n);
  const std::vector<float> grad = random_floats(rng, out_n);
  const std::vector<float> abs_input = absolute(input), abs_weights = absolute(weights),
                           abs_grad = absolute(grad);
  check_reduction(
      w_n, static_cast<std::int64_t>(p.batch) * p.out_h * p.out_w, "weights " + describe(p), rng,
      [&](const kernels::F32BackwardKernels& t, float* out, GradWrite mode, void* scratch) {
        t.conv2d_weights(p, input.data(), grad.data(), out, mode, scratch);
      },
      [&](float* out, bool abs) {
        kernels::conv2d_backward_weights_f32_ref(p, abs ? abs_input.data() : input.data(),
                                                 abs ? abs_grad.data() : grad.data(), out,
                                                 GradWrite::assign, nullptr);
      },
      [&](const kernels::F32BackwardKernels& t) { return t.conv2d_weights_scratch_bytes(p); },
      kernels::conv2d_backward_weights_scratch_bytes_any_level(p));
  // The input gradient plain, then through a ReLU6-like gate (every bound case and NaN).
  const ClampGates gates(rng, in_n);
  for (const kernels::ClampGate* gate :
       {static_cast<const kernels::ClampGate*>(nullptr), &gates.relu, &gates.relu6}) {
    check_reduction(
        in_n, static_cast<std::int64_t>(p.kernel_h) * p.kernel_w * group_out,
        "input " + describe(p) + gates.name(gate), rng,
        [&](const kernels::F32BackwardKernels& t, float* out, GradWrite mode, void* scratch) {
          t.conv2d_input(p, grad.data(), weights.data(), out, mode, gate, scratch);
        },
        [&](float* out, bool abs) {
          kernels::conv2d_backward_input_f32_ref(p, abs ? abs_grad.data() : grad.data(),
                                                 abs ? abs_weights.data() : weights.data(), out,
                                                 GradWrite::assign, gate, nullptr);
        },
        [&](const kernels::F32BackwardKernels& t) { return t.conv2d_input_scratch_bytes(p); },
        kernels::conv2d_backward_input_scratch_bytes_any_level(p));
  }
}

TEST_CASE("backward tables: every level is the reference's entries or its own, by the chain") {
  const kernels::F32BackwardKernels* ref = kernels::f32_backward_kernels_at(CpuLevel::ref);
  REQUIRE(ref != nullptr);
  CHECK((ref->conv2d_weights == &kernels::conv2d_backward_weights_f32_ref));
  CHECK((ref->max_pool2d == &kernels::max_pool2d_backward_f32_ref));
  for (CpuLevel level : simd_levels()) {
    const kernels::F32BackwardKernels* own = kernels::f32_backward_kernels_own(level);
    const kernels::F32BackwardKernels* at = kernels::f32_backward_kernels_at(level);
    REQUIRE(own != nullptr);
    INFO(lsuv::cpu_level_name(level));
    // An entry a level implements is the one its table uses; the others come from below.
    CHECK((own->conv2d_weights == nullptr || at->conv2d_weights == own->conv2d_weights));
    CHECK((own->conv2d_input == nullptr || at->conv2d_input == own->conv2d_input));
    CHECK((own->max_pool2d == nullptr ? at->max_pool2d == ref->max_pool2d
                                      : at->max_pool2d == own->max_pool2d));
    REQUIRE(lsuv::set_cpu_level_limit(level) == lsuv::Status::ok);
    CHECK((kernels::f32_backward_kernels().conv2d_weights == at->conv2d_weights));
  }
  REQUIRE(lsuv::set_cpu_level_limit(CpuLevel::ref) == lsuv::Status::ok);
  CHECK((kernels::f32_backward_kernels().conv2d_weights == ref->conv2d_weights));
  REQUIRE(lsuv::set_cpu_level_limit(lsuv::cpu_level_preferred()) == lsuv::Status::ok);
}

TEST_CASE("conv2d backward matches the reference on every configuration and tile tail") {
  std::mt19937 rng(90210);
  // Output channels below, at and past one and two vectors of every ISA (4, 8, 16 floats);
  // input channels make K runs (kernel_w * in_c) shorter and longer than every tile's rows.
  // Stride 2 takes the input gradient's column path (a GEMM, then col2im) for every input
  // channel tail.
  for (std::int32_t oc : {1, 3, 4, 5, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48}) {
    for (std::int32_t ic : {1, 2, 7, 8, 13, 17}) {
      const std::int32_t k = oc % 2 == 0 ? 3 : 1 + 2 * (ic % 3);
      for (std::int32_t stride : {1, 2})
        check_conv(make_params({2, 7, 6, ic, oc, k, stride, k / 2 + oc % 2, 1, 1}), rng);
    }
  }
  const ConvCase cases[] = {
      // batch, in_h, in_w, in_c, out_c, kernel, stride, pad, dilation, groups
      {2, 28, 28, 1, 8, 5, 2, 1, 1, 1},  // the seed's layers
      {2, 13, 13, 8, 16, 3, 1, 2, 1, 1},
      {2, 15, 15, 16, 32, 3, 1, 2, 1, 1},
      {2, 17, 17, 32, 32, 3, 1, 2, 1, 1},
      {1, 9, 11, 5, 7, 3, 2, 1, 1, 1},    // stride 2 (the input gradient runs the reference)
      {1, 10, 9, 6, 10, 2, 3, 1, 1, 1},   // stride 3, an even kernel
      {2, 12, 12, 5, 9, 3, 1, 2, 2, 1},   // dilation
      {1, 11, 13, 4, 6, 3, 1, 5, 1, 1},   // padding past the kernel's reach
      {1, 6, 6, 12, 18, 3, 1, 1, 1, 3},   // grouped
      {2, 7, 9, 16, 40, 3, 1, 1, 1, 2},   // grouped, wide groups
      {2, 9, 9, 24, 24, 3, 1, 1, 1, 24},  // depthwise
      {1, 8, 8, 8, 16, 3, 1, 1, 1, 8},    // depthwise multiplier 2
      {1, 5, 5, 70, 20, 1, 1, 0, 1, 1},   // pointwise, a long K run
      {1, 3, 3, 2, 3, 3, 1, 0, 1, 1},     // a 1x1 output
      {1, 1, 1, 7, 5, 3, 1, 1, 1, 1},     // a 1x1 input, all but one tap padding
      {1, 4, 4, 3, 5, 3, 1, 2, 1, 1},     // pad 2 with a 3x3: output taps wholly padding
  };
  for (const ConvCase& c : cases) check_conv(make_params(c), rng);
}

TEST_CASE("linear backward matches the reference for every batch and width tail") {
  std::mt19937 rng(777);
  for (std::int32_t batch : {0, 1, 3, 7, 16, 64}) {
    for (std::int32_t in : {1, 5, 16, 32, 33}) {
      for (std::int32_t out : {1, 4, 10, 16, 17, 40}) {
        const kernels::LinearParams p = {batch, in, out};
        const std::vector<float> x = random_floats(rng, static_cast<std::size_t>(batch) * in);
        const std::vector<float> w = random_floats(rng, static_cast<std::size_t>(in) * out);
        const std::vector<float> g = random_floats(rng, static_cast<std::size_t>(batch) * out);
        const std::vector<float> ax = absolute(x), aw = absolute(w), ag = absolute(g);
        const std::string what = "linear b" + std::to_string(batch) + " " + std::to_string(in) +
                                 "->" + std::to_string(out);
        check_reduction(
            static_cast<std::size_t>(in) * out, batch, what + " weights", rng,
            [&](const kernels::F32BackwardKernels& t, float* o, GradWrite mode, void* s) {
              t.linear_weights(p, x.data(), g.data(), o, mode, s);
            },
            [&](float* o, bool abs) {
              kernels::linear_backward_weights_f32_ref(p, abs ? ax.data() : x.data(),
                                                       abs ? ag.data() : g.data(), o,
                                                       GradWrite::assign, nullptr);
            },
            [&](const kernels::F32BackwardKernels& t) { return t.linear_weights_scratch_bytes(p); },
            kernels::linear_backward_weights_scratch_bytes_any_level(p));
        if (batch == 0) continue;  // an empty input gradient has nothing to check
        const ClampGates gates(rng, static_cast<std::size_t>(batch) * in);
        for (const kernels::ClampGate* gate :
             {static_cast<const kernels::ClampGate*>(nullptr), &gates.relu, &gates.relu6}) {
          check_reduction(
              static_cast<std::size_t>(batch) * in, out, what + " input" + gates.name(gate), rng,
              [&](const kernels::F32BackwardKernels& t, float* o, GradWrite mode, void* s) {
                t.linear_input(p, g.data(), w.data(), o, mode, gate, s);
              },
              [&](float* o, bool abs) {
                kernels::linear_backward_input_f32_ref(p, abs ? ag.data() : g.data(),
                                                       abs ? aw.data() : w.data(), o,
                                                       GradWrite::assign, gate, nullptr);
              },
              [&](const kernels::F32BackwardKernels& t) { return t.linear_input_scratch_bytes(p); },
              kernels::linear_backward_input_scratch_bytes_any_level(p));
        }
      }
    }
  }
}

TEST_CASE("bias, clamp and add backward are bit-exact to the reference, NaN and tails included") {
  std::mt19937 rng(4242);
  for (std::size_t channels : {1, 3, 4, 8, 15, 16, 17, 32, 33, 47}) {
    for (std::size_t rows : {0, 1, 5, 64}) {
      const std::vector<float> g = random_floats(rng, rows * channels);
      const std::vector<float> start = random_floats(rng, channels);
      for (GradWrite mode : {GradWrite::assign, GradWrite::accumulate}) {
        std::vector<float> want = start;
        kernels::bias_backward_f32_ref(rows, channels, g.data(), want.data(), mode);
        for (CpuLevel level : simd_levels()) {
          Guarded got = mode == GradWrite::accumulate ? Guarded(start) : Guarded(channels);
          kernels::f32_backward_kernels_at(level)->bias(rows, channels, g.data(), got.data(), mode);
          std::size_t bad = 0;
          for (std::size_t c = 0; c < channels; ++c) bad += same_bits(got[c], want[c]) ? 0 : 1;
          INFO(lsuv::cpu_level_name(level), " bias rows ", rows, " channels ", channels);
          CHECK(got.intact());
          CHECK(bad == 0);
        }
      }
    }
  }
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (std::size_t n : {1, 3, 4, 8, 16, 17, 31, 100}) {
    std::vector<float> y = random_floats(rng, n);
    for (std::size_t i = 0; i < n; i += 3) y[i] = i % 2 == 0 ? nan : 0.5f;  // NaN, the bound
    const std::vector<float> g = random_floats(rng, n);
    const std::vector<float> start = random_floats(rng, n);
    for (GradWrite mode : {GradWrite::assign, GradWrite::accumulate}) {
      for (float hi : {0.5f, std::numeric_limits<float>::infinity()}) {
        std::vector<float> want = start;
        kernels::clamp_backward_f32_ref(n, y.data(), g.data(), want.data(), 0.0f, hi, mode);
        for (CpuLevel level : simd_levels()) {
          Guarded got = mode == GradWrite::accumulate ? Guarded(start) : Guarded(n);
          kernels::f32_backward_kernels_at(level)->clamp(n, y.data(), g.data(), got.data(), 0.0f,
                                                         hi, mode);
          std::size_t bad = 0;
          for (std::size_t i = 0; i < n; ++i) bad += same_bits(got[i], want[i]) ? 0 : 1;
          INFO(lsuv::cpu_level_name(level), " clamp n ", n, " hi ", hi);
          CHECK(got.intact());
          CHECK(bad == 0);
        }
      }
    }
    // In place (assign): grad_input == grad_output.
    std::vector<float> want(n);
    kernels::clamp_backward_f32_ref(n, y.data(), g.data(), want.data(), 0.0f, 0.5f,
                                    GradWrite::assign);
    for (CpuLevel level : simd_levels()) {
      std::vector<float> in_place = g;
      kernels::f32_backward_kernels_at(level)->clamp(n, y.data(), in_place.data(), in_place.data(),
                                                     0.0f, 0.5f, GradWrite::assign);
      std::size_t bad = 0;
      for (std::size_t i = 0; i < n; ++i) bad += same_bits(in_place[i], want[i]) ? 0 : 1;
      CHECK(bad == 0);
    }
  }
}

TEST_CASE("global average pool backward is bit-exact to the reference, gated or not") {
  std::mt19937 rng(515);
  for (std::int32_t batch : {1, 3}) {
    for (std::int32_t pixels : {1, 5, 361}) {
      for (std::int32_t channels : {1, 3, 8, 15, 16, 17, 32, 33}) {
        const std::size_t n = static_cast<std::size_t>(batch) * pixels * channels;
        const std::vector<float> g = random_floats(rng, static_cast<std::size_t>(batch) * channels);
        const std::vector<float> start = random_floats(rng, n);
        const ClampGates gates(rng, n);
        for (const kernels::ClampGate* gate :
             {static_cast<const kernels::ClampGate*>(nullptr), &gates.relu, &gates.relu6}) {
          for (GradWrite mode : {GradWrite::assign, GradWrite::accumulate}) {
            std::vector<float> want = start;
            kernels::global_avg_pool_backward_f32_ref(batch, pixels, channels, g.data(),
                                                      want.data(), mode, gate);
            for (CpuLevel level : simd_levels()) {
              Guarded got = mode == GradWrite::accumulate ? Guarded(start) : Guarded(n);
              kernels::f32_backward_kernels_at(level)->global_avg_pool(
                  batch, pixels, channels, g.data(), got.data(), mode, gate);
              std::size_t bad = 0;
              for (std::size_t i = 0; i < n; ++i) bad += same_bits(got[i], want[i]) ? 0 : 1;
              INFO(lsuv::cpu_level_name(level), " batch ", batch, " pixels ", pixels, " channels ",
                   channels, gates.name(gate));
              CHECK(got.intact());
              CHECK(bad == 0);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("add backward fans the gradient out, skipping null inputs and one equal to it") {
  std::mt19937 rng(31);
  for (std::size_t n : {1, 3, 4, 8, 16, 17, 33, 100}) {
    std::vector<float> g = random_floats(rng, n);
    g[0] = std::numeric_limits<float>::quiet_NaN();
    for (std::int32_t count : {2, 3, 4}) {
      for (GradWrite mode : {GradWrite::assign, GradWrite::accumulate}) {
        std::vector<std::vector<float>> starts;
        for (std::int32_t k = 0; k < count; ++k) starts.push_back(random_floats(rng, n));
        for (CpuLevel level : simd_levels()) {
          std::vector<Guarded> got, want;
          for (std::int32_t k = 0; k < count; ++k) {
            got.emplace_back(starts[static_cast<std::size_t>(k)]);
            want.emplace_back(starts[static_cast<std::size_t>(k)]);
          }
          // Input 1 needs no gradient; in assign mode input 2 is the gradient itself.
          std::vector<float> g_got = g, g_want = g;
          std::vector<float*> got_ptrs, want_ptrs;
          for (std::int32_t k = 0; k < count; ++k) {
            const bool skip = k == 1;
            const bool itself = k == 2 && mode == GradWrite::assign;
            got_ptrs.push_back(skip ? nullptr : itself ? g_got.data() : got[k].data());
            want_ptrs.push_back(skip ? nullptr : itself ? g_want.data() : want[k].data());
          }
          kernels::add_backward_f32_ref(n, g_want.data(), want_ptrs.data(), count, mode);
          kernels::f32_backward_kernels_at(level)->add(n, g_got.data(), got_ptrs.data(), count,
                                                       mode);
          std::size_t bad = 0;
          for (std::int32_t k = 0; k < count; ++k) {
            CHECK(got[k].intact());
            for (std::size_t i = 0; i < n; ++i) bad += same_bits(got[k][i], want[k][i]) ? 0 : 1;
          }
          for (std::size_t i = 0; i < n; ++i) bad += same_bits(g_got[i], g_want[i]) ? 0 : 1;
          INFO(lsuv::cpu_level_name(level), " add n ", n, " count ", count);
          CHECK(bad == 0);
        }
      }
    }
  }
}

}  // namespace
