#include "kernels/bench/kernel_bench.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <memory>
#include <random>
#include <vector>

#include "kernels/backward_dispatch.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/fixed_point.hpp"
#include "kernels/i8_dispatch.hpp"
#include "lsuv/arena.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/init.hpp"
#include "lsuv/layer.hpp"
#include "lsuv/model.hpp"
#include "lsuv/quantized_model.hpp"
#include "lsuv/seed_model.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<float> random_floats(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

kernels::Conv2dParams conv_params(const ConvShape& s) {
  kernels::Conv2dParams p{};
  p.batch = s.batch;
  p.in_h = s.in_h;
  p.in_w = s.in_w;
  p.in_c = s.in_c;
  p.out_c = s.out_c;
  p.kernel_h = p.kernel_w = s.kernel;
  p.stride_h = p.stride_w = s.stride;
  p.pad_h = p.pad_w = s.pad;
  p.dilation_h = p.dilation_w = 1;
  p.groups = s.groups;
  p.out_h = (s.in_h + 2 * s.pad - s.kernel) / s.stride + 1;
  p.out_w = (s.in_w + 2 * s.pad - s.kernel) / s.stride + 1;
  return p;
}

// A kernel's scratch: `bytes` aligned to kernels::kScratchAlignment (null for 0 bytes).
class Scratch {
 public:
  void resize(std::size_t bytes) {
    storage_.assign(bytes + kernels::kScratchAlignment, 0);
    void* aligned = storage_.data();
    std::size_t space = storage_.size();
    data_ = bytes > 0 ? std::align(kernels::kScratchAlignment, bytes, aligned, space) : nullptr;
  }
  void* data() const { return data_; }

 private:
  std::vector<unsigned char> storage_;
  void* data_ = nullptr;
};

double conv_flops(const kernels::Conv2dParams& p) {
  return 2.0 * p.batch * p.out_h * p.out_w * p.out_c * p.kernel_h * p.kernel_w *
         (p.in_c / p.groups);
}

struct ConvRun {
  const kernels::F32Kernels* k;
  kernels::Conv2dParams p;
  std::vector<float> input, weights, bias, output;
  std::vector<kernels::ChannelMoments> moments;
  Scratch scratch;
};

void run_conv(void* context) {
  auto* r = static_cast<ConvRun*>(context);
  r->k->conv2d(r->p, r->input.data(), r->weights.data(), r->bias.data(), r->output.data(), {},
               r->scratch.data());
}

void run_conv_with_statistics(void* context) {
  auto* r = static_cast<ConvRun*>(context);
  kernels::F32Epilogue epilogue;
  epilogue.moments = r->moments.data();
  r->k->conv2d(r->p, r->input.data(), r->weights.data(), r->bias.data(), r->output.data(), epilogue,
               r->scratch.data());
}

void run_statistics(void* context) {
  auto* r = static_cast<ConvRun*>(context);
  r->k->add_channel_moments(r->output.data(),
                            static_cast<std::size_t>(r->p.batch) * r->p.out_h * r->p.out_w,
                            static_cast<std::size_t>(r->p.out_c), r->moments.data());
}

bool make_conv_run(CpuLevel level, const ConvShape& shape, ConvRun* run) {
  run->k = kernels::f32_kernels_at(level);
  if (run->k == nullptr) return false;
  run->p = conv_params(shape);
  const kernels::Conv2dParams& p = run->p;
  run->input = random_floats(static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.in_c, 1);
  run->weights = random_floats(
      static_cast<std::size_t>(p.kernel_h) * p.kernel_w * (p.in_c / p.groups) * p.out_c, 2);
  run->bias = random_floats(static_cast<std::size_t>(p.out_c), 3);
  run->output.assign(static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c, 0.0f);
  run->moments.assign(static_cast<std::size_t>(p.out_c), kernels::ChannelMoments());
  run->scratch.resize(run->k->conv2d_scratch_bytes(p));
  return true;
}

