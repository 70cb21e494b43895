// The float kernels for xsimd::avx512bw (F, CD, DQ and BW; the build adds VL); this TU alone is
// compiled with its flags (see meson.build).
#include "kernels/simd/backward_impl.hpp"
#include "kernels/simd/backward_tables.hpp"
#include "kernels/simd/f32_kernels_impl.hpp"

LSUV_INSTANTIATE_F32_KERNELS(xsimd::avx512bw);
LSUV_INSTANTIATE_F32_BACKWARD(xsimd::avx512bw);

namespace lsuv::kernels::simd {
extern const F32Kernels kF32KernelsAvx512 = f32_table<xsimd::avx512bw>();
extern const FmaPeakLoop kFmaPeakAvx512 = &FmaPeakF32<xsimd::avx512bw>::run;
extern const F32BackwardKernels kF32BackwardAvx512 = f32_backward_table<xsimd::avx512bw>();
}  // namespace lsuv::kernels::simd
