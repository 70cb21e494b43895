// What the backward kernels share: how a kernel stores a gradient it computes.
#pragma once

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

}  // namespace lsuv::kernels
