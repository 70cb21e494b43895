// The SIMD float kernels, declared once for every instruction set: each is a functor templated
// on an xsimd architecture tag. Only the declarations live here; the bodies are in
// f32_kernels_impl.hpp, which only the per-ISA translation units (f32_<isa>.cpp, compiled with
// that ISA's flags) include, so no code built for AVX2 can leak into a baseline TU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/dispatch.hpp"
#include "kernels/params.hpp"

namespace lsuv::kernels::simd {

template <class Arch>
struct Conv2dF32 {
  static void run(const Conv2dParams& p, const float* input, const float* weights,
                  const float* bias, float* output, const F32Epilogue& epilogue, void* scratch);
  static std::size_t scratch_bytes(const Conv2dParams& p);
};

template <class Arch>
struct LinearF32 {
  static void run(const LinearParams& p, const float* input, const float* weights,
                  const float* bias, float* output, const F32Epilogue& epilogue, void* scratch);
  static std::size_t scratch_bytes(const LinearParams& p);
};

template <class Arch>
struct ClampF32 {
  static void run(std::size_t n, const float* input, float* output, float lo, float hi);
};

template <class Arch>
struct AddF32 {
  static void run(std::size_t rows, std::size_t channels, const float* const* inputs,
                  std::int32_t count, float* output, const F32Epilogue& epilogue);
};

template <class Arch>
struct ChannelAffineF32 {
  static void run(std::size_t rows, std::size_t channels, const float* input, const float* scale,
                  const float* shift, float* output, const F32Epilogue& epilogue);
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
  static void run(const float* data, std::size_t rows, std::size_t channels,
                  ChannelMoments* moments);
};

// The benchmarks' ceiling probe: `iterations` rounds of independent register-resident FMA chains
// (enough accumulators to cover the FMA latency on every supported core). Returns the floating
// point operations done and writes a value depending on all chains to *sink, so nothing is
// optimised away.
template <class Arch>
struct FmaPeakF32 {
  static double run(std::int64_t iterations, float* sink);
};

// The entries one architecture implements, by name; the others stay null and fall back to the
// level below (dispatch.cpp). A constant expression, so a table defined with it in a per-ISA TU
// is constant-initialised: no code of that TU runs before the CPU has been checked.
template <class Arch>
constexpr F32Kernels f32_table() {
  F32Kernels k{};
  k.conv2d = &Conv2dF32<Arch>::run;
  k.conv2d_scratch_bytes = &Conv2dF32<Arch>::scratch_bytes;
  k.linear = &LinearF32<Arch>::run;
  k.linear_scratch_bytes = &LinearF32<Arch>::scratch_bytes;
  k.clamp = &ClampF32<Arch>::run;
  k.add = &AddF32<Arch>::run;
  k.channel_affine = &ChannelAffineF32<Arch>::run;
  k.max_pool2d = &MaxPool2dF32<Arch>::run;
  k.avg_pool2d = &AvgPool2dF32<Arch>::run;
  k.global_avg_pool = &GlobalAvgPoolF32<Arch>::run;
  k.add_channel_moments = &AddChannelMomentsF32<Arch>::run;
  return k;
}

// One table per compiled instruction set (defined in f32_<isa>.cpp; dispatch.cpp knows which
// exist from the LSUV_KERNELS_<ISA> macros the build sets).
extern const F32Kernels kF32KernelsSse2;
extern const F32Kernels kF32KernelsAvx2;
extern const F32Kernels kF32KernelsAvx512;
extern const F32Kernels kF32KernelsNeon;
extern const FmaPeakLoop kFmaPeakSse2;
extern const FmaPeakLoop kFmaPeakAvx2;
extern const FmaPeakLoop kFmaPeakAvx512;
extern const FmaPeakLoop kFmaPeakNeon;

}  // namespace lsuv::kernels::simd
