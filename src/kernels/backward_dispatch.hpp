// The backward kernel table a training step calls through, beside the forward table of
// dispatch.hpp. For now every entry is the reference of backward_ref.hpp at every CPU level; SIMD
// levels will fill entries of their own (falling back entry by entry, as the forward table does)
// and the kernel checker will hold them to these references.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/backward_params.hpp"
#include "kernels/params.hpp"

namespace lsuv::kernels {

// Each entry has the contract of its _ref twin in backward_ref.hpp. The scratch queries size the
// buffer conv2d / linear backward take (aligned to kScratchAlignment; null when 0).
struct F32BackwardKernels {
  void (*conv2d_input)(const Conv2dParams&, const float* grad_output, const float* weights,
                       float* grad_input, GradWrite mode, void* scratch);
  std::size_t (*conv2d_input_scratch_bytes)(const Conv2dParams&);
  void (*conv2d_weights)(const Conv2dParams&, const float* input, const float* grad_output,
                         float* grad_weights, GradWrite mode, void* scratch);
  std::size_t (*conv2d_weights_scratch_bytes)(const Conv2dParams&);
  void (*linear_input)(const LinearParams&, const float* grad_output, const float* weights,
                       float* grad_input, GradWrite mode, void* scratch);
  std::size_t (*linear_input_scratch_bytes)(const LinearParams&);
  void (*linear_weights)(const LinearParams&, const float* input, const float* grad_output,
                         float* grad_weights, GradWrite mode, void* scratch);
  std::size_t (*linear_weights_scratch_bytes)(const LinearParams&);
  void (*bias)(std::size_t rows, std::size_t channels, const float* grad_output, float* grad_bias,
               GradWrite mode);
  void (*clamp)(std::size_t n, const float* output, const float* grad_output, float* grad_input,
                float lo, float hi, GradWrite mode);
  void (*max_pool2d)(const Pool2dParams&, const float* input, const float* grad_output,
                     float* grad_input, GradWrite mode);
  void (*avg_pool2d)(const Pool2dParams&, const float* grad_output, float* grad_input,
                     GradWrite mode);
  void (*global_avg_pool)(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                          const float* grad_output, float* grad_input, GradWrite mode);
  void (*add)(std::size_t n, const float* grad_output, float* const* grad_inputs,
              std::int32_t count, GradWrite mode);
  void (*batch_norm2d_input)(std::size_t rows, std::size_t channels, const float* grad_output,
                             const float* gamma, const float* running_var, float eps,
                             float* grad_input, GradWrite mode);
  void (*batch_norm2d_gamma)(std::size_t rows, std::size_t channels, const float* input,
                             const float* grad_output, const float* running_mean,
                             const float* running_var, float eps, float* grad_gamma,
                             GradWrite mode);
};

// The table in use. Stays valid for the program's lifetime.
const F32BackwardKernels& f32_backward_kernels();

}  // namespace lsuv::kernels
