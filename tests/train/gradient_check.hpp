// Gradient checks: a backward kernel's float gradient against central finite differences of a
// double-precision forward, and the GradWrite contract (assign overwrites whatever the buffer
// held, NaN included; accumulate adds; nothing written past the gradient).
//
// Each check differentiates L = sum_j r[j] * y[j] for random float r, so dL/dy = r is the
// gradient the kernel starts from. The double forwards in the tests are checked against the
// library's float forward kernels, so the gradients are those of the forward the library runs.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <vector>

#include "kernels/backward_params.hpp"

namespace lsuv_test {

inline std::vector<float> normal_floats(std::size_t n, std::mt19937& gen, float mean = 0.0f,
                                        float std = 1.0f) {
  std::normal_distribution<float> dist(mean, std);
  std::vector<float> v(n);
  for (float& x : v) x = dist(gen);
  return v;
}

// Distinct values with gaps of 0.1 in random order: no two within a finite-difference step of
// each other, so a max never changes place while one of them moves.
inline std::vector<float> distinct_floats(std::size_t n, std::mt19937& gen) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = 0.1f * static_cast<float>(i) - 0.05f * static_cast<float>(n);
  std::shuffle(v.begin(), v.end(), gen);
  return v;
}

inline std::vector<double> to_double(const std::vector<float>& v) {
  return std::vector<double>(v.begin(), v.end());
}

inline double dot(const std::vector<double>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double sum = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// dL/dt[k] for L(t) = dot(forward(t), r), by central differences with step h. `forward` maps
// the tensor (in double) to the op's output (in double); everything else it needs it captures.
template <class Forward>
std::vector<double> numeric_gradient(const std::vector<float>& at, const std::vector<float>& r,
                                     Forward forward, double h = 1e-3) {
  std::vector<double> t = to_double(at);
  std::vector<double> g(t.size());
  for (std::size_t k = 0; k < t.size(); ++k) {
    const double saved = t[k];
    t[k] = saved + h;
    const double plus = dot(forward(t), r);
    t[k] = saved - h;
    const double minus = dot(forward(t), r);
    t[k] = saved;
    g[k] = (plus - minus) / (2.0 * h);
  }
  return g;
}

// Every element within `relative` of the largest numeric gradient (and of 1): float rounding of
// a short reduction is ~1e-6 of it, a misplaced or missing term of O(1).
inline void check_gradient(const std::vector<float>& analytic, const std::vector<double>& numeric,
                           double relative = 1e-4) {
  REQUIRE(analytic.size() == numeric.size());
  double scale = 1.0;
  for (double g : numeric) scale = std::max(scale, std::fabs(g));
  std::size_t bad = 0;
  for (std::size_t k = 0; k < numeric.size(); ++k) {
    const bool ok = std::fabs(analytic[k] - numeric[k]) <= relative * scale;
    if (!ok && bad++ < 4)
      CHECK_MESSAGE(ok, "element " << k << ": " << analytic[k] << " vs " << numeric[k]);
  }
  CHECK(bad == 0);
}

// A float forward kernel's output against the test's double forward.
inline void check_forward(const std::vector<float>& library, const std::vector<double>& exact) {
  REQUIRE(library.size() == exact.size());
  std::size_t bad = 0;
  for (std::size_t k = 0; k < exact.size(); ++k)
    if (!(std::fabs(library[k] - exact[k]) <= 1e-5 * (1.0 + std::fabs(exact[k])))) ++bad;
  CHECK(bad == 0);
}

// Runs `kernel(buffer, mode)` for a gradient of n floats twice: assign into a buffer of NaN,
// then accumulate onto random values, which must come out as those values plus the assigned
// gradient. Guard values after the gradient must survive both. Returns the assigned gradient.
template <class Kernel>
std::vector<float> run_both_modes(std::size_t n, Kernel kernel, std::mt19937& gen) {
  using lsuv::kernels::GradWrite;
  constexpr std::size_t kGuard = 8;
  constexpr float kGuardValue = -4321.0f;
  std::vector<float> assigned(n + kGuard, std::numeric_limits<float>::quiet_NaN());
  std::fill(assigned.begin() + static_cast<std::ptrdiff_t>(n), assigned.end(), kGuardValue);
  kernel(assigned.data(), GradWrite::assign);
  const std::vector<float> base = normal_floats(n, gen);
  std::vector<float> accumulated = base;
  accumulated.resize(n + kGuard, kGuardValue);
  kernel(accumulated.data(), GradWrite::accumulate);
  std::size_t bad = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double expected = static_cast<double>(base[i]) + assigned[i];
    // Exact for the gathering kernels; a scatter adds its terms to the base one at a time.
    const double tolerance = 1e-5 * (1.0 + std::fabs(base[i]) + std::fabs(assigned[i]));
    if (!(std::fabs(accumulated[i] - expected) <= tolerance)) ++bad;
  }
  CHECK(bad == 0);
  for (std::size_t i = n; i < n + kGuard; ++i) {
    CHECK(assigned[i] == kGuardValue);
    CHECK(accumulated[i] == kGuardValue);
  }
  assigned.resize(n);
  return assigned;
}

}  // namespace lsuv_test
