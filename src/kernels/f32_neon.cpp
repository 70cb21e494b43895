// The float kernels for xsimd::neon; this TU alone is compiled with its flags (see meson.build).
#include "kernels/simd/backward_impl.hpp"
#include "kernels/simd/backward_tables.hpp"
#include "kernels/simd/f32_kernels_impl.hpp"

LSUV_INSTANTIATE_F32_KERNELS(xsimd::neon);
LSUV_INSTANTIATE_F32_BACKWARD(xsimd::neon);

namespace lsuv::kernels::simd {
extern const F32Kernels kF32KernelsNeon = f32_table<xsimd::neon>();
extern const FmaPeakLoop kFmaPeakNeon = &FmaPeakF32<xsimd::neon>::run;
extern const F32BackwardKernels kF32BackwardNeon = f32_backward_table<xsimd::neon>();
}  // namespace lsuv::kernels::simd
