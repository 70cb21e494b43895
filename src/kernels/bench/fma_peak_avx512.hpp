// An AVX-512 FMA probe for the benchmarks only: lsuv has no AVX-512 kernels, but on a core with
// full-width 512-bit FMA units (Zen 5, Intel server cores) the machine's peak is this one, and a
// kernel's fraction of the AVX2 peak would overstate how much of the core it uses. Built on
// x86-64 with -mavx512f (meson.build defines LSUV_BENCH_AVX512 then); call it only when the CPU
// has avx512f.
#pragma once

#include <cstdint>

namespace lsuv::bench {

// As kernels::FmaPeakLoop: 24 independent register-resident FMA chains of 16 floats
// (32 zmm registers), `iterations` rounds; returns the floating point operations done.
double fma_peak_avx512_loop(std::int64_t iterations, float* sink);

}  // namespace lsuv::bench
