// The SIMD backward kernels of one instruction set and their table. Include only from a per-ISA
// TU compiled with that ISA's flags, then instantiate with LSUV_INSTANTIATE_F32_BACKWARD and
// define the level's table with f32_backward_table<Arch>() (backward_tables.hpp).
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>

#include "kernels/backward_dispatch.hpp"
#include "kernels/backward_ref.hpp"
#include "kernels/simd/backward_input.hpp"
#include "kernels/simd/backward_weights.hpp"
#include "kernels/simd/clamp_gate.hpp"
#include "kernels/simd/elementwise.hpp"
#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {

// Each entry has the contract of its _ref twin (backward_ref.hpp); shapes the SIMD path does not
// cover run that reference, whose scratch query then answers (0), as does an input gradient
// through a ClampGate that accumulates (the planner never asks for one: the gate takes the place
// of a clamp that would be its input gradient's only writer).
template <class Arch>
struct BackwardF32 {
  static void conv2d_input(const Conv2dParams& p, const float* grad_output, const float* weights,
                           float* grad_input, GradWrite mode, const ClampGate* gate, void* scratch);
  static std::size_t conv2d_input_scratch_bytes(const Conv2dParams& p);
  static void conv2d_weights(const Conv2dParams& p, const float* input, const float* grad_output,
                             float* grad_weights, GradWrite mode, void* scratch);
  static std::size_t conv2d_weights_scratch_bytes(const Conv2dParams& p);
  static void linear_input(const LinearParams& p, const float* grad_output, const float* weights,
                           float* grad_input, GradWrite mode, const ClampGate* gate, void* scratch);
  static std::size_t linear_input_scratch_bytes(const LinearParams& p);
  static void linear_weights(const LinearParams& p, const float* input, const float* grad_output,
                             float* grad_weights, GradWrite mode, void* scratch);
  static std::size_t linear_weights_scratch_bytes(const LinearParams& p);
  static void bias(std::size_t rows, std::size_t channels, const float* grad_output,
                   float* grad_bias, GradWrite mode);
  static void clamp(std::size_t n, const float* output, const float* grad_output, float* grad_input,
                    float lo, float hi, GradWrite mode);
  static void global_avg_pool(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                              const float* grad_output, float* grad_input, GradWrite mode,
                              const ClampGate* gate);
  static void add(std::size_t n, const float* grad_output, float* const* grad_inputs,
                  std::int32_t count, GradWrite mode);
};

template <class Arch>
void BackwardF32<Arch>::conv2d_input(const Conv2dParams& p, const float* grad_output,
                                     const float* weights, float* grad_input, GradWrite mode,
                                     const ClampGate* gate, void* scratch) {
  if (p.batch <= 0) return;
  const bool gate_fits = gate == nullptr || mode == GradWrite::assign;
  if (gate_fits && input_grad_applies(p))
    return conv2d_input_grad<Arch>(p, grad_output, weights, grad_input, mode, gate, scratch);
  if (gate_fits && input_scatter_applies(p))
    return conv2d_input_scatter<Arch>(p, grad_output, weights, grad_input, mode, gate, scratch);
  conv2d_backward_input_f32_ref(p, grad_output, weights, grad_input, mode, gate, scratch);
}

template <class Arch>
std::size_t BackwardF32<Arch>::conv2d_input_scratch_bytes(const Conv2dParams& p) {
  return input_grad_applies(p)      ? conv2d_input_grad_scratch_bytes<Arch>(p)
         : input_scatter_applies(p) ? conv2d_input_scatter_scratch_bytes<Arch>(p)
                                    : 0;
}

template <class Arch>
void BackwardF32<Arch>::conv2d_weights(const Conv2dParams& p, const float* input,
                                       const float* grad_output, float* grad_weights,
                                       GradWrite mode, void* scratch) {
  if (!weight_grad_applies(p))
    return conv2d_backward_weights_f32_ref(p, input, grad_output, grad_weights, mode, scratch);
  conv2d_weight_grad<Arch>(p, input, grad_output, grad_weights, mode, scratch);
}

