// The int8 conv2d and linear of the neon level (armv7 NEON and aarch64) with vmull_s8 and
// vpadalq_s16; on aarch64 with the dot product, i8_dispatch.cpp picks i8_neon_dot.cpp's instead.
#include "kernels/simd/i8_neon.hpp"
#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_tables.hpp"

namespace lsuv::kernels::simd {
extern const I8Kernels kI8KernelsNeon = i8_dense_table<I8Neon>();
}  // namespace lsuv::kernels::simd
