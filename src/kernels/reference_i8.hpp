// The scalar int8 reference kernels: the specification every int8 SIMD level is bit-exact to.
// Always compiled, on every target (on a Cortex-M they are the kernels that run). Shapes and
// layouts are those of the float kernels (params.hpp: NHWC activations, HWIO conv weights with I
// per group, linear weights [in][out]); the arithmetic is fixed_point.hpp's and the epilogues are
// i8_params.hpp's. Contracts are asserts at the top of each function.
//
// Accumulators: conv2d and linear sum w * (x - input_zero_point) over the taps inside the input
// (padding reads as the zero point, i.e. real 0) plus bias. The caller guarantees that this sum
// fits int32 (it does for any K below 2^31 / 255^2 = 33025 taps; the quantiser checks the bias);
// levels may then add in any order with wrap-around and still agree with the reference.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/i8_params.hpp"
#include "kernels/params.hpp"

namespace lsuv::kernels {

// bias may be null (none). input_zero_point in [-128, 127]; weights any int8 (-128 included).
// The reference needs no scratch (its queries return 0; scratch may be null).
void conv2d_i8_ref(const Conv2dParams& p, const std::int8_t* input, std::int32_t input_zero_point,
                   const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                   const I8Epilogue& epilogue, void* scratch);
std::size_t conv2d_scratch_bytes_i8_ref(const Conv2dParams& p);
void linear_i8_ref(const LinearParams& p, const std::int8_t* input, std::int32_t input_zero_point,
                   const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                   const I8Epilogue& epilogue, void* scratch);
std::size_t linear_scratch_bytes_i8_ref(const LinearParams& p);
// Each value clamped to [lo, hi] (-128 <= lo <= hi <= 127): ReLU is [zero_point, 127].
// output may equal input.
void clamp_i8_ref(std::size_t n, const std::int8_t* input, std::int8_t* output, std::int32_t lo,
                  std::int32_t hi);
// The rescaling add of AddI8Params over n elements of each of params.count inputs; output may
// equal inputs[0].
void add_i8_ref(std::size_t n, const std::int8_t* const* inputs, const AddI8Params& params,
                std::int8_t* output);
// Input and output share scale and zero point (so max commutes with the quantisation); windows
// never read padding, and a window entirely in the padding gives -128.
void max_pool2d_i8_ref(const Pool2dParams& p, const std::int8_t* input, std::int8_t* output);
// The window's sum with each padded position counted as the zero point (real 0: PyTorch's
// count_include_pad=True, as the float kernel), divided by the window size rounding half away
// from zero (TFLite's reference average pool, identical to it for windows without padding).
// Input and output share scale and zero point.
void avg_pool2d_i8_ref(const Pool2dParams& p, const std::int8_t* input,
                       std::int32_t input_zero_point, std::int8_t* output);
// Mean over the pixels of each (image, channel), rounding half away from zero; output is
// batch x channels with the input's scale and zero point. pixels < 2^23.
void global_avg_pool_i8_ref(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                            const std::int8_t* input, std::int8_t* output);

}  // namespace lsuv::kernels