// The GFLOP/s of an FMA-peak loop (0 for a null one).
double probe_fma_peak(kernels::FmaPeakLoop loop) {
  struct Probe {
    kernels::FmaPeakLoop loop;
    double flops;
    float sink;
  } probe = {loop, 0.0, 0.0f};
  if (probe.loop == nullptr) return 0.0;
  const auto run = [](void* c) {
    auto* p = static_cast<Probe*>(c);
    p->flops = p->loop(1 << 16, &p->sink);
  };
  // Warm-up: long enough for the core to reach the clock it runs wide FMAs at.
  const Clock::time_point warm_until = Clock::now() + std::chrono::milliseconds(100);
  while (Clock::now() < warm_until) run(&probe);
  // A ceiling that noise can only lower: the best of several rounds, each a median so that no
  // single reading decides.
  constexpr int kRounds = 5;
  double best = 0.0;
  for (int round = 0; round < kRounds; ++round)
    best = std::max(best, probe.flops / median_seconds_per_call(run, &probe, 5, 0.02));
  return best * 1e-9;
}

}  // namespace

double median_seconds_per_call(void (*fn)(void*), void* context, int samples,
                               double min_sample_seconds) {
  fn(context);
  std::vector<double> per_call;
  for (int s = 0; s < samples; ++s) {
    std::int64_t calls = 0;
    const Clock::time_point start = Clock::now();
    double elapsed = 0.0;
    do {
      fn(context);
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < min_sample_seconds);
    per_call.push_back(elapsed / static_cast<double>(calls));
  }
  std::sort(per_call.begin(), per_call.end());
  return per_call[per_call.size() / 2];
}

double fma_peak_gflops(CpuLevel level) {
  return probe_fma_peak(kernels::fma_peak_loop_at(level));
}

KernelTiming time_linear(CpuLevel level, std::int32_t batch, std::int32_t in_features,
                         std::int32_t out_features) {
  struct LinearRun {
    const kernels::F32Kernels* k;
    kernels::LinearParams p;
    std::vector<float> input, weights, bias, output;
    Scratch scratch;
  } run;
  run.k = kernels::f32_kernels_at(level);
  if (run.k == nullptr) return {};
  run.p = {batch, in_features, out_features};
  run.input = random_floats(static_cast<std::size_t>(batch) * in_features, 1);
  run.weights = random_floats(static_cast<std::size_t>(in_features) * out_features, 2);
  run.bias = random_floats(static_cast<std::size_t>(out_features), 3);
  run.output.assign(static_cast<std::size_t>(batch) * out_features, 0.0f);
  run.scratch.resize(run.k->linear_scratch_bytes(run.p));
  KernelTiming t;
  t.seconds = median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<LinearRun*>(c);
        r->k->linear(r->p, r->input.data(), r->weights.data(), r->bias.data(), r->output.data(), {},
                     r->scratch.data());
      },
      &run);
  t.gflops = 2.0 * batch * in_features * out_features / t.seconds * 1e-9;
  return t;
}

KernelTiming time_conv2d(CpuLevel level, const ConvShape& shape) {
  ConvRun run;
  if (!make_conv_run(level, shape, &run)) return {};
  KernelTiming t;
  t.seconds = median_seconds_per_call(run_conv, &run);
  t.gflops = conv_flops(run.p) / t.seconds * 1e-9;
  return t;
}

namespace {

std::vector<std::int8_t> random_codes(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-128, 127);
  std::vector<std::int8_t> v(n);
  for (std::int8_t& x : v) x = static_cast<std::int8_t>(dist(rng));
  return v;
}

// One int8 conv2d or linear call's operands: random codes, a bias, a ReLU epilogue whose
// multipliers bring the accumulators to about the output range.
struct I8Run {
  const kernels::I8Kernels* k;
  kernels::Conv2dParams p;
  kernels::LinearParams lp;
  std::vector<std::int8_t> input, weights, output;
  std::vector<std::int32_t> bias, multiplier, shift;
  kernels::I8Epilogue epilogue;
  Scratch scratch;
};

