// The float kernels for xsimd::neon; this TU alone is compiled with its flags (see meson.build).
#include "kernels/simd/f32_kernels_impl.hpp"

LSUV_INSTANTIATE_F32_KERNELS(xsimd::neon);

namespace lsuv::kernels::simd {
extern const F32Kernels kF32KernelsNeon = f32_table<xsimd::neon>();
extern const FmaPeakLoop kFmaPeakNeon = &FmaPeakF32<xsimd::neon>::run;
}  // namespace lsuv::kernels::simd
