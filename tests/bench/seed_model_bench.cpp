// Single-threaded benchmarks of the float kernels and the seed's model, side by side with
// PyTorch when it is available (tests/bench/pytorch_seed_model.py under /usr/bin/python3):
// the FMA peak, the GEMM-shaped layers against it, the statistics' cost against the layer they
// observe, and the model's images/s at batch 1 and 64 with the ratio to PyTorch's.
//
//   meson test -C build --benchmark --suite lsuv    (or run seed_model_bench [script.py])
#include <cstdio>
#include <cstring>
#include <string>

#include "kernels/bench/kernel_bench.hpp"
#include "lsuv/cpu.hpp"

namespace {

namespace bench = lsuv::bench;

// PyTorch's images/s per batch size from the script's "pytorch batch <n> <rate>" lines; false
// if python3, torch or the script is missing.
bool pytorch_rates(const char* script, double* batch1, double* batch64) {
  const std::string command = std::string("/usr/bin/python3 ") + script + " 1 64 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return false;
  char line[256];
  int found = 0;
  while (std::fgets(line, sizeof line, pipe) != nullptr) {
    int batch = 0;
    double rate = 0.0;
    if (std::sscanf(line, "pytorch batch %d %lf", &batch, &rate) == 2) {
      if (batch == 1) *batch1 = rate, ++found;
      if (batch == 64) *batch64 = rate, ++found;
    }
  }
  return pclose(pipe) == 0 && found == 2;
}

void print_layer(const char* name, const bench::KernelTiming& t, double peak) {
  std::printf("  %-40s %8.3f ms %7.2f GFLOP/s %5.1f%% of peak\n", name, t.seconds * 1e3, t.gflops,
              100.0 * t.gflops / peak);
}

}  // namespace

int main(int argc, char** argv) {
  const lsuv::CpuLevel level = lsuv::cpu_level();
  const double peak =
      bench::fma_peak_gflops(level == lsuv::CpuLevel::ref ? lsuv::cpu_level_detected() : level);
  std::printf("lsuv kernels at level %s (detected %s), single thread\n",
              lsuv::cpu_level_name(level), lsuv::cpu_level_name(lsuv::cpu_level_detected()));
  std::printf("FMA peak (independent register-resident chains): %.1f GFLOP/s\n", peak);

  std::printf("GEMM-shaped layers:\n");
  print_layer("linear 512->512, batch 256", bench::time_linear(level, 256, 512, 512), peak);
  print_layer("conv2d 64->64 3x3 p1 on 32x32, batch 1",
              bench::time_conv2d(level, {1, 32, 32, 64, 64, 3, 1, 1, 1}), peak);

  std::printf("seed model layers, batch 64:\n");
  const bench::ConvShape seed_convs[] = {{64, 28, 28, 1, 8, 5, 2, 1, 1},
                                         {64, 13, 13, 8, 16, 3, 1, 2, 1},
                                         {64, 15, 15, 16, 32, 3, 1, 2, 1},
                                         {64, 17, 17, 32, 32, 3, 1, 2, 1}};
  const char* seed_names[] = {"conv1 1->8 5x5 s2 p1", "conv2 8->16 3x3 p2", "conv3 16->32 3x3 p2",
                              "conv4 32->32 3x3 p2"};
  for (int i = 0; i < 4; ++i)
    print_layer(seed_names[i], bench::time_conv2d(level, seed_convs[i]), peak);

  std::printf("per-channel statistics of a layer's output against the layer:\n");
  for (int i = 0; i < 4; ++i) {
    const bench::StatisticsCost cost = bench::time_channel_statistics(level, seed_convs[i]);
    std::printf(
        "  %-40s conv %8.3f ms, fused statistics +%6.3f ms = %5.1f%%"
        " (separate pass %6.3f ms = %5.1f%%)\n",
        seed_names[i], cost.conv_seconds * 1e3, cost.fused_seconds * 1e3,
        100.0 * cost.fused_seconds / cost.conv_seconds, cost.separate_seconds * 1e3,
        100.0 * cost.separate_seconds / cost.conv_seconds);
  }

  // Ours, PyTorch, ours again: the machine is shared, so both sides see the same conditions.
  double ours1 = bench::seed_model_images_per_second(1);
  double ours64 = bench::seed_model_images_per_second(64);
  double torch1 = 0.0, torch64 = 0.0;
  const bool have_torch = argc > 1 && pytorch_rates(argv[1], &torch1, &torch64);
  ours1 = 0.5 * (ours1 + bench::seed_model_images_per_second(1));
  ours64 = 0.5 * (ours64 + bench::seed_model_images_per_second(64));
  const double flops = bench::seed_model_flops_per_image();
  std::printf("seed model forward (%.2f MFLOP/image):\n", flops * 1e-6);
  for (int i = 0; i < 2; ++i) {
    const int batch = i == 0 ? 1 : 64;
    const double ours = i == 0 ? ours1 : ours64;
    const double theirs = i == 0 ? torch1 : torch64;
    std::printf("  batch %2d: lsuv %9.1f images/s (%5.1f GFLOP/s, %4.1f%% of peak)", batch, ours,
                ours * flops * 1e-9, 100.0 * ours * flops * 1e-9 / peak);
    if (have_torch) std::printf(", pytorch %9.1f images/s, ratio %.2fx", theirs, ours / theirs);
    std::printf("\n");
  }
  if (!have_torch) std::printf("  (PyTorch not available: no ratio)\n");
  return ours1 > 0.0 && ours64 > 0.0 ? 0 : 1;
}