void fill_i8_run(I8Run* run, std::size_t in_n, std::size_t weight_n, std::size_t out_n,
                 std::int32_t channels, std::int32_t taps) {
  run->input = random_codes(in_n, 1);
  run->weights = random_codes(weight_n, 2);
  run->output.assign(out_n, 0);
  run->bias.assign(static_cast<std::size_t>(channels), 1000);
  const kernels::QuantizedMultiplier q =
      kernels::quantize_multiplier(60.0 / (74.0 * 74.0 * std::sqrt(static_cast<double>(taps))));
  run->multiplier.assign(static_cast<std::size_t>(channels), q.multiplier);
  run->shift.assign(static_cast<std::size_t>(channels), q.shift);
  run->epilogue.multiplier = run->multiplier.data();
  run->epilogue.shift = run->shift.data();
  run->epilogue.output_zero_point = -100;
  run->epilogue.output_min = -100;
}

}  // namespace

KernelTiming time_conv2d_i8(const kernels::I8Kernels* k, const ConvShape& shape) {
  if (k == nullptr) return {};
  I8Run run{};
  run.k = k;
  run.p = conv_params(shape);
  const kernels::Conv2dParams& p = run.p;
  const std::int32_t taps = p.kernel_h * p.kernel_w * (p.in_c / p.groups);
  fill_i8_run(&run, static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.in_c,
              static_cast<std::size_t>(taps) * p.out_c,
              static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c, p.out_c, taps);
  run.scratch.resize(k->conv2d_scratch_bytes(p));
  KernelTiming t;
  t.seconds = median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<I8Run*>(c);
        r->k->conv2d(r->p, r->input.data(), 3, r->weights.data(), r->bias.data(), r->output.data(),
                     r->epilogue, r->scratch.data());
      },
      &run);
  t.gflops = conv_flops(p) / t.seconds * 1e-9;
  return t;
}

KernelTiming time_linear_i8(const kernels::I8Kernels* k, std::int32_t batch,
                            std::int32_t in_features, std::int32_t out_features) {
  if (k == nullptr) return {};
  I8Run run{};
  run.k = k;
  run.lp = {batch, in_features, out_features};
  fill_i8_run(&run, static_cast<std::size_t>(batch) * in_features,
              static_cast<std::size_t>(in_features) * out_features,
              static_cast<std::size_t>(batch) * out_features, out_features, in_features);
  run.scratch.resize(k->linear_scratch_bytes(run.lp));
  KernelTiming t;
  t.seconds = median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<I8Run*>(c);
        r->k->linear(r->lp, r->input.data(), 3, r->weights.data(), r->bias.data(), r->output.data(),
                     r->epilogue, r->scratch.data());
      },
      &run);
  t.gflops = 2.0 * batch * in_features * out_features / t.seconds * 1e-9;
  return t;
}

namespace {

struct AddRun {
  const kernels::I8Kernels* k;
  std::size_t n;
  std::vector<std::vector<std::int8_t>> inputs;
  std::vector<const std::int8_t*> pointers;
  std::vector<std::int8_t> output;
  kernels::AddI8Params params;
};

// TFLite's add parameters for the given scales (i8_params.hpp): s = 2 * max scale.
kernels::AddI8Params add_params(std::int32_t count) {
  kernels::AddI8Params a;
  a.count = count;
  const double s = 2.0 * 0.05, output_scale = 0.08;
  for (std::int32_t k = 0; k < count; ++k) {
    const kernels::QuantizedMultiplier q = kernels::quantize_multiplier((k & 1 ? 0.03 : 0.05) / s);
    a.input_zero_point[k] = k & 1 ? 5 : -3;
    a.input_multiplier[k] = q.multiplier;
    a.input_shift[k] = q.shift;
  }
  const kernels::QuantizedMultiplier q =
      kernels::quantize_multiplier(s / (std::ldexp(1.0, a.left_shift) * output_scale));
  a.output_multiplier = q.multiplier;
  a.output_shift = q.shift;
  a.output_zero_point = -1;
  return a;
}

struct PoolRun {
  const kernels::I8Kernels* k;
  kernels::Pool2dParams p;
  std::vector<std::int8_t> input, output;
};

PoolRun make_pool_run(const kernels::I8Kernels* k, const PoolShape& s) {
  PoolRun run{};
  run.k = k;
  kernels::Pool2dParams& p = run.p;
  p.batch = s.batch;
  p.in_h = s.in_h;
  p.in_w = s.in_w;
  p.channels = s.channels;
  p.kernel_h = p.kernel_w = s.kernel;
  p.stride_h = p.stride_w = s.stride;
  p.out_h = (s.in_h - s.kernel) / s.stride + 1;
  p.out_w = (s.in_w - s.kernel) / s.stride + 1;
  run.input = random_codes(static_cast<std::size_t>(s.batch) * s.in_h * s.in_w * s.channels, 3);
  run.output.assign(static_cast<std::size_t>(s.batch) * p.out_h * p.out_w * s.channels, 0);
  return run;
}

}  // namespace

