#include "lsuv/sgd.hpp"

#include <cmath>

#include "kernels/sgd_ref.hpp"

namespace lsuv {

namespace {
bool finite_at_least(float x, float lo) {
  return std::isfinite(x) && x >= lo;
}
}  // namespace

Status sgd_check(const SgdOptions& options) {
  if (!finite_at_least(options.momentum, 0.0f) || !(options.momentum < 1.0f))
    return Status::invalid_argument;
  if (options.nesterov && options.momentum == 0.0f) return Status::invalid_argument;
  if (!finite_at_least(options.weight_decay, 0.0f)) return Status::invalid_argument;
  if (!finite_at_least(options.max_gradient_norm, 0.0f)) return Status::invalid_argument;
  return Status::ok;
}

Status sgd_step(const SgdOptions& options, float learning_rate, const SgdTensor* tensors,
                std::size_t count, SgdStepReport* report) {
  LSUV_TRY(sgd_check(options));
  if (!finite_at_least(learning_rate, 0.0f)) return Status::invalid_argument;
  if (count > 0 && tensors == nullptr) return Status::invalid_argument;
  // Every argument and every gradient is checked before the first value changes.
  double sum_squares = 0.0;
  for (std::size_t t = 0; t < count; ++t) {
    const SgdTensor& tensor = tensors[t];
    if (tensor.count == 0) continue;
    if (tensor.values == nullptr || tensor.gradient == nullptr ||
        (options.momentum != 0.0f && tensor.velocity == nullptr))
      return Status::invalid_argument;
    sum_squares += kernels::sum_squares_f32_ref(tensor.count, tensor.gradient);
  }
  if (!std::isfinite(sum_squares)) return Status::non_finite;
  const double norm = std::sqrt(sum_squares);
  float scale = 1.0f;
  if (options.max_gradient_norm > 0.0f) {
    const double coefficient = options.max_gradient_norm / (norm + 1e-6);
    if (coefficient < 1.0) scale = static_cast<float>(coefficient);
  }
  const kernels::SgdParams params = {learning_rate, options.momentum, options.weight_decay, scale,
                                     options.nesterov};
  for (std::size_t t = 0; t < count; ++t)
    if (tensors[t].count > 0)
      kernels::sgd_update_f32_ref(tensors[t].count, tensors[t].values, tensors[t].gradient,
                                  tensors[t].velocity, params);
  if (report != nullptr) *report = {norm, scale};
  return Status::ok;
}

}  // namespace lsuv
