#include "cli/bench.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "cli/cli_common.hpp"
#include "kernels/bench/kernel_bench.hpp"
#include "kernels/bench/xnnpack_seed.hpp"
#include "kernels/i8_dispatch.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/init.hpp"
#include "lsuv/io/idx.hpp"
#include "lsuv/seed_model.hpp"

namespace lsuv::cli {
namespace {

// PyTorch's images/s at batch 1 and 64, from the script's "pytorch batch <n> <rate>" lines;
// false when python3, torch or the script is missing.
bool pytorch_rates(const std::string& script, double* batch1, double* batch64) {
  if (script.empty() || !std::filesystem::exists(script)) return false;
  const std::string command = "/usr/bin/python3 " + script + " 1 64 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char line[256];
  int found = 0;
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    int batch = 0;
    double rate = 0.0;
    if (std::sscanf(line, "pytorch batch %d %lf", &batch, &rate) != 2) continue;
    if (batch == 1) *batch1 = rate, ++found;
    if (batch == 64) *batch64 = rate, ++found;
  }
  return pclose(pipe) == 0 && found == 2;
}

// PyTorch's training steps/s at batch 64 from pytorch_seed_train_step.py, which lives beside the
// forward script; false when python3, torch or the script is missing.
bool pytorch_train_rate(const std::string& forward_script, double* steps) {
  if (forward_script.empty()) return false;
  const std::string script =
      (std::filesystem::path(forward_script).parent_path() / "pytorch_seed_train_step.py").string();
  if (!std::filesystem::exists(script)) return false;
  const std::string command = "/usr/bin/python3 " + script + " 64 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char line[256];
  bool found = false;
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    int batch = 0;
    double rate = 0.0;
    if (std::sscanf(line, "pytorch train batch %d %lf", &batch, &rate) == 2 && batch == 64)
      *steps = rate, found = true;
  }
  return pclose(pipe) == 0 && found;
}

// The SIMD levels this CPU runs (the kernels' rows compare them; ref is far behind).
std::vector<CpuLevel> simd_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel level : kCpuLevels)
    if (level != CpuLevel::ref && cpu_level_supported(level)) levels.push_back(level);
  return levels;
}

// One kernel at every level: GFLOP/s and the fraction of `peak`. A level slower than the level
// before it is marked, and `beyond_peak` says why a fraction above 100% can be printed.
template <class Time>
void print_kernel_levels(const char* name, const std::vector<CpuLevel>& levels, Time time,
                         double peak, const char* beyond_peak) {
  std::printf("  %-28s", name);
  double below = 0.0;
  bool beyond = false;
  for (CpuLevel level : levels) {
    const bench::KernelTiming t = time(level);
    const double percent = 100.0 * t.gflops / peak;
    beyond = beyond || percent > 100.0;
    std::printf(" %6.1f %5.1f%%%s", t.gflops, percent, t.gflops < below ? " (slower)" : "");
    below = t.gflops;
  }
  std::printf("%s%s\n", beyond ? "  " : "", beyond ? beyond_peak : "");
}

void print_level_header(const std::vector<CpuLevel>& levels) {
  std::printf("  %-28s", "GFLOP/s, % of peak:");
  for (CpuLevel level : levels) std::printf(" %-13s", cpu_level_name(level));
  std::printf("\n");
}

// Kernels counted in their true FLOPs cannot beat the FMA peak: a figure above it means the
// machine was busier while the peak was probed.
constexpr const char* kNoisyPeak = "above the probed peak (the machine was busier while probing)";
constexpr const char* kNominalFlops = "nominal FLOPs, padding taps skipped";

// Float reassociation over the seed model's reductions (at most 288 terms a layer) stays far
// below this; a layout or fusion mistake in the peer does not.
constexpr double kPeerTolerance = 1e-4;

