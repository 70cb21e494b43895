// Backward of the element-wise layers: clamps, residual sums and frozen batch norm.
#include <cassert>
#include <cmath>
#include <cstdint>

#include "kernels/backward_ref.hpp"

namespace lsuv::kernels {

void clamp_backward_f32_ref(std::size_t n, const float* output, const float* grad_output,
                            float* grad_input, float lo, float hi, GradWrite mode) {
  assert(!(lo > hi));
  assert(mode == GradWrite::assign || grad_input != grad_output);
  const ClampGate gate = {output, lo, hi};
  for (std::size_t i = 0; i < n; ++i)
    store_gradient(grad_input[i], gated(grad_output[i], &gate, i), mode);
}

void add_backward_f32_ref(std::size_t n, const float* grad_output, float* const* grad_inputs,
                          std::int32_t count, GradWrite mode) {
  assert(count >= 2 && count <= 4 && grad_inputs != nullptr);
  for (std::int32_t k = 0; k < count; ++k) {
    float* dx = grad_inputs[k];
    if (dx == nullptr) continue;
    assert(mode == GradWrite::assign || dx != grad_output);
    if (dx == grad_output) continue;
    for (std::size_t i = 0; i < n; ++i) store_gradient(dx[i], grad_output[i], mode);
  }
}

void batch_norm2d_backward_input_f32_ref(std::size_t rows, std::size_t channels,
                                         const float* grad_output, const float* gamma,
                                         const float* running_var, float eps, float* grad_input,
                                         GradWrite mode) {
  assert(channels > 0 && eps > 0.0f);
  assert(mode == GradWrite::assign || grad_input != grad_output);
  for (std::size_t c = 0; c < channels; ++c) {
    const float scale = gamma[c] / std::sqrt(running_var[c] + eps);
    for (std::size_t r = 0; r < rows; ++r)
      store_gradient(grad_input[r * channels + c], grad_output[r * channels + c] * scale, mode);
  }
}

void batch_norm2d_backward_gamma_f32_ref(std::size_t rows, std::size_t channels, const float* input,
                                         const float* grad_output, const float* running_mean,
                                         const float* running_var, float eps, float* grad_gamma,
                                         GradWrite mode) {
  assert(channels > 0 && eps > 0.0f);
  for (std::size_t c = 0; c < channels; ++c) {
    const float inverse_std = 1.0f / std::sqrt(running_var[c] + eps);
    float sum = 0.0f;
    for (std::size_t r = 0; r < rows; ++r)
      sum += grad_output[r * channels + c] *
             ((input[r * channels + c] - running_mean[c]) * inverse_std);
    store_gradient(grad_gamma[c], sum, mode);
  }
}

}  // namespace lsuv::kernels
