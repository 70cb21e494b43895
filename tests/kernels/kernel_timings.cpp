// The checker's benchmark mode (`meson test --benchmark`, or kernel_checker --no-skip
// --test-case='kernel timings*'): each kernel at every level, in GFLOP/s and against the
// reference, next to the FMA peak measured in the same run. Skipped in the test suite.
#include <doctest/doctest.h>

#include <cstdio>
#include <initializer_list>
#include <string>
#include <vector>

#include "kernels/bench/kernel_bench.hpp"
#include "kernels/dispatch.hpp"
#include "kernels/i8_dispatch.hpp"
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

// int8 conv2d and linear of every int8 table (each level's, and without its extension where
// it has one) beside the float kernels of the best level, on the seed's convolutions (batch 64)
// and a linear layer; ratios are to the int8 reference and to that float kernel.
TEST_CASE("kernel timings int8" * doctest::skip()) {
  struct Table {
    std::string name;
    const lsuv::kernels::I8Kernels* k;
  };
  std::vector<Table> tables;
  for (CpuLevel level : lsuv::kCpuLevels) {
    if (lsuv::kernels::i8_kernels_at(level) == nullptr) continue;
    const char* extension = lsuv::kernels::i8_extension(level);
    if (extension != nullptr)
      tables.push_back({std::string(lsuv::cpu_level_name(level)) + "+" + extension,
                        lsuv::kernels::i8_kernels_at(level)});
    tables.push_back(
        {lsuv::cpu_level_name(level), lsuv::kernels::i8_kernels_without_extension(level)});
  }
  const CpuLevel best = lsuv::cpu_level_preferred();
  const lsuv::bench::ConvShape convs[] = {
      {64, 28, 28, 1, 8, 5, 2, 1, 1},   {64, 13, 13, 8, 16, 3, 1, 2, 1},
      {64, 15, 15, 16, 32, 3, 1, 2, 1}, {64, 17, 17, 32, 32, 3, 1, 2, 1},
      {1, 32, 32, 64, 64, 3, 1, 1, 1},  {1, 32, 32, 64, 64, 3, 1, 1, 64},
  };
  for (const lsuv::bench::ConvShape& s : convs) {
    const double f32 = lsuv::bench::time_conv2d(best, s).seconds;
    const double ref =
        lsuv::bench::time_conv2d_i8(lsuv::kernels::i8_kernels_at(CpuLevel::ref), s).seconds;
    for (const Table& table : tables) {
      const lsuv::bench::KernelTiming t = lsuv::bench::time_conv2d_i8(table.k, s);
      CHECK(t.gflops > 0.0);
      std::printf(
          "int8 conv2d n%d %dx%dx%d->%d k%d s%d p%d g%d %-12s %7.2f GOP/s x%.1f ref x%.2f f32 %s\n",
          s.batch, s.in_h, s.in_w, s.in_c, s.out_c, s.kernel, s.stride, s.pad, s.groups,
          table.name.c_str(), t.gflops, ref / t.seconds, f32 / t.seconds,
          lsuv::cpu_level_name(best));
    }
  }
  for (int batch : {1, 64}) {
    const double f32 = lsuv::bench::time_linear(best, batch, 512, 512).seconds;
    const double ref =
        lsuv::bench::time_linear_i8(lsuv::kernels::i8_kernels_at(CpuLevel::ref), batch, 512, 512)
            .seconds;
    for (const Table& table : tables) {
      const lsuv::bench::KernelTiming t = lsuv::bench::time_linear_i8(table.k, batch, 512, 512);
      CHECK(t.gflops > 0.0);
      std::printf("int8 linear n%d 512->512 %-12s %7.2f GOP/s x%.1f ref x%.2f f32 %s\n", batch,
                  table.name.c_str(), t.gflops, ref / t.seconds, f32 / t.seconds,
                  lsuv::cpu_level_name(best));
    }
  }
  // add and pooling, against the int8 reference: a residual add of ResNet-8's size, pooling
  // of the seed's last feature map (19x19x32, batch 64).
  const auto against_reference = [&](const char* what, auto seconds) {
    const double ref = seconds(lsuv::kernels::i8_kernels_at(CpuLevel::ref));
    for (const Table& table : tables) {
      const double t = seconds(table.k);
      CHECK(t > 0.0);
      std::printf("int8 %-36s %-12s %9.1f us x%.1f ref\n", what, table.name.c_str(), t * 1e6,
                  ref / t);
    }
  };
  using lsuv::kernels::I8Kernels;
  const lsuv::bench::PoolShape seed_map = {64, 19, 19, 32, 2, 2};
  const lsuv::bench::PoolShape seed_map_3x3 = {64, 19, 19, 32, 3, 1};
  against_reference("add 2 inputs, 64x16x16x32", [](const I8Kernels* k) {
    return lsuv::bench::time_add_i8(k, 64 * 16 * 16 * 32, 2);
  });
  against_reference("max_pool2d 64x19x19x32 k2 s2", [&](const I8Kernels* k) {
    return lsuv::bench::time_max_pool2d_i8(k, seed_map);
  });
  against_reference("avg_pool2d 64x19x19x32 k3 s1", [&](const I8Kernels* k) {
    return lsuv::bench::time_avg_pool2d_i8(k, seed_map_3x3);
  });
  against_reference("global_avg_pool 64x19x19x32", [&](const I8Kernels* k) {
    return lsuv::bench::time_global_avg_pool_i8(k, seed_map);
  });
}

}  // namespace
