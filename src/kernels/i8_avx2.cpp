// The int8 kernels of the avx2 level (every entry but clamp, which falls back to the reference;
// the avx512 level keeps these add and pooling kernels, with or without VNNI, and all of them
// without VNNI): conv2d takes Winograd's F(2x2, 3x3) for 3x3 stride-1 layers
// (i8_avx2_winograd.hpp), the indirect convolution (i8_avx2_conv.hpp) for the other one-group
// layers and the im2col GEMM otherwise. This TU alone is compiled with -mavx2 -mfma (see
// meson.build).
#include <cstddef>
#include <cstdint>

#include "kernels/simd/i8_avx2_conv.hpp"
#include "kernels/simd/i8_avx2_winograd.hpp"
#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_pool_add.hpp"
#include "kernels/simd/i8_pool_add_x86.hpp"
#include "kernels/simd/i8_tables.hpp"
#include "kernels/simd/i8_x86.hpp"

namespace lsuv::kernels::simd {
namespace {

// Winograd's conditions are the indirect convolution's and more.
void conv2d_avx2(const Conv2dParams& p, const std::int8_t* input, std::int32_t zero_point,
                 const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                 const I8Epilogue& e, void* scratch) {
  if (conv2d_i8_winograd_applies(p, e))
    conv2d_i8_winograd(p, input, zero_point, weights, bias, output, e, scratch);
  else
    conv2d_i8_avx2(p, input, zero_point, weights, bias, output, e, scratch);
}

std::size_t conv2d_avx2_scratch_bytes(const Conv2dParams& p) {
  const std::size_t direct = conv2d_i8_avx2_scratch_bytes(p);
  if (!conv2d_i8_winograd_applies(p, I8Epilogue())) return direct;
  return max_of(direct, conv2d_i8_winograd_scratch_bytes(p));
}

}  // namespace

extern const I8Kernels kI8KernelsAvx2 = with_pool_add<I8PoolAddAvx2>(
    i8_indirect_table<I8Avx2, &conv2d_i8_avx2_applies, &conv2d_avx2, &conv2d_avx2_scratch_bytes>());
}  // namespace lsuv::kernels::simd
