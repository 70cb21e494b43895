// The float kernels for xsimd::neon64; this TU alone is compiled with its flags (see meson.build).
#include "kernels/simd/backward_impl.hpp"
#include "kernels/simd/backward_tables.hpp"
#include "kernels/simd/f32_kernels_impl.hpp"

LSUV_INSTANTIATE_F32_KERNELS(xsimd::neon64);
LSUV_INSTANTIATE_F32_BACKWARD(xsimd::neon64);

namespace lsuv::kernels::simd {
extern const F32Kernels kF32KernelsNeon = f32_table<xsimd::neon64>();
extern const FmaPeakLoop kFmaPeakNeon = &FmaPeakF32<xsimd::neon64>::run;
extern const F32BackwardKernels kF32BackwardNeon = f32_backward_table<xsimd::neon64>();
}  // namespace lsuv::kernels::simd
