// The float kernels for xsimd::sse2; this TU alone is compiled with its flags (see meson.build).
#include "kernels/simd/f32_kernels_impl.hpp"

LSUV_INSTANTIATE_F32_KERNELS(xsimd::sse2);

namespace lsuv::kernels::simd {
extern const F32Kernels kF32KernelsSse2 = f32_table<xsimd::sse2>();
extern const FmaPeakLoop kFmaPeakSse2 = &FmaPeakF32<xsimd::sse2>::run;
}  // namespace lsuv::kernels::simd
