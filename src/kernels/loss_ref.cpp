#include "kernels/loss_ref.hpp"

#include <cassert>
#include <cmath>

namespace lsuv::kernels {

float softmax_cross_entropy_f32_ref(std::int32_t batch, std::int32_t classes, const float* logits,
                                    const std::int32_t* labels, float* grad_logits) {
  assert(batch > 0 && classes > 0);
  const float inverse_batch = 1.0f / static_cast<float>(batch);
  double total = 0.0;
  for (std::int32_t b = 0; b < batch; ++b) {
    const float* z = logits + static_cast<std::size_t>(b) * classes;
    const std::int32_t label = labels[b];
    assert(label >= 0 && label < classes);
    float top = z[0];
    for (std::int32_t j = 1; j < classes; ++j)
      if (z[j] > top || z[j] != z[j]) top = z[j];
    // Every term is at most 1 and the maximum's is 1, so the sum lies in [1, classes].
    float sum = 0.0f;
    for (std::int32_t j = 0; j < classes; ++j) sum += std::exp(z[j] - top);
    const float log_sum = std::log(sum);
    total += static_cast<double>(log_sum - (z[label] - top));
    if (grad_logits != nullptr) {
      float* g = grad_logits + static_cast<std::size_t>(b) * classes;
      const float inverse_sum = 1.0f / sum;
      for (std::int32_t j = 0; j < classes; ++j) {
        const float p = std::exp(z[j] - top) * inverse_sum;
        g[j] = (j == label ? p - 1.0f : p) * inverse_batch;
      }
    }
  }
  return static_cast<float>(total / batch);
}

float mse_loss_f32_ref(std::size_t n, const float* prediction, const float* target,
                       float* grad_prediction) {
  assert(n > 0);
  const float scale = 2.0f / static_cast<float>(n);
  double total = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const float d = prediction[i] - target[i];
    total += static_cast<double>(d) * d;
    if (grad_prediction != nullptr) grad_prediction[i] = d * scale;
  }
  return static_cast<float>(total / static_cast<double>(n));
}

}  // namespace lsuv::kernels
