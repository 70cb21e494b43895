#include "kernels/backward_dispatch.hpp"

#include "kernels/backward_ref.hpp"

namespace lsuv::kernels {
namespace {

constexpr F32BackwardKernels kReference = {
    conv2d_backward_input_f32_ref,
    conv2d_backward_input_scratch_bytes_f32_ref,
    conv2d_backward_weights_f32_ref,
    conv2d_backward_weights_scratch_bytes_f32_ref,
    linear_backward_input_f32_ref,
    linear_backward_input_scratch_bytes_f32_ref,
    linear_backward_weights_f32_ref,
    linear_backward_weights_scratch_bytes_f32_ref,
    bias_backward_f32_ref,
    clamp_backward_f32_ref,
    max_pool2d_backward_f32_ref,
    avg_pool2d_backward_f32_ref,
    global_avg_pool_backward_f32_ref,
    add_backward_f32_ref,
    batch_norm2d_backward_input_f32_ref,
    batch_norm2d_backward_gamma_f32_ref,
};

}  // namespace

const F32BackwardKernels& f32_backward_kernels() {
  return kReference;
}

}  // namespace lsuv::kernels
