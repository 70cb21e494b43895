// The scalar reference kernels: the specification every SIMD kernel is checked against.
// Always compiled, on every target. Contracts are asserts at the top of each function.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/params.hpp"

namespace lsuv::kernels {

// bias may be null (no bias). `epilogue` is applied to the output as it is stored (see
// F32Epilogue). The reference needs no scratch (its queries return 0; scratch may be null).
void conv2d_f32_ref(const Conv2dParams& p, const float* input, const float* weights,
                    const float* bias, float* output, const F32Epilogue& epilogue, void* scratch);
std::size_t conv2d_scratch_bytes_f32_ref(const Conv2dParams& p);
void linear_f32_ref(const LinearParams& p, const float* input, const float* weights,
                    const float* bias, float* output, const F32Epilogue& epilogue, void* scratch);
std::size_t linear_scratch_bytes_f32_ref(const LinearParams& p);
// Applies `epilogue` to `rows` x `channels` NHWC data in place: the block moments of
// F32Epilogue with blocks of exactly kMomentBlockRows rows, summed in row order, then the clamp.
void epilogue_f32_ref(float* data, std::size_t rows, std::size_t channels,
                      const F32Epilogue& epilogue);
// Each value clamped to [lo, hi]; NaN stays NaN. output may equal input (in place).
void clamp_f32_ref(std::size_t n, const float* input, float* output, float lo, float hi);
// The sum of count (2..4) inputs in input order; output may equal inputs[0].
void add_f32_ref(std::size_t rows, std::size_t channels, const float* const* inputs,
                 std::int32_t count, float* output, const F32Epilogue& epilogue);
// input * scale[c] + shift[c], product and sum each rounded (the library builds with
// -ffp-contract=off); SIMD levels may fuse them. output may equal input.
void channel_affine_f32_ref(std::size_t rows, std::size_t channels, const float* input,
                            const float* scale, const float* shift, float* output,
                            const F32Epilogue& epilogue);
void max_pool2d_f32_ref(const Pool2dParams& p, const float* input, float* output);
void avg_pool2d_f32_ref(const Pool2dParams& p, const float* input, float* output);
// Mean over H and W of each (image, channel): output is batch x channels.
void global_avg_pool_f32_ref(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                             const float* input, float* output);
// Merges the moments of each channel of `rows` x `channels` NHWC data into moments[channel],
// exact to double rounding.
void add_channel_moments_f32_ref(const float* data, std::size_t rows, std::size_t channels,
                                 ChannelMoments* moments);
// Chan et al.'s merge of `other` into `into` (either may be empty).
void merge_moments(ChannelMoments& into, const ChannelMoments& other);
// One block of F32Epilogue's moments: `count` values whose differences from `shift` sum to
// `sum` and their squares to `sum_squares`. Defined in a baseline TU and shared by every level.
ChannelMoments block_moments(std::uint64_t count, float shift, float sum, float sum_squares);

}  // namespace lsuv::kernels