double time_add_i8(const kernels::I8Kernels* k, std::size_t n, std::int32_t inputs) {
  if (k == nullptr) return 0.0;
  AddRun run{k, n, {}, {}, std::vector<std::int8_t>(n), add_params(inputs)};
  for (std::int32_t i = 0; i < inputs; ++i) {
    run.inputs.push_back(random_codes(n, 4 + static_cast<std::uint32_t>(i)));
    run.pointers.push_back(run.inputs.back().data());
  }
  return median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<AddRun*>(c);
        r->k->add(r->n, r->pointers.data(), r->params, r->output.data());
      },
      &run);
}

double time_max_pool2d_i8(const kernels::I8Kernels* k, const PoolShape& shape) {
  if (k == nullptr) return 0.0;
  PoolRun run = make_pool_run(k, shape);
  return median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<PoolRun*>(c);
        r->k->max_pool2d(r->p, r->input.data(), r->output.data());
      },
      &run);
}

double time_avg_pool2d_i8(const kernels::I8Kernels* k, const PoolShape& shape) {
  if (k == nullptr) return 0.0;
  PoolRun run = make_pool_run(k, shape);
  return median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<PoolRun*>(c);
        r->k->avg_pool2d(r->p, r->input.data(), -7, r->output.data());
      },
      &run);
}

double time_global_avg_pool_i8(const kernels::I8Kernels* k, const PoolShape& shape) {
  if (k == nullptr) return 0.0;
  PoolRun run = make_pool_run(k, shape);
  return median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<PoolRun*>(c);
        r->k->global_avg_pool(r->p.batch, r->p.in_h * r->p.in_w, r->p.channels, r->input.data(),
                              r->output.data());
      },
      &run);
}

StatisticsCost time_channel_statistics(CpuLevel level, const ConvShape& shape) {
  ConvRun run;
  if (!make_conv_run(level, shape, &run)) return {};
  StatisticsCost cost;
  // Interleaved, so both see the same machine conditions; the difference is a few percent of
  // the layer, so it takes the best of several rounds on a shared machine.
  constexpr int kRounds = 4;
  double plain = median_seconds_per_call(run_conv, &run);
  double fused = median_seconds_per_call(run_conv_with_statistics, &run);
  for (int round = 1; round < kRounds; ++round) {
    plain = std::min(plain, median_seconds_per_call(run_conv, &run));
    fused = std::min(fused, median_seconds_per_call(run_conv_with_statistics, &run));
  }
  cost.conv_seconds = plain;
  cost.fused_seconds = std::max(0.0, fused - plain);
  cost.separate_seconds = median_seconds_per_call(run_statistics, &run);
  return cost;
}

double seed_model_flops_per_image() {
  // conv1 13x13x8 (25 taps), conv2 15x15x16 (72), conv3 17x17x32 (144), conv4 19x19x32 (288),
  // fc 32x10.
  const double macs = 13.0 * 13 * 8 * 25 + 15.0 * 15 * 16 * 72 + 17.0 * 17 * 32 * 144 +
                      19.0 * 19 * 32 * 288 + 32.0 * 10;
  return 2.0 * macs;
}

