#include "kernels/sgd_ref.hpp"

#include <cassert>

namespace lsuv::kernels {

void sgd_update_f32_ref(std::size_t n, float* values, const float* gradient, float* velocity,
                        const SgdParams& p) {
  assert(p.momentum == 0.0f || velocity != nullptr);
  for (std::size_t i = 0; i < n; ++i) {
    float d = p.gradient_scale * gradient[i] + p.weight_decay * values[i];
    if (p.momentum != 0.0f) {
      velocity[i] = p.momentum * velocity[i] + d;
      d = p.nesterov ? d + p.momentum * velocity[i] : velocity[i];
    }
    values[i] = values[i] - p.learning_rate * d;
  }
}

double sum_squares_f32_ref(std::size_t n, const float* values) {
  double sum = 0.0;
  for (std::size_t i = 0; i < n; ++i) sum += static_cast<double>(values[i]) * values[i];
  return sum;
}

}  // namespace lsuv::kernels