template <class Arch>
std::size_t BackwardF32<Arch>::conv2d_weights_scratch_bytes(const Conv2dParams& p) {
  return weight_grad_applies(p) ? weight_grad_layout<Arch>(p).bytes : 0;
}

template <class Arch>
void BackwardF32<Arch>::linear_input(const LinearParams& p, const float* grad_output,
                                     const float* weights, float* grad_input, GradWrite mode,
                                     const ClampGate* gate, void* scratch) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  if (p.batch <= 0) return;
  if (gate != nullptr && mode == GradWrite::accumulate)
    return linear_backward_input_f32_ref(p, grad_output, weights, grad_input, mode, gate, scratch);
  linear_input_grad<Arch>(p, grad_output, weights, grad_input, mode, gate, scratch);
}

template <class Arch>
std::size_t BackwardF32<Arch>::linear_input_scratch_bytes(const LinearParams& p) {
  return linear_input_grad_scratch_bytes<Arch>(p);
}

template <class Arch>
void BackwardF32<Arch>::linear_weights(const LinearParams& p, const float* input,
                                       const float* grad_output, float* grad_weights,
                                       GradWrite mode, void* scratch) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  conv2d_weight_grad<Arch>(linear_as_image(p), input, grad_output, grad_weights, mode, scratch);
}

template <class Arch>
std::size_t BackwardF32<Arch>::linear_weights_scratch_bytes(const LinearParams& p) {
  return weight_grad_layout<Arch>(linear_as_image(p)).bytes;
}

// Column sums, vectorised over the channels: each lane adds the rows in order, as the reference
// does, so the result is bit-exact to it.
template <class Arch>
void BackwardF32<Arch>::bias(std::size_t rows, std::size_t channels, const float* grad_output,
                             float* grad_bias, GradWrite mode) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t W = B::size;
  assert(channels > 0);
  std::size_t c = 0;
  for (; c + 2 * W <= channels; c += 2 * W) {
    B s0(0.0f), s1(0.0f);
    for (std::size_t r = 0; r < rows; ++r) {
      s0 += B::load_unaligned(grad_output + r * channels + c);
      s1 += B::load_unaligned(grad_output + r * channels + c + W);
    }
    if (mode == GradWrite::accumulate) {
      s0 = B::load_unaligned(grad_bias + c) + s0;
      s1 = B::load_unaligned(grad_bias + c + W) + s1;
    }
    s0.store_unaligned(grad_bias + c);
    s1.store_unaligned(grad_bias + c + W);
  }
  for (; c + W <= channels; c += W) {
    B s(0.0f);
    for (std::size_t r = 0; r < rows; ++r) s += B::load_unaligned(grad_output + r * channels + c);
    if (mode == GradWrite::accumulate) s = B::load_unaligned(grad_bias + c) + s;
    s.store_unaligned(grad_bias + c);
  }
  for (; c < channels; ++c) {
    float s = 0.0f;
    for (std::size_t r = 0; r < rows; ++r) s += grad_output[r * channels + c];
    // Not store_gradient: an inline function of a shared header compiled with this TU's flags
    // could be the copy the linker keeps for every TU.
    grad_bias[c] = mode == GradWrite::accumulate ? grad_bias[c] + s : s;
  }
}

// Selects, bit-exact to the reference (a NaN output passes its gradient: both comparisons fail).
template <class Arch>
void BackwardF32<Arch>::clamp(std::size_t n, const float* output, const float* grad_output,
                              float* grad_input, float lo, float hi, GradWrite mode) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t W = B::size;
  assert(!(lo > hi));
  assert(mode == GradWrite::assign || grad_input != grad_output);
  const B vlo(lo), vhi(hi);
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    B g = gated_batch<Arch>(B::load_unaligned(grad_output + i), B::load_unaligned(output + i), vlo,
                            vhi);
    if (mode == GradWrite::accumulate) g = B::load_unaligned(grad_input + i) + g;
    g.store_unaligned(grad_input + i);
  }
  if (i < n)
    clamp_backward_f32_ref(n - i, output + i, grad_output + i, grad_input + i, lo, hi, mode);
}

