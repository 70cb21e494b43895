// The checker's benchmark mode (`meson test --benchmark`, or kernel_checker --no-skip
// --test-case='kernel timings*'): each kernel at every level, in GFLOP/s and against the
// reference, next to the FMA peak measured in the same run. Skipped in the test suite.
#include <doctest/doctest.h>

#include <cstdio>
#include <initializer_list>

#include "kernels/bench/kernel_bench.hpp"
#include "kernels/dispatch.hpp"
#include "lsuv/cpu.hpp"

namespace {

using lsuv::CpuLevel;

TEST_CASE("kernel timings" * doctest::skip()) {

  const double peak = lsuv::bench::fma_peak_gflops(lsuv::cpu_level_detected());
  std::printf("FMA peak (%s): %.1f GFLOP/s\n", lsuv::cpu_level_name(lsuv::cpu_level_detected()),
              peak);
  const lsuv::bench::ConvShape convs[] = {
      {64, 28, 28, 1, 8, 5, 2, 1, 1},   {64, 13, 13, 8, 16, 3, 1, 2, 1},
      {64, 15, 15, 16, 32, 3, 1, 2, 1}, {64, 17, 17, 32, 32, 3, 1, 2, 1},
      {1, 32, 32, 64, 64, 3, 1, 1, 1},  {1, 32, 32, 64, 64, 1, 1, 0, 1},
      {1, 32, 32, 64, 64, 3, 2, 1, 1},  {1, 32, 32, 32, 32, 5, 1, 2, 1},
      {1, 32, 32, 64, 64, 3, 1, 1, 64},
  };
  for (const lsuv::bench::ConvShape& s : convs) {
    double ref_seconds = 0.0;
    for (CpuLevel level : lsuv::kCpuLevels) {
      if (!lsuv::cpu_level_supported(level)) continue;
      const lsuv::bench::KernelTiming t = lsuv::bench::time_conv2d(level, s);
      CHECK(t.gflops > 0.0);
      if (level == CpuLevel::ref) ref_seconds = t.seconds;
      std::printf(
          "conv2d n%d %dx%dx%d->%d k%d s%d p%d g%d %-6s %7.2f GFLOP/s %5.1f%% of peak x%.1f\n",
          s.batch, s.in_h, s.in_w, s.in_c, s.out_c, s.kernel, s.stride, s.pad, s.groups,
          lsuv::cpu_level_name(level), t.gflops, 100.0 * t.gflops / peak, ref_seconds / t.seconds);
    }
  }
  for (int batch : {1, 64, 256}) {
    double ref_seconds = 0.0;
    for (CpuLevel level : lsuv::kCpuLevels) {
      if (!lsuv::cpu_level_supported(level)) continue;
      const lsuv::bench::KernelTiming t = lsuv::bench::time_linear(level, batch, 512, 512);
      CHECK(t.gflops > 0.0);
      if (level == CpuLevel::ref) ref_seconds = t.seconds;
      std::printf("linear n%d 512->512 %-6s %7.2f GFLOP/s %5.1f%% of peak x%.1f\n", batch,
                  lsuv::cpu_level_name(level), t.gflops, 100.0 * t.gflops / peak,
                  ref_seconds / t.seconds);
    }
  }
}

}  // namespace
