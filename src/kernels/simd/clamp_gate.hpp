// ClampGate (backward_params.hpp) on vectors, bit-exact to gated(): the clamp's backward as the
// backward kernels apply it to what they store.
//
// Included only by backward_impl.hpp and backward_input.hpp (per-ISA TUs); internal linkage.
#pragma once

#include <cstddef>

#include "kernels/backward_params.hpp"
#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {
namespace {

// gated() of one element. Not gated() itself: an inline function of a shared header compiled
// with this TU's flags could be the copy the linker keeps for every TU (the reference's too).
inline float gated_scalar(float gradient, float y, float lo, float hi) {
  return (y <= lo || y >= hi) ? 0.0f : gradient;
}

// gradient where the clamp's output y is strictly inside (lo, hi) or NaN, else 0.
template <class Arch>
xsimd::batch<float, Arch> gated_batch(const xsimd::batch<float, Arch>& gradient,
                                      const xsimd::batch<float, Arch>& y,
                                      const xsimd::batch<float, Arch>& lo,
                                      const xsimd::batch<float, Arch>& hi) {
  return xsimd::select((y <= lo) || (y >= hi), xsimd::batch<float, Arch>(0.0f), gradient);
}

// values[i] = gated(values[i], &gate, i) for i < n.
template <class Arch>
void gate_in_place(std::size_t n, float* values, const ClampGate& gate) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t W = B::size;
  const B lo(gate.lo), hi(gate.hi);
  std::size_t i = 0;
  for (; i + W <= n; i += W)
    gated_batch<Arch>(B::load_unaligned(values + i), B::load_unaligned(gate.output + i), lo, hi)
        .store_unaligned(values + i);
  for (; i < n; ++i) values[i] = gated_scalar(values[i], gate.output[i], gate.lo, gate.hi);
}

}  // namespace
}  // namespace lsuv::kernels::simd
