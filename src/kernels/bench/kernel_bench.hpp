// Benchmark building blocks shared by the Meson benchmark() targets and `lsuv bench`:
// median timing, the measured single-core FMA peak, kernel GFLOP/s and the seed model's
// throughput. Desktop-side (uses the heap and a clock); single-threaded throughout.
//
//   const double peak = lsuv::bench::fma_peak_gflops(lsuv::cpu_level());
//   const auto gemm = lsuv::bench::time_linear(lsuv::cpu_level(), 256, 512, 512);
//   std::printf("linear %.1f GFLOP/s, %.0f%% of peak\n", gemm.gflops, 100 * gemm.gflops / peak);
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "lsuv/cpu.hpp"
#include "lsuv/model.hpp"

namespace lsuv::kernels {
struct I8Kernels;
}  // namespace lsuv::kernels

namespace lsuv::bench {

// Median over `samples` of the seconds per call of fn(context); each sample repeats the call
// until it has run at least min_sample_seconds (after one warm-up call).
double median_seconds_per_call(void (*fn)(void*), void* context, int samples = 7,
                               double min_sample_seconds = 0.02);

// This core's fp32 FMA throughput in GFLOP/s with `level`'s vectors: independent FMA chains
// held in registers (12 on 16-register files, 24 on 32), after a 0.1 s warm-up, the best of five
// rounds (each the median of five 20 ms samples). 0 for ref or an unsupported level.
double fma_peak_gflops(CpuLevel level);

struct KernelTiming {
  double seconds = 0.0;  // median per call
  double gflops = 0.0;   // 2 x multiply-adds / seconds
};

struct ConvShape {
  std::int32_t batch, in_h, in_w, in_c, out_c, kernel, stride, pad, groups;
};

// One kernel of `level` on random data (its own buffers). Zero timings for an unsupported level.
KernelTiming time_linear(CpuLevel level, std::int32_t batch, std::int32_t in_features,
                         std::int32_t out_features);
KernelTiming time_conv2d(CpuLevel level, const ConvShape& shape);

// conv2d's weight and input gradients at `level`'s backward table (kernels/backward_dispatch.hpp),
// GFLOP/s of the nominal multiply-adds (those of the forward layer). Zero timings for an
// unsupported level.
struct BackwardTiming {
  KernelTiming weights, input;
};
BackwardTiming time_conv2d_backward(CpuLevel level, const ConvShape& shape);

// The same for the int8 conv2d and linear of one int8 table (a level's, or a level's without its
// int8 extension: kernels/i8_dispatch.hpp), on random codes with a ReLU requantisation; GFLOP/s
// counts two operations per multiply-add as for float. Zero timings for a null table.
KernelTiming time_conv2d_i8(const kernels::I8Kernels* k, const ConvShape& shape);
KernelTiming time_linear_i8(const kernels::I8Kernels* k, std::int32_t batch,
                            std::int32_t in_features, std::int32_t out_features);

// The int8 add, max_pool2d, avg_pool2d and global_avg_pool of one int8 table on random codes:
// an add of `inputs` tensors of n elements (TFLite's parameters for scales 0.05 and 0.03 into
// 0.08); pooling windows of `kernel` x `kernel` with `stride` (no padding) over an NHWC batch, and
// the global average over all its pixels. Seconds per call (median); zero for a null table.
double time_add_i8(const kernels::I8Kernels* k, std::size_t n, std::int32_t inputs);
struct PoolShape {
  std::int32_t batch, in_h, in_w, channels, kernel, stride;
};
double time_max_pool2d_i8(const kernels::I8Kernels* k, const PoolShape& shape);
double time_avg_pool2d_i8(const kernels::I8Kernels* k, const PoolShape& shape);
double time_global_avg_pool_i8(const kernels::I8Kernels* k, const PoolShape& shape);

// Per-channel statistics of a convolution's output against the convolution itself, both at
// `level`: fused into the convolution's output stage (what LSUV uses; its cost is the fused
// call's time minus the plain call's), and as a separate add_channel_moments pass over the
// stored output (RunningStats' double-exact kernel).
struct StatisticsCost {
  double conv_seconds = 0.0;
  double fused_seconds = 0.0;     // extra time of the conv with the statistics stage
  double separate_seconds = 0.0;  // add_channel_moments over the output
};
StatisticsCost time_channel_statistics(CpuLevel level, const ConvShape& shape);

// The seed's model: Conv2d(1,8,5,s2,p1)-ReLU-Conv2d(8,16,3,p2)-ReLU-Conv2d(16,32,3,p2)-ReLU-
// Conv2d(32,32,3,p2)-ReLU-AdaptiveAvgPool2d(1)-Linear(32,10) on 1x28x28 images.
// Multiply-adds of one image's forward pass through it.
double seed_model_flops_per_image();

// The seed model bound for `batch` images, with random weights and images (fixed seeds: two
// runs of the same batch hold the same numbers, so a peer can compute on them too).
struct SeedModelRun {
  std::vector<unsigned char> graph_memory;
  std::vector<unsigned char> buffer;
  Model model;
  std::vector<float> images;
  std::int32_t batch = 0;
};
// Null if the model cannot be built.
std::unique_ptr<SeedModelRun> make_seed_model_run(std::int32_t batch);

// Model::forward at the level in use (cpu_level()) on make_seed_model_run(batch); images/s.
// 0 if the model cannot be built.
double seed_model_images_per_second(std::int32_t batch);
// QuantizedModel::forward (float images in, int8 logits out) of make_seed_model_run(batch)'s
// model quantised on its own images; images/s, 0 if the model cannot be built.
double seed_model_int8_images_per_second(std::int32_t batch);

// Trainer::train_step (softmax cross-entropy, SGD lr 0.05 with momentum 0.9, every parameter
// training) at the level in use on make_seed_model_run(batch) with PyTorch's default init and
// random labels; steps/s. 0 if the model or the trainer cannot be set up or a step fails.
double seed_model_train_steps_per_second(std::int32_t batch);

}  // namespace lsuv::bench
