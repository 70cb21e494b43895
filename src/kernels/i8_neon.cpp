// The int8 kernels of the neon level (armv7 NEON and aarch64; every entry but clamp): conv2d and
// linear with vmull_s8 and vpadalq_s16, add and pooling. On aarch64 with the dot product,
// i8_dispatch.cpp lays i8_neon_dot.cpp's conv2d and linear over these.
#include "kernels/simd/i8_neon.hpp"
#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_pool_add.hpp"
#include "kernels/simd/i8_pool_add_neon.hpp"
#include "kernels/simd/i8_tables.hpp"

namespace lsuv::kernels::simd {
extern const I8Kernels kI8KernelsNeon = with_pool_add<I8PoolAddNeon>(i8_dense_table<I8Neon>());
}  // namespace lsuv::kernels::simd
