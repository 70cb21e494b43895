// What the backward kernels share: how a kernel stores a gradient it computes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lsuv::kernels {

// assign: the gradient buffer's old contents do not matter (NaN included) and are replaced.
// accumulate: the computed gradient is added to what the buffer holds. A tensor read by several
// ops (a residual fan-out) sums the gradients of all its readers, and a parameter gradient may
// sum several micro-batches: both without a second buffer.
enum class GradWrite : std::uint8_t { assign, accumulate };

// Stores one computed gradient value by `mode`.
inline void store_gradient(float& into, float gradient, GradWrite mode) {
  into = mode == GradWrite::assign ? gradient : into + gradient;
}

// A clamp's backward (clamp_backward_f32_ref) folded into the kernel that computes the gradient
// of the clamp's output, which then writes the gradient of the clamp's input instead: where the
// clamp's forward output lies at or beyond a bound (output <= lo or output >= hi) the value
// stored (by the mode) is 0, elsewhere the kernel's own. `output` has the layout of the gradient
// the kernel writes. A training step saves the clamp's pass over its gradient and that
// gradient's buffer. Kernels take it as a pointer; null: no clamp.
struct ClampGate {
  const float* output;
  float lo, hi;
};

// The gradient element i passes through the gate (a NaN output passes it, as in the clamp).
inline float gated(float gradient, const ClampGate* gate, std::size_t i) {
  if (gate == nullptr) return gradient;
  const float y = gate->output[i];
  return (y <= gate->lo || y >= gate->hi) ? 0.0f : gradient;
}

}  // namespace lsuv::kernels
