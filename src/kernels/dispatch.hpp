// The kernel table the core calls through. Filled once: reference kernels first, then upgraded
// to the best instruction set the CPU has.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/params.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv::kernels {

struct F32Kernels {
  void (*conv2d)(const Conv2dParams&, const float* input, const float* weights, const float* bias,
                 float* output);
  void (*linear)(const LinearParams&, const float* input, const float* weights, const float* bias,
                 float* output);
  void (*relu)(std::size_t n, const float* input, float* output);
  void (*max_pool2d)(const Pool2dParams&, const float* input, float* output);
  void (*avg_pool2d)(const Pool2dParams&, const float* input, float* output);
  void (*global_avg_pool)(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                          const float* input, float* output);
  void (*add_channel_moments)(const float* data, std::size_t rows, std::size_t channels,
                              RunningStats* stats);
};

const F32Kernels& f32_kernels();

}  // namespace lsuv::kernels