// Calibration images: Fashion-MNIST's first training images when installed (a file that is there
// but cannot be read is an error, never a silent switch to noise), else Gaussian noise.
CheckedArray<float> calibration_images(const BenchOptions& options, const char** origin) {
  const std::string what = "--images " + std::to_string(options.calibration_images);
  const std::uint64_t count =
      static_cast<std::uint64_t>(options.calibration_images) * kSeedInput.elements();
  if (count > SIZE_MAX / sizeof(float)) fail_allocation(what, count, sizeof(float));
  CheckedArray<float> images(static_cast<std::size_t>(count), what);
  const std::string path = fashion_mnist_file(options.data_directory, fashion_mnist::kTrainImages);
  if (std::filesystem::exists(path)) {
    const IdxImages idx = load_images(path);
    if (idx.shape() != kSeedInput)
      fail(path + ": images of " + std::to_string(idx.shape().height) + "x" +
           std::to_string(idx.shape().width) + ", the seed model takes 28x28");
    if (idx.count() < options.calibration_images)
      fail("--images " + std::to_string(options.calibration_images) + ": " + path + " has only " +
           std::to_string(idx.count()) + " images");
    for (std::size_t i = 0; i < images.size(); ++i)
      images[i] = (idx.pixels()[i] / 255.0f - fashion_mnist::kMean) / fashion_mnist::kStd;
    *origin = "Fashion-MNIST training images";
    return images;
  }
  std::mt19937 generator(1);
  std::normal_distribution<float> gaussian(0.0f, 1.0f);
  for (std::size_t i = 0; i < images.size(); ++i) images[i] = gaussian(generator);
  *origin = "Gaussian images (Fashion-MNIST not installed)";
  return images;
}

void bench_lsuv(const BenchOptions& options, const CheckedArray<float>& images,
                const char* origin) {
  constexpr std::int32_t kBatch = 64;
  auto loaded = bind_model(seed_spec(), kBatch);
  Model& model = loaded->model;
  std::vector<unsigned char> init_scratch(Arena::kAlignment);
  Arena init_arena(init_scratch.data(), init_scratch.size());
  check(initialize(model, Initializer::pytorch_default, InitOptions(), init_arena), "init");
  const std::vector<float> start = save_parameters(model);

  ArrayBatchSource source(images.data(), options.calibration_images, kSeedInput, kBatch);
  ReportBuffer buffer(model, LsuvOptions());
  const LsuvReport& report = buffer.report;
  const LsuvTiming t = time_lsuv(model, source, LsuvOptions(), start, 5, &buffer.report);
  print_memory_plan(model);
  std::printf("LSUV (seed variant) of the seed model over %d %s, batches of %d:\n",
              static_cast<int>(options.calibration_images), origin, static_cast<int>(kBatch));
  std::printf(
      "  LSUV %.2f ms (median of 5, %s); one forward pass over them %.2f ms (median of 11);"
      " ratio %.2f\n",
      t.lsuv_ms, report.cached_inputs ? "inputs cached" : "inputs recomputed", t.forward_ms,
      t.lsuv_ms / t.forward_ms);
}

// The seed model's training step beside PyTorch's (ours, theirs, ours again, as for the forward).
void bench_training(const BenchOptions& options, const std::vector<CpuLevel>& levels, double peak,
                    const bench::ConvShape* seed_convs, const char* const* seed_names) {
  std::printf("seed model layers' gradients, batch 64, every level (nominal FLOPs):\n");
  print_level_header(levels);
  for (int i = 0; i < 4; ++i) {
    const std::string weights = std::string(seed_names[i]).substr(0, 5) + " weight gradient";
    print_kernel_levels(
        weights.c_str(), levels,
        [&](CpuLevel l) { return bench::time_conv2d_backward(l, seed_convs[i]).weights; }, peak,
        kNominalFlops);
    // conv1's input is the network's: a training step never computes its gradient.
    if (i == 0) continue;
    const std::string input = std::string(seed_names[i]).substr(0, 5) + " input gradient";
    print_kernel_levels(
        input.c_str(), levels,
        [&](CpuLevel l) { return bench::time_conv2d_backward(l, seed_convs[i]).input; }, peak,
        kNominalFlops);
  }
  double ours = bench::seed_model_train_steps_per_second(64);
  double torch = 0.0;
  const bool have_torch = pytorch_train_rate(options.pytorch_script, &torch);
  ours = 0.5 * (ours + bench::seed_model_train_steps_per_second(64));
  std::printf(
      "seed model training step (forward, cross-entropy, backward, SGD momentum 0.9), batch 64, "
      "level %s:\n  lsuv %6.1f steps/s (%.2f ms)",
      cpu_level_name(cpu_level()), ours, 1e3 / ours);
  if (have_torch)
    std::printf(", PyTorch %6.1f steps/s (%.2f ms), ratio %.2fx\n", torch, 1e3 / torch,
                ours / torch);
  else
    std::printf(" (no PyTorch figure: pytorch_seed_train_step.py beside %s did not run)\n",
                options.pytorch_script.c_str());
}

