// The scalar reference of the optimiser's inner loop: one SGD step over a run of parameters,
// and the sum of squares that global-norm clipping needs. The core's sgd_step (lsuv/sgd.hpp)
// validates, clips and calls these per parameter tensor.
#pragma once

#include <cstddef>

namespace lsuv::kernels {

struct SgdParams {
  float learning_rate;
  float momentum;        // 0: no velocity
  float weight_decay;    // L2, added to the gradient (PyTorch's weight_decay)
  float gradient_scale;  // multiplies the gradient first: global-norm clipping, or 1
  bool nesterov;
};

// torch.optim.SGD with dampening 0, on the gradient times gradient_scale, in this float order:
//   d = gradient_scale * gradient + weight_decay * value
//   momentum > 0:  velocity = momentum * velocity + d
//                  d = nesterov ? d + momentum * velocity : velocity
//   value = value - learning_rate * d
// velocity (n floats; may be null when momentum is 0) holds zeros before the first step, which
// makes that step's velocity d, as PyTorch's first step sets it.
void sgd_update_f32_ref(std::size_t n, float* values, const float* gradient, float* velocity,
                        const SgdParams& p);

// The sum of the squares of n floats, each square and the sum in double (no overflow, and a NaN
// or Inf anywhere makes it non-finite).
double sum_squares_f32_ref(std::size_t n, const float* values);

}  // namespace lsuv::kernels
