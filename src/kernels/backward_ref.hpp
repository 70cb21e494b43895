// The scalar reference backward kernels: the specification of every layer's gradient, as the
// forward references in reference.hpp are of its output. Shapes, layouts and parameter order are
// the forward kernel's (NHWC activations; conv weights [kh][kw][in_c / groups][out_c], linear
// weights [in][out]) and so is every gradient of a tensor: a weight gradient has its weights'
// layout, an input gradient its input's. Each gradient is stored by a GradWrite mode. Gradient
// buffers never alias the forward tensors a kernel reads unless its contract says they may.
//
// Accumulation is float, in the order the loops below write; SIMD levels will sum in other
// orders and are checked against these with a tolerance derived from the reduction length.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/backward_params.hpp"
#include "kernels/params.hpp"

namespace lsuv::kernels {

// Conv2d, every configuration of Conv2dParams (stride, padding, dilation, groups, depthwise).
// grad_input[n][iy][ix][c] = sum over the outputs whose window reads (iy, ix, c) of
// grad_output * the weight that read it; taps in the padding contribute to nothing.
// The references need no scratch (their queries return 0; scratch may be null). The input
// gradients of conv2d, linear and global average pooling pass through `gate` (ClampGate; null:
// none), the clamp whose output they read.
void conv2d_backward_input_f32_ref(const Conv2dParams& p, const float* grad_output,
                                   const float* weights, float* grad_input, GradWrite mode,
                                   const ClampGate* gate, void* scratch);
std::size_t conv2d_backward_input_scratch_bytes_f32_ref(const Conv2dParams& p);
// grad_weights[ky][kx][i][o] = sum over images and output pixels of grad_output[..][o] * the
// input value that weight multiplied (zero in the padding).
void conv2d_backward_weights_f32_ref(const Conv2dParams& p, const float* input,
                                     const float* grad_output, float* grad_weights, GradWrite mode,
                                     void* scratch);
std::size_t conv2d_backward_weights_scratch_bytes_f32_ref(const Conv2dParams& p);

// Linear: grad_input[b][i] = sum_o grad_output[b][o] * w[i][o];
// grad_weights[i][o] = sum_b input[b][i] * grad_output[b][o].
void linear_backward_input_f32_ref(const LinearParams& p, const float* grad_output,
                                   const float* weights, float* grad_input, GradWrite mode,
                                   const ClampGate* gate, void* scratch);
std::size_t linear_backward_input_scratch_bytes_f32_ref(const LinearParams& p);
void linear_backward_weights_f32_ref(const LinearParams& p, const float* input,
                                     const float* grad_output, float* grad_weights, GradWrite mode,
                                     void* scratch);
std::size_t linear_backward_weights_scratch_bytes_f32_ref(const LinearParams& p);

// The gradient of a per-channel bias (conv2d, linear, batch norm's beta) over `rows` x `channels`
// NHWC gradients: grad_bias[c] = sum over rows of grad_output[r][c].
void bias_backward_f32_ref(std::size_t rows, std::size_t channels, const float* grad_output,
                           float* grad_bias, GradWrite mode);

// A clamp to [lo, hi] (ReLU, ReLU6, Hardtanh), from its forward OUTPUT, so that a clamp fused
// into the epilogue of the op before it (which keeps no pre-clamp value) has a backward too:
// the gradient is zero where output <= lo or output >= hi and passes unchanged elsewhere. Away
// from the bounds that is the derivative. At a bound (a ReLU input of exactly 0, a ReLU6 input
// of exactly 6) the one-sided derivatives differ and the gradient is zero there, which is
// PyTorch's choice too; since the output is strictly inside (lo, hi) exactly when the input is,
// this equals PyTorch's rule on the input. A NaN output passes its gradient (as in PyTorch), so
// a non-finite forward is not hidden by a zero. grad_input may equal grad_output (assign only).
void clamp_backward_f32_ref(std::size_t n, const float* output, const float* grad_output,
                            float* grad_input, float lo, float hi, GradWrite mode);

// Max pooling, from the forward INPUT (no saved indices: the arg max is found again). Each
// window's gradient goes to one element, the one the forward kernel's scan selects: the first
// maximum in window order (ky, then kx; padding never selected), or the last NaN when the
// window holds NaN. Overlapping windows (stride < kernel) add up.
void max_pool2d_backward_f32_ref(const Pool2dParams& p, const float* input,
                                 const float* grad_output, float* grad_input, GradWrite mode);
// Average pooling with the forward's count_include_pad=True: every window divides by
// kernel_h * kernel_w, padding included, so each input value in a window gets
// grad_output * (1 / (kernel_h * kernel_w)) (that float factor, as the forward multiplies).
void avg_pool2d_backward_f32_ref(const Pool2dParams& p, const float* grad_output, float* grad_input,
                                 GradWrite mode);
// Global average pooling: grad_input[n][pixel][c] = grad_output[n][c] * (1 / pixels).
void global_avg_pool_backward_f32_ref(std::int32_t batch, std::int32_t pixels,
                                      std::int32_t channels, const float* grad_output,
                                      float* grad_input, GradWrite mode, const ClampGate* gate);

// A sum of count (2..4) tensors of n values: every input's gradient is grad_output (fan-out).
// A null grad_inputs[k] is skipped (that input needs no gradient). Non-null entries are
// distinct; one may equal grad_output in assign mode (it then already holds its gradient). A
// tensor added to itself is the caller's to handle (accumulate into it once per occurrence).
void add_backward_f32_ref(std::size_t n, const float* grad_output, float* const* grad_inputs,
                          std::int32_t count, GradWrite mode);

// BatchNorm2d frozen: eval-mode y = (x - running_mean) / sqrt(running_var + eps) * gamma + beta,
// with the running statistics constant (fine-tuning on small device batches, whose own statistics
// are noisy; no batch mean or variance to save). gamma and beta train (beta's gradient is
// bias_backward's). Over `rows` x `channels` NHWC data:
// grad_input = grad_output * (gamma / sqrt(running_var + eps)), that float scale as the forward
// computes it; grad_input may equal grad_output (assign only).
void batch_norm2d_backward_input_f32_ref(std::size_t rows, std::size_t channels,
                                         const float* grad_output, const float* gamma,
                                         const float* running_var, float eps, float* grad_input,
                                         GradWrite mode);
// grad_gamma[c] = sum over rows of grad_output * (input - running_mean) / sqrt(running_var + eps)
// (the forward input, which a training plan keeps).
void batch_norm2d_backward_gamma_f32_ref(std::size_t rows, std::size_t channels, const float* input,
                                         const float* grad_output, const float* running_mean,
                                         const float* running_var, float eps, float* grad_gamma,
                                         GradWrite mode);

}  // namespace lsuv::kernels