// Each image's channel gradients times 1 / pixels (that float product, as the reference), written
// to every pixel through the gate, bit-exact to the reference.
template <class Arch>
void BackwardF32<Arch>::global_avg_pool(std::int32_t batch, std::int32_t pixels,
                                        std::int32_t channels, const float* grad_output,
                                        float* grad_input, GradWrite mode, const ClampGate* gate) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  assert(pixels > 0 && channels > 0);
  const float inverse = 1.0f / static_cast<float>(pixels);
  const B vinverse(inverse);
  const B lo(gate != nullptr ? gate->lo : 0.0f), hi(gate != nullptr ? gate->hi : 0.0f);
  const bool add = mode == GradWrite::accumulate;
  for (std::int32_t n = 0; n < batch; ++n) {
    const float* dy = grad_output + static_cast<std::size_t>(n) * channels;
    const std::size_t image = static_cast<std::size_t>(n) * pixels * channels;
    std::int32_t c = 0;
    for (; c + W <= channels; c += W) {
      const B d = B::load_unaligned(dy + c) * vinverse;
      for (std::int32_t i = 0; i < pixels; ++i) {
        const std::size_t at = image + static_cast<std::size_t>(i) * channels + c;
        B g = gate != nullptr ? gated_batch<Arch>(d, B::load_unaligned(gate->output + at), lo, hi)
                              : d;
        if (add) g = B::load_unaligned(grad_input + at) + g;
        g.store_unaligned(grad_input + at);
      }
    }
    for (; c < channels; ++c) {
      const float d = dy[c] * inverse;
      for (std::int32_t i = 0; i < pixels; ++i) {
        const std::size_t at = image + static_cast<std::size_t>(i) * channels + c;
        const float g = gate != nullptr ? gated_scalar(d, gate->output[at], gate->lo, gate->hi) : d;
        grad_input[at] = add ? grad_input[at] + g : g;
      }
    }
  }
}

// The fan-out: a copy or a vector add per input, bit-exact to the reference.
template <class Arch>
void BackwardF32<Arch>::add(std::size_t n, const float* grad_output, float* const* grad_inputs,
                            std::int32_t count, GradWrite mode) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t W = B::size;
  assert(count >= 2 && count <= 4 && grad_inputs != nullptr);
  for (std::int32_t k = 0; k < count; ++k) {
    float* dx = grad_inputs[k];
    if (dx == nullptr) continue;
    assert(mode == GradWrite::assign || dx != grad_output);
    if (dx == grad_output) continue;
    std::size_t i = 0;
    if (mode == GradWrite::assign) {
      for (; i + W <= n; i += W) B::load_unaligned(grad_output + i).store_unaligned(dx + i);
      for (; i < n; ++i) dx[i] = grad_output[i];
    } else {
      for (; i + W <= n; i += W)
        (B::load_unaligned(dx + i) + B::load_unaligned(grad_output + i)).store_unaligned(dx + i);
      for (; i < n; ++i) dx[i] += grad_output[i];
    }
  }
}

template <class Arch>
constexpr F32BackwardKernels f32_backward_table() {
  F32BackwardKernels k{};
  k.conv2d_input = &BackwardF32<Arch>::conv2d_input;
  k.conv2d_input_scratch_bytes = &BackwardF32<Arch>::conv2d_input_scratch_bytes;
  k.conv2d_weights = &BackwardF32<Arch>::conv2d_weights;
  k.conv2d_weights_scratch_bytes = &BackwardF32<Arch>::conv2d_weights_scratch_bytes;
  k.linear_input = &BackwardF32<Arch>::linear_input;
  k.linear_input_scratch_bytes = &BackwardF32<Arch>::linear_input_scratch_bytes;
  k.linear_weights = &BackwardF32<Arch>::linear_weights;
  k.linear_weights_scratch_bytes = &BackwardF32<Arch>::linear_weights_scratch_bytes;
  k.bias = &BackwardF32<Arch>::bias;
  k.clamp = &BackwardF32<Arch>::clamp;
  k.global_avg_pool = &BackwardF32<Arch>::global_avg_pool;
  k.add = &BackwardF32<Arch>::add;
  return k;
}

}  // namespace lsuv::kernels::simd

#define LSUV_INSTANTIATE_F32_BACKWARD(ARCH) template struct lsuv::kernels::simd::BackwardF32<ARCH>
