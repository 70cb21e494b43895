// The scalar reference kernels: the specification every SIMD kernel is checked against.
// Always compiled, on every target. Contracts are asserts at the top of each function.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/params.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv::kernels {

// bias may be null (no bias). `stage` is applied to the output as it is stored (see
// OutputStage).
void conv2d_f32_ref(const Conv2dParams& p, const float* input, const float* weights,
                    const float* bias, float* output, const OutputStage& stage);
void linear_f32_ref(const LinearParams& p, const float* input, const float* weights,
                    const float* bias, float* output, const OutputStage& stage);
// Applies `stage` to `rows` x `channels` NHWC data in place: the block moments of
// OutputStage with blocks of exactly kMomentBlockRows rows, summed in row order, then ReLU.
void output_stage_f32_ref(float* data, std::size_t rows, std::size_t channels,
                          const OutputStage& stage);
// output may equal input (in place).
void relu_f32_ref(std::size_t n, const float* input, float* output);
void max_pool2d_f32_ref(const Pool2dParams& p, const float* input, float* output);
void avg_pool2d_f32_ref(const Pool2dParams& p, const float* input, float* output);
// Mean over H and W of each (image, channel): output is batch x channels.
void global_avg_pool_f32_ref(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                             const float* input, float* output);
// Merges the moments of each channel of `rows` x `channels` NHWC data into stats[channel]
// (count, mean, M2; see lsuv/running_stats.hpp).
void add_channel_moments_f32_ref(const float* data, std::size_t rows, std::size_t channels,
                                 RunningStats* stats);
// One block of OutputStage's moments: `count` values whose differences from `shift` sum to
// `sum` and their squares to `sum_squares`. Defined in a baseline TU and shared by every level.
RunningStats block_moments(std::uint64_t count, float shift, float sum, float sum_squares);

}  // namespace lsuv::kernels
