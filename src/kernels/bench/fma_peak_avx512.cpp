// The benchmarks' AVX-512 FMA probe (see fma_peak_avx512.hpp); this TU alone has -mavx512f.
#include "kernels/bench/fma_peak_avx512.hpp"

#include <cstddef>

#include <xsimd/xsimd.hpp>

namespace lsuv::bench {

double fma_peak_avx512_loop(std::int64_t iterations, float* sink) {
  using B = xsimd::batch<float, xsimd::avx512f>;
  constexpr int kChains = 24;
  B acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = B(static_cast<float>(i) * 1e-3f);
  const B scale(0.999999f), step(1e-7f);
  // Unrolled, so that the chains live in registers (GCC 12 keeps a 24-long loop in memory).
  for (std::int64_t n = 0; n < iterations; ++n) {
#pragma GCC unroll 24
    for (int i = 0; i < kChains; ++i) acc[i] = xsimd::fma(acc[i], scale, step);
  }
  B total = acc[0];
  for (int i = 1; i < kChains; ++i) total += acc[i];
  // Summed by hand: this xsimd's hadd for avx512f needs AVX512DQ.
  alignas(64) float lanes[B::size];
  total.store_aligned(lanes);
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  *sink = sum;
  return 2.0 * static_cast<double>(B::size) * kChains * static_cast<double>(iterations);
}

}  // namespace lsuv::bench
