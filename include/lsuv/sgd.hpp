// Stochastic gradient descent, as torch.optim.SGD (dampening 0) after
// torch.nn.utils.clip_grad_norm_: momentum, Nesterov momentum, L2 weight decay and clipping of
// the global gradient norm, over parameter tensors the caller owns (a model's weights and
// biases, their gradients and velocities, wherever the plan put them). A step allocates nothing.
//
//   lsuv::SgdOptions options;
//   options.momentum = 0.9f;
//   options.max_gradient_norm = 5.0f;
//   lsuv::SgdTensor tensors[] = {{weights, weight_grad, weight_velocity, weight_count},
//                                {bias, bias_grad, bias_velocity, bias_count}};
//   LSUV_TRY(lsuv::sgd_step(options, learning_rate_at(schedule, step), tensors, 2, nullptr));
#pragma once

#include <cstddef>

#include "lsuv/status.hpp"

namespace lsuv {

struct SgdOptions {
  float momentum = 0.0f;      // in [0, 1); 0: plain SGD and no velocity needed
  bool nesterov = false;      // needs momentum > 0
  float weight_decay = 0.0f;  // >= 0, finite: weight_decay * value is added to each gradient
  // > 0: when the L2 norm of all gradients together exceeds it, every gradient is scaled by
  // max_gradient_norm / (norm + 1e-6) (PyTorch's clip_grad_norm_). 0: no clipping. Finite.
  float max_gradient_norm = 0.0f;
};

// One parameter tensor: `count` values, their gradient and their velocity (count floats, zero
// before the first step; may be null when momentum is 0). The velocity is the optimiser's
// state: keep it between steps (and in a checkpoint).
struct SgdTensor {
  float* values;
  const float* gradient;
  float* velocity;
  std::size_t count;
};

// What a step saw: the global gradient norm before clipping and the factor it applied (1 when
// it did not clip).
struct SgdStepReport {
  double gradient_norm = 0.0;
  float gradient_scale = 1.0f;
};

// invalid_argument when an option is outside its range (see SgdOptions).
Status sgd_check(const SgdOptions& options);

// One step over `count` tensors with this learning rate (>= 0, finite; a schedule's value).
// Errors: invalid_argument (sgd_check, the learning rate, a null pointer where values are
// needed); non_finite when any gradient holds NaN or Inf. On failure no value or velocity
// changes (so no NaN reaches a weight). `report` may be null; it is written on success.
Status sgd_step(const SgdOptions& options, float learning_rate, const SgdTensor* tensors,
                std::size_t count, SgdStepReport* report);

}  // namespace lsuv
