// The int8 kernels of the avx2 level (every entry but clamp, which falls back to the reference;
// the avx512 level keeps these add and pooling kernels, with or without VNNI, and all of them
// without VNNI): the indirect convolution (i8_avx2_conv.hpp) where it applies, the im2col GEMM
// otherwise. This TU alone is compiled with -mavx2 -mfma (see meson.build).
#include "kernels/simd/i8_avx2_conv.hpp"
#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_pool_add.hpp"
#include "kernels/simd/i8_pool_add_x86.hpp"
#include "kernels/simd/i8_tables.hpp"
#include "kernels/simd/i8_x86.hpp"

namespace lsuv::kernels::simd {
extern const I8Kernels kI8KernelsAvx2 =
    with_pool_add<I8PoolAddAvx2>(i8_indirect_table<I8Avx2, &conv2d_i8_avx2_applies, &conv2d_i8_avx2,
                                                   &conv2d_i8_avx2_scratch_bytes>());
}  // namespace lsuv::kernels::simd