std::unique_ptr<SeedModelRun> make_seed_model_run(std::int32_t batch) {
  auto run = std::make_unique<SeedModelRun>();
  run->batch = batch;
  run->graph_memory.resize(Model::graph_bytes(kSeedLayerCount) + Arena::kAlignment);
  Arena graph(run->graph_memory.data(), run->graph_memory.size());
  if (run->model.configure(kSeedLayers, kSeedLayerCount, kSeedInput, batch, graph) != Status::ok)
    return nullptr;
  run->buffer.resize(run->model.required_bytes() + Arena::kAlignment);
  void* aligned = run->buffer.data();
  std::size_t space = run->buffer.size();
  if (std::align(Arena::kAlignment, run->model.required_bytes(), aligned, space) == nullptr)
    return nullptr;
  Arena arena(aligned, space);
  if (run->model.bind(arena) != Status::ok) return nullptr;
  std::uint32_t seed = 10;
  for (std::int32_t i = 0; i < run->model.layer_count(); ++i) {
    const Layer& layer = run->model.layer(i);
    const std::vector<float> w = random_floats(layer.weight_count, ++seed);
    std::copy(w.begin(), w.end(), layer.weights);
    const std::vector<float> b = random_floats(layer.bias_count, ++seed);
    std::copy(b.begin(), b.end(), layer.bias);
  }
  run->images = random_floats(static_cast<std::size_t>(batch) * 28 * 28, 4);
  return run;
}

double seed_model_images_per_second(std::int32_t batch) {
  const std::unique_ptr<SeedModelRun> run = make_seed_model_run(batch);
  if (run == nullptr) return 0.0;
  const double seconds = median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<SeedModelRun*>(c);
        (void)r->model.forward(r->images.data(), r->batch);
      },
      run.get(), 9, 0.05);
  return batch / seconds;
}

namespace {

struct BackwardRun {
  const kernels::F32BackwardKernels* k;
  kernels::Conv2dParams p;
  std::vector<float> input, weights, grad_output, grad_weights, grad_input;
  Scratch scratch;
};

void run_backward_weights(void* context) {
  auto* r = static_cast<BackwardRun*>(context);
  r->k->conv2d_weights(r->p, r->input.data(), r->grad_output.data(), r->grad_weights.data(),
                       kernels::GradWrite::assign, r->scratch.data());
}

void run_backward_input(void* context) {
  auto* r = static_cast<BackwardRun*>(context);
  r->k->conv2d_input(r->p, r->grad_output.data(), r->weights.data(), r->grad_input.data(),
                     kernels::GradWrite::assign, nullptr, r->scratch.data());
}

struct TrainRun {
  std::unique_ptr<SeedModelRun> model;
  std::vector<unsigned char> plan_memory, memory;
  Trainer trainer;
  std::vector<std::int32_t> labels;
  Status status = Status::ok;
};

void run_train_step(void* context) {
  auto* r = static_cast<TrainRun*>(context);
  const Status status = r->trainer.train_step(r->model->images.data(), r->labels.data(),
                                              r->model->batch, 0.05f, nullptr);
  if (status != Status::ok) r->status = status;
}

// An arena over `storage`, resized to `bytes` plus the alignment slack.
Arena aligned_arena(std::vector<unsigned char>& storage, std::size_t bytes) {
  storage.resize(bytes + Arena::kAlignment);
  void* aligned = storage.data();
  std::size_t space = storage.size();
  std::align(Arena::kAlignment, bytes, aligned, space);
  return Arena(aligned, space);
}

}  // namespace

