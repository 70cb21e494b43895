// The SIMD float kernels, declared once for every instruction set: each is a functor templated
// on an xsimd architecture tag. Only the declarations live here; the bodies are in
// f32_kernels_impl.hpp, which only the per-ISA translation units (f32_<isa>.cpp, compiled with
// that ISA's flags) include, so no code built for AVX2 can leak into a baseline TU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/dispatch.hpp"
#include "kernels/params.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv::kernels::simd {

template <class Arch>
struct Conv2dF32 {
  static void run(const Conv2dParams& p, const float* input, const float* weights,
                  const float* bias, float* output, const OutputStage& stage);
};

template <class Arch>
struct LinearF32 {
  static void run(const LinearParams& p, const float* input, const float* weights,
                  const float* bias, float* output, const OutputStage& stage);
};

template <class Arch>
struct ReluF32 {
  static void run(std::size_t n, const float* input, float* output);
};

template <class Arch>
struct MaxPool2dF32 {
  static void run(const Pool2dParams& p, const float* input, float* output);
};

template <class Arch>
struct AvgPool2dF32 {
  static void run(const Pool2dParams& p, const float* input, float* output);
};

template <class Arch>
struct GlobalAvgPoolF32 {
  static void run(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                  const float* input, float* output);
};

template <class Arch>
struct AddChannelMomentsF32 {
  static void run(const float* data, std::size_t rows, std::size_t channels, RunningStats* stats);
};

// The benchmarks' ceiling probe: `iterations` rounds of independent register-resident FMA chains
// (enough accumulators to cover the FMA latency on every supported core). Returns the floating
// point operations done and writes a value depending on all chains to *sink, so nothing is
// optimised away.
template <class Arch>
struct FmaPeakF32 {
  static double run(std::int64_t iterations, float* sink);
};

// The table of one architecture. A constant expression, so a table defined with it in a per-ISA
// TU is constant-initialised: no code of that TU runs before the CPU has been checked.
template <class Arch>
constexpr F32Kernels f32_table() {
  return {&Conv2dF32<Arch>::run,           &LinearF32<Arch>::run,    &ReluF32<Arch>::run,
          &MaxPool2dF32<Arch>::run,        &AvgPool2dF32<Arch>::run, &GlobalAvgPoolF32<Arch>::run,
          &AddChannelMomentsF32<Arch>::run};
}

// One table per compiled instruction set (defined in f32_<isa>.cpp; dispatch.cpp knows which
// exist from the LSUV_KERNELS_<ISA> macros the build sets).
extern const F32Kernels kF32KernelsSse2;
extern const F32Kernels kF32KernelsAvx2;
extern const F32Kernels kF32KernelsNeon;
extern const FmaPeakLoop kFmaPeakSse2;
extern const FmaPeakLoop kFmaPeakAvx2;
extern const FmaPeakLoop kFmaPeakNeon;

}  // namespace lsuv::kernels::simd
