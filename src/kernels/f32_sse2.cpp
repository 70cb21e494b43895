// The float kernels for xsimd::sse2; this TU alone is compiled with its flags (see meson.build).
#include "kernels/simd/backward_impl.hpp"
#include "kernels/simd/backward_tables.hpp"
#include "kernels/simd/f32_kernels_impl.hpp"

LSUV_INSTANTIATE_F32_KERNELS(xsimd::sse2);
LSUV_INSTANTIATE_F32_BACKWARD(xsimd::sse2);

namespace lsuv::kernels::simd {
extern const F32Kernels kF32KernelsSse2 = f32_table<xsimd::sse2>();
extern const FmaPeakLoop kFmaPeakSse2 = &FmaPeakF32<xsimd::sse2>::run;
extern const F32BackwardKernels kF32BackwardSse2 = f32_backward_table<xsimd::sse2>();
}  // namespace lsuv::kernels::simd