// Float and int8 forward of the seed model, interleaved twice so both see the same machine.
void bench_int8(double flops) {
  std::printf(
      "seed model forward, int8 against float (%s kernels, int8 extension: %s):\n",
      cpu_level_name(cpu_level()),
      kernels::i8_extension(cpu_level()) != nullptr ? kernels::i8_extension(cpu_level()) : "none");
  for (const std::int32_t batch : {1, 64}) {
    double f = bench::seed_model_images_per_second(batch);
    double q = bench::seed_model_int8_images_per_second(batch);
    f = 0.5 * (f + bench::seed_model_images_per_second(batch));
    q = 0.5 * (q + bench::seed_model_int8_images_per_second(batch));
    std::printf(
        "  batch %2d: float %8.0f images/s (%5.1f GFLOP/s), int8 %8.0f images/s "
        "(%5.1f GOP/s), int8/float %.2fx\n",
        static_cast<int>(batch), f, f * flops * 1e-9, q, q * flops * 1e-9, q / f);
  }
}

}  // namespace

std::string default_pytorch_script() {
  for (const char* path : {LSUV_INSTALLED_BENCH_SCRIPT, LSUV_SOURCE_BENCH_SCRIPT})
    if (std::filesystem::exists(path)) return path;
  return LSUV_INSTALLED_BENCH_SCRIPT;
}

