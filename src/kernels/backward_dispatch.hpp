// The backward kernel table a training step calls through, built by name like F32Kernels
// (dispatch.hpp) and on the same chain of CPU levels (lsuv/cpu.hpp): each level's table is its
// own entries over the table of the level below, down to the references of backward_ref.hpp,
// which have them all; the table in use follows cpu_level(), so set_cpu_level_limit and LSUV_CPU
// move the forward and backward kernels together. The kernel checker holds every level's entries
// to their references.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/backward_params.hpp"
#include "kernels/params.hpp"
#include "lsuv/cpu.hpp"

namespace lsuv::kernels {

// Each entry has the contract of its _ref twin in backward_ref.hpp. The scratch queries size the
// buffer conv2d / linear backward take (aligned to kScratchAlignment; null when 0; contents on
// entry irrelevant, on return unspecified); the bytes never grow as the batch shrinks, so a plan
// sizes them at its largest batch.
struct F32BackwardKernels {
  void (*conv2d_input)(const Conv2dParams&, const float* grad_output, const float* weights,
                       float* grad_input, GradWrite mode, const ClampGate* gate, void* scratch);
  std::size_t (*conv2d_input_scratch_bytes)(const Conv2dParams&);
  void (*conv2d_weights)(const Conv2dParams&, const float* input, const float* grad_output,
                         float* grad_weights, GradWrite mode, void* scratch);
  std::size_t (*conv2d_weights_scratch_bytes)(const Conv2dParams&);
  void (*linear_input)(const LinearParams&, const float* grad_output, const float* weights,
                       float* grad_input, GradWrite mode, const ClampGate* gate, void* scratch);
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
                          const float* grad_output, float* grad_input, GradWrite mode,
                          const ClampGate* gate);
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

// The entries by name (as LSUV_F32_KERNELS_*): entry `k` of the reference is the function of
// backward_ref.hpp named in the list, and SCRATCH(conv2d_input) names conv2d_input with
// conv2d_input_scratch_bytes (always from the same level).
#define LSUV_F32_BACKWARD_WITH_SCRATCH(SCRATCH) \
  SCRATCH(conv2d_input) SCRATCH(conv2d_weights) SCRATCH(linear_input) SCRATCH(linear_weights)
#define LSUV_F32_BACKWARD_PLAIN(PLAIN) \
  PLAIN(bias)                          \
  PLAIN(clamp)                         \
  PLAIN(max_pool2d)                    \
  PLAIN(avg_pool2d)                    \
  PLAIN(global_avg_pool)               \
  PLAIN(add)                           \
  PLAIN(batch_norm2d_input)            \
  PLAIN(batch_norm2d_gamma)

// The table of the level in use (cpu_level()). Look it up per use: the reference returned
// belongs to that level's table and is not updated when the limit changes.
const F32BackwardKernels& f32_backward_kernels();

// The table of one level regardless of the limit (its own entries over the levels below), or
// null when the level is not compiled in or the CPU cannot run it.
const F32BackwardKernels* f32_backward_kernels_at(CpuLevel level);

// The entries a supported level implements itself, the others null (the reference has them
// all), or null for a level this build or CPU lacks. For the kernel checker.
const F32BackwardKernels* f32_backward_kernels_own(CpuLevel level);

// Scratch bytes at any level this CPU runs (the largest), so a training plan stays exact when
// the level limit changes after bind.
std::size_t conv2d_backward_input_scratch_bytes_any_level(const Conv2dParams& p);
std::size_t conv2d_backward_weights_scratch_bytes_any_level(const Conv2dParams& p);
std::size_t linear_backward_input_scratch_bytes_any_level(const LinearParams& p);
std::size_t linear_backward_weights_scratch_bytes_any_level(const LinearParams& p);

}  // namespace lsuv::kernels