BackwardTiming time_conv2d_backward(CpuLevel level, const ConvShape& shape) {
  BackwardRun run;
  run.k = kernels::f32_backward_kernels_at(level);
  if (run.k == nullptr) return {};
  run.p = conv_params(shape);
  const kernels::Conv2dParams& p = run.p;
  const std::size_t in_n = static_cast<std::size_t>(p.batch) * p.in_h * p.in_w * p.in_c;
  const std::size_t w_n =
      static_cast<std::size_t>(p.kernel_h) * p.kernel_w * (p.in_c / p.groups) * p.out_c;
  run.input = random_floats(in_n, 1);
  run.weights = random_floats(w_n, 2);
  run.grad_output =
      random_floats(static_cast<std::size_t>(p.batch) * p.out_h * p.out_w * p.out_c, 3);
  run.grad_weights.assign(w_n, 0.0f);
  run.grad_input.assign(in_n, 0.0f);
  const std::size_t a = run.k->conv2d_weights_scratch_bytes(p);
  const std::size_t b = run.k->conv2d_input_scratch_bytes(p);
  run.scratch.resize(a > b ? a : b);
  const double flops =
      2.0 * p.batch * p.out_h * p.out_w * p.out_c * p.kernel_h * p.kernel_w * (p.in_c / p.groups);
  BackwardTiming t;
  t.weights.seconds = median_seconds_per_call(run_backward_weights, &run);
  t.weights.gflops = flops / t.weights.seconds * 1e-9;
  t.input.seconds = median_seconds_per_call(run_backward_input, &run);
  t.input.gflops = flops / t.input.seconds * 1e-9;
  return t;
}

double seed_model_train_steps_per_second(std::int32_t batch) {
  TrainRun run;
  run.model = make_seed_model_run(batch);
  if (run.model == nullptr) return 0.0;
  Model& model = run.model->model;
  std::vector<unsigned char> init_memory;
  Arena init_arena =
      aligned_arena(init_memory, initialize_scratch_bytes(model, Initializer::pytorch_default));
  if (initialize(model, Initializer::pytorch_default, InitOptions(), init_arena) != Status::ok)
    return 0.0;
  TrainOptions options;
  options.sgd.momentum = 0.9f;
  options.max_batch = batch;
  Arena plan = aligned_arena(run.plan_memory, Trainer::plan_bytes(model.layer_count()));
  if (run.trainer.configure(model, options, plan) != Status::ok) return 0.0;
  Arena arena = aligned_arena(run.memory, run.trainer.training_bytes());
  if (run.trainer.bind(arena) != Status::ok) return 0.0;
  std::mt19937 rng(5);
  run.labels.resize(static_cast<std::size_t>(batch));
  for (std::int32_t& label : run.labels) label = static_cast<std::int32_t>(rng() % 10);
  const double seconds = median_seconds_per_call(run_train_step, &run, 9, 0.2);
  return run.status == Status::ok ? 1.0 / seconds : 0.0;
}

namespace {

struct Int8SeedRun {
  QuantizedModel model;
  std::vector<unsigned char> graph, memory;
  const float* images = nullptr;
  std::int32_t batch = 0;
};

}  // namespace

double seed_model_int8_images_per_second(std::int32_t batch) {
  const std::unique_ptr<SeedModelRun> run = make_seed_model_run(batch);
  if (run == nullptr) return 0.0;
  Int8SeedRun q;
  q.graph.resize(QuantizedModel::graph_bytes(kSeedLayerCount) + Arena::kAlignment);
  Arena graph(q.graph.data(), q.graph.size());
  if (q.model.configure(run->model, graph) != Status::ok) return 0.0;
  q.memory.resize(q.model.required_bytes() + Arena::kAlignment);
  Arena arena(q.memory.data(), q.memory.size());
  ArrayBatchSource source(run->images.data(), batch, kSeedInput, batch);
  std::vector<unsigned char> scratch(quantize_scratch_bytes(run->model, source) +
                                     Arena::kAlignment);
  Arena scratch_arena(scratch.data(), scratch.size());
  if (q.model.bind(arena) != Status::ok ||
      quantize(run->model, source, {}, scratch_arena, q.model) != Status::ok)
    return 0.0;
  q.images = run->images.data();
  q.batch = batch;
  const double seconds = median_seconds_per_call(
      [](void* c) {
        auto* r = static_cast<Int8SeedRun*>(c);
        (void)r->model.forward(r->images, r->batch);
      },
      &q, 9, 0.05);
  return batch / seconds;
}

}  // namespace lsuv::bench
