// The float kernels for xsimd::fma3<xsimd::avx2>; this TU alone is compiled with its flags (see
// meson.build).
#include "kernels/simd/backward_impl.hpp"
#include "kernels/simd/backward_tables.hpp"
#include "kernels/simd/f32_kernels_impl.hpp"

LSUV_INSTANTIATE_F32_KERNELS(xsimd::fma3<xsimd::avx2>);
LSUV_INSTANTIATE_F32_BACKWARD(xsimd::fma3<xsimd::avx2>);

namespace lsuv::kernels::simd {
extern const F32Kernels kF32KernelsAvx2 = f32_table<xsimd::fma3<xsimd::avx2>>();
extern const FmaPeakLoop kFmaPeakAvx2 = &FmaPeakF32<xsimd::fma3<xsimd::avx2>>::run;
extern const F32BackwardKernels kF32BackwardAvx2 = f32_backward_table<xsimd::fma3<xsimd::avx2>>();
}  // namespace lsuv::kernels::simd
