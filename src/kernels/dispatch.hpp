// The kernel table the core calls through, built by name (dav1d's pattern): every instruction
// set level provides a table in which it may leave any entry null, and the table of a level is
// its own entries over the table of the level below it, down to the reference, which has them
// all. A level that implements only some kernels (int8 dot products, a Cortex-M DSP level)
// therefore falls back entry by entry. The table in use is the best level the CPU has and the
// build compiled, capped by the limit of lsuv/cpu.hpp (API or LSUV_CPU).
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/params.hpp"
#include "lsuv/cpu.hpp"

namespace lsuv::kernels {

struct F32Kernels {
  // conv2d and linear apply `epilogue` as they store their output. scratch: at least
  // *_scratch_bytes(p) bytes aligned to kScratchAlignment (may be null when that is 0); its
  // contents on entry do not matter and on return are unspecified. The bytes never grow as the
  // batch shrinks, so a plan sizes them at its largest batch.
  void (*conv2d)(const Conv2dParams&, const float* input, const float* weights, const float* bias,
                 float* output, const F32Epilogue& epilogue, void* scratch);
  std::size_t (*conv2d_scratch_bytes)(const Conv2dParams&);
  void (*linear)(const LinearParams&, const float* input, const float* weights, const float* bias,
                 float* output, const F32Epilogue& epilogue, void* scratch);
  std::size_t (*linear_scratch_bytes)(const LinearParams&);
  // output[i] = input[i] clamped to [lo, hi], NaN stays NaN; output may equal input.
  void (*clamp)(std::size_t n, const float* input, float* output, float lo, float hi);
  // output = the sum of inputs[0 .. count) (count 2..4), each rows x channels NHWC, summed in
  // input order; output may equal inputs[0]. The epilogue is applied to the sum.
  void (*add)(std::size_t rows, std::size_t channels, const float* const* inputs,
              std::int32_t count, float* output, const F32Epilogue& epilogue);
  // output[r][c] = input[r][c] * scale[c] + shift[c] (batch norm in eval mode), a fused
  // multiply-add where the level has one (within a rounding of the reference); output may equal
  // input. The epilogue is applied to the result.
  void (*channel_affine)(std::size_t rows, std::size_t channels, const float* input,
                         const float* scale, const float* shift, float* output,
                         const F32Epilogue& epilogue);
  void (*max_pool2d)(const Pool2dParams&, const float* input, float* output);
  void (*avg_pool2d)(const Pool2dParams&, const float* input, float* output);
  void (*global_avg_pool)(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                          const float* input, float* output);
  // Merges the exact moments of each channel of `rows` x `channels` NHWC data into
  // moments[channel] (two passes in double per block of rows; see moments_ref.cpp).
  void (*add_channel_moments)(const float* data, std::size_t rows, std::size_t channels,
                              ChannelMoments* moments);
};

// The entries of F32Kernels by name, for building and merging tables. A kernel with a scratch
// query is one entry with its query (they always come from the same level); SCRATCH(conv2d)
// names conv2d and conv2d_scratch_bytes.
#define LSUV_F32_KERNELS_WITH_SCRATCH(SCRATCH) SCRATCH(conv2d) SCRATCH(linear)
#define LSUV_F32_KERNELS_PLAIN(PLAIN) \
  PLAIN(clamp)                        \
  PLAIN(add)                          \
  PLAIN(channel_affine)               \
  PLAIN(max_pool2d)                   \
  PLAIN(avg_pool2d)                   \
  PLAIN(global_avg_pool)              \
  PLAIN(add_channel_moments)

// The table in use (cpu_level()). Stays valid; its contents change with set_cpu_level_limit.
const F32Kernels& f32_kernels();

// The table of one level regardless of the limit (its own entries over the levels below), or
// null when that level is not compiled in or the CPU cannot run it. For the kernel checker and
// the benchmarks.
const F32Kernels* f32_kernels_at(CpuLevel level);

// The entries a level implements itself, the others null (the reference has them all), or null
// when the level is not compiled in. For the kernel checker, which checks what a level adds.
const F32Kernels* f32_kernels_own(CpuLevel level);

// Scratch bytes of conv2d / linear at any level this build can run (the largest over the
// levels the CPU supports), so a plan stays exact when the level limit changes after bind.
std::size_t conv2d_scratch_bytes_any_level(const Conv2dParams& p);
std::size_t linear_scratch_bytes_any_level(const LinearParams& p);

// The FMA-peak probe of a SIMD level (see simd/f32_functors.hpp), or null for the reference and
// for levels this CPU or build lacks. For the benchmarks.
using FmaPeakLoop = double (*)(std::int64_t iterations, float* sink);
FmaPeakLoop fma_peak_loop_at(CpuLevel level);

}  // namespace lsuv::kernels
