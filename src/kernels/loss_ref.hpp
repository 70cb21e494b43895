// The scalar reference losses: each returns the loss and, when asked, its gradient with respect
// to the network's output, which is where the backward pass starts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace lsuv::kernels {

// torch.nn.CrossEntropyLoss (reduction 'mean'): the mean over `batch` rows of
// log(sum_j exp(logits[j])) - logits[label], evaluated as log-sum-exp about each row's maximum
// (no exponential overflows, however large the logits). labels[b] is in [0, classes): the caller
// checks data it did not produce. grad_logits (may be null) gets
// (softmax(logits) - one_hot(label)) / batch, assigned. The per-row losses are summed in double.
// A NaN logit makes its row's loss and gradient NaN.
float softmax_cross_entropy_f32_ref(std::int32_t batch, std::int32_t classes, const float* logits,
                                    const std::int32_t* labels, float* grad_logits);

// torch.nn.MSELoss (reduction 'mean'): the mean over all n values of (prediction - target)^2,
// summed in double; grad_prediction (may be null) gets 2 (prediction - target) / n, assigned.
float mse_loss_f32_ref(std::size_t n, const float* prediction, const float* target,
                       float* grad_prediction);

}  // namespace lsuv::kernels