void run_bench(const BenchOptions& options) {
  if (options.calibration_images < 64 || options.calibration_images % 64 != 0)
    fail("--images must be a positive multiple of 64 (got " +
         std::to_string(options.calibration_images) + ")");
  // Before the long benchmarks: the images may not exist or not fit in memory.
  const char* origin = "";
  const CheckedArray<float> images = calibration_images(options, &origin);
  const CpuLevel level = cpu_level();
  std::printf("lsuv bench: kernels at level %s (detected %s), single thread; CPU rule: %s\n",
              cpu_level_name(level), cpu_level_name(cpu_level_detected()), cpu_level_rule());
  // The fractions below are of the best peak: a kernel at a lower level is measured against what
  // this core could do, not against its own level.
  const std::vector<CpuLevel> levels = simd_levels();
  double peak = 0.0;
  const char* peak_level = "";
  std::printf("FMA peak (independent register-resident FMA chains), every level this CPU runs:");
  for (CpuLevel probe : levels) {
    const double gflops = bench::fma_peak_gflops(probe);
    std::printf(" %s %.1f GFLOP/s;", cpu_level_name(probe), gflops);
    if (gflops > peak) peak = gflops, peak_level = cpu_level_name(probe);
  }
  std::printf(" fractions below are of the best, %s\n", peak_level);
  std::printf("GEMM-shaped layers, every level:\n");
  print_level_header(levels);
  print_kernel_levels(
      "linear 512->512, batch 256", levels,
      [](CpuLevel l) { return bench::time_linear(l, 256, 512, 512); }, peak, kNoisyPeak);
  print_kernel_levels(
      "conv2d 64->64 3x3 p1, 32x32", levels,
      [](CpuLevel l) {
        return bench::time_conv2d(l, {1, 32, 32, 64, 64, 3, 1, 1, 1});
      },
      peak, kNominalFlops);

  std::printf(
      "seed model layers, batch 64, every level (PyTorch's nominal FLOPs; the kernels skip taps "
      "that fall wholly in the padding, so these may pass the peak):\n");
  const bench::ConvShape seed_convs[] = {{64, 28, 28, 1, 8, 5, 2, 1, 1},
                                         {64, 13, 13, 8, 16, 3, 1, 2, 1},
                                         {64, 15, 15, 16, 32, 3, 1, 2, 1},
                                         {64, 17, 17, 32, 32, 3, 1, 2, 1}};
  const char* seed_names[] = {"conv1 1->8 5x5 s2 p1", "conv2 8->16 3x3 p2", "conv3 16->32 3x3 p2",
                              "conv4 32->32 3x3 p2"};
  print_level_header(levels);
  for (int i = 0; i < 4; ++i)
    print_kernel_levels(
        seed_names[i], levels, [&](CpuLevel l) { return bench::time_conv2d(l, seed_convs[i]); },
        peak, kNominalFlops);
  std::printf(
      "per-channel statistics of a layer's output (what LSUV measures), against the "
      "layer, at level %s:\n",
      cpu_level_name(level));
  for (int i = 0; i < 4; ++i) {
    const bench::StatisticsCost cost = bench::time_channel_statistics(level, seed_convs[i]);
    std::printf("  %-36s fused into the conv +%5.1f%%, as a separate pass +%5.1f%%\n",
                seed_names[i], 100.0 * cost.fused_seconds / cost.conv_seconds,
                100.0 * cost.separate_seconds / cost.conv_seconds);
  }

  bench_training(options, levels, peak, seed_convs, seed_names);

  // Ours, the peers, ours again: the machine is shared, so all see the same conditions.
  double ours1 = bench::seed_model_images_per_second(1);
  double ours64 = bench::seed_model_images_per_second(64);
  double torch1 = 0.0, torch64 = 0.0;
  const bool have_torch = pytorch_rates(options.pytorch_script, &torch1, &torch64);
  const bench::PeerTiming xnn[2] = {bench::xnnpack_seed_model(1), bench::xnnpack_seed_model(64)};
  ours1 = 0.5 * (ours1 + bench::seed_model_images_per_second(1));
  ours64 = 0.5 * (ours64 + bench::seed_model_images_per_second(64));
  const bool have_xnnpack = bench::xnnpack_missing() == nullptr;
  for (const bench::PeerTiming& t : xnn) {
    if (!have_xnnpack) break;
    if (t.error != nullptr) fail(std::string("XNNPACK peer: ") + t.error);
    // Beyond float reassociation the two computed different networks: no ratio to trust.
    if (t.max_relative_difference > kPeerTolerance)
      fail("XNNPACK peer: its logits differ from lsuv's by " +
           std::to_string(t.max_relative_difference) + " of the largest");
  }
  const double flops = bench::seed_model_flops_per_image();
  std::printf("seed model forward (%.2f MFLOP per image):\n", flops * 1e-6);
  const double ours[2] = {ours1, ours64};
  const double theirs[2] = {torch1, torch64};
  for (int i = 0; i < 2; ++i) {
    std::printf("  batch %2d: lsuv %8.0f images/s (%5.1f GFLOP/s)", i == 0 ? 1 : 64, ours[i],
                ours[i] * flops * 1e-9);
    if (have_torch)
      std::printf(", PyTorch %8.0f images/s, ratio %.2fx", theirs[i], ours[i] / theirs[i]);
    if (have_xnnpack)
      std::printf(", XNNPACK %8.0f images/s, ratio lsuv/XNNPACK %.2fx (logits agree to %.1e)",
                  xnn[i].images_per_second, ours[i] / xnn[i].images_per_second,
                  xnn[i].max_relative_difference);
    std::printf("\n");
  }
  if (!have_torch)
    std::printf("  (no PyTorch figures: %s)\n",
                std::filesystem::exists(options.pytorch_script)
                    ? "/usr/bin/python3 could not run it with torch"
                    : ("no script at " + options.pytorch_script + "; pass --pytorch FILE").c_str());
  if (!have_xnnpack) std::printf("  (no XNNPACK figures: %s)\n", bench::xnnpack_missing());
  bench_int8(flops);
  bench_lsuv(options, images, origin);
}

}  // namespace lsuv::cli
