// The int8 kernels of the avx2 level (conv2d and linear; the rest falls back to the reference);
// this TU alone is compiled with -mavx2 -mfma (see meson.build).
#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_tables.hpp"
#include "kernels/simd/i8_x86.hpp"

namespace lsuv::kernels::simd {
extern const I8Kernels kI8KernelsAvx2 = i8_dense_table<I8Avx2>();
}  // namespace lsuv::kernels::simd
