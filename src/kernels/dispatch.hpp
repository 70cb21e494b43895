// The kernel table the core calls through. Filled once: reference kernels first, then upgraded
// level by level to the best instruction set the CPU has and the build compiled, capped by the
// limit of lsuv/cpu.hpp (API or LSUV_CPU).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/params.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv::kernels {

struct F32Kernels {
  // conv2d and linear apply `stage` (ReLU, per-channel moments) as they store their output.
  void (*conv2d)(const Conv2dParams&, const float* input, const float* weights, const float* bias,
                 float* output, const OutputStage& stage);
  void (*linear)(const LinearParams&, const float* input, const float* weights, const float* bias,
                 float* output, const OutputStage& stage);
  void (*relu)(std::size_t n, const float* input, float* output);
  void (*max_pool2d)(const Pool2dParams&, const float* input, float* output);
  void (*avg_pool2d)(const Pool2dParams&, const float* input, float* output);
  void (*global_avg_pool)(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                          const float* input, float* output);
  void (*add_channel_moments)(const float* data, std::size_t rows, std::size_t channels,
                              RunningStats* stats);
};

// The table in use (cpu_level()). Stays valid; its contents change with set_cpu_level_limit.
const F32Kernels& f32_kernels();

// The table of one level regardless of the limit, or null when that level is not compiled in or
// the CPU cannot run it. For the kernel checker and the benchmarks.
const F32Kernels* f32_kernels_at(CpuLevel level);

// The FMA-peak probe of a SIMD level (see simd/f32_functors.hpp), or null for the reference and
// for levels this CPU or build lacks. For the benchmarks.
using FmaPeakLoop = double (*)(std::int64_t iterations, float* sink);
FmaPeakLoop fma_peak_loop_at(CpuLevel level);

}  // namespace lsuv::kernels
