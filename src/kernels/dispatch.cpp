#include "kernels/dispatch.hpp"

#include "kernels/reference.hpp"

namespace lsuv::kernels {

const F32Kernels& f32_kernels() {
  static const F32Kernels table = {conv2d_f32_ref,          linear_f32_ref,
                                   relu_f32_ref,            max_pool2d_f32_ref,
                                   avg_pool2d_f32_ref,      global_avg_pool_f32_ref,
                                   add_channel_moments_f32_ref};
  return table;
}

}  // namespace lsuv::kernels
