// The int8 conv2d and linear of aarch64's neon level on a CPU with the dot-product instructions
// (FEAT_DotProd: i8_dispatch.cpp checks HWCAP_ASIMDDP). sdot sums four signed byte products into
// each int32 lane (4 * 16384 at most: exact); activations stay raw as in the vmull policy.
//
// The instructions are enabled for this TU by the pragma below, not by -march=armv8.2-a+dotprod
// on its command line: a build's -mcpu (the aarch64 cross file's -mcpu=cortex-a53) conflicts
// with -march, GCC warns and keeps the -mcpu target, which has no sdot. GCC 12 does not define
// __ARM_FEATURE_DOTPROD under the pragma, so the build compiles this TU on aarch64 only.
#pragma GCC target("arch=armv8.2-a+dotprod")

#include <arm_neon.h>

#include <cstdint>

#include "kernels/simd/i8_gemm.hpp"
#include "kernels/simd/i8_neon.hpp"
#include "kernels/simd/i8_tables.hpp"

namespace lsuv::kernels::simd {
namespace {

// A 4 x 16 tile (16 accumulators of 4 columns): the panel holds byte quads of k per column,
// 64 bytes per quad step; each 16-byte load of a row feeds four steps through the lane form.
struct I8NeonDot : I8NeonCommon {
  static constexpr std::int32_t kRows = 4;
  static constexpr std::int32_t kCols = 16;
  static constexpr std::int32_t kGroup = 4;
  static constexpr std::int32_t kAlignK = 16;

  template <int Lane>
  static void step(int32x4_t (&c)[kRows][4], const int8x16_t (&x)[kRows], const Weight* panel) {
    int8x16_t w[4];
    for (int v = 0; v < 4; ++v) w[v] = vld1q_s8(panel + 16 * v);
    for (std::int32_t r = 0; r < kRows; ++r)
      for (int v = 0; v < 4; ++v) c[r][v] = vdotq_laneq_s32(c[r][v], w[v], x[r], Lane);
  }

  static void tile(const Row* rows, std::int32_t kpad, const Weight* panel, std::int32_t* acc) {
    int32x4_t c[kRows][4];
    for (auto& row : c)
      for (int32x4_t& v : row) v = vdupq_n_s32(0);
    for (std::int32_t k = 0; k < kpad; k += 16) {
      int8x16_t x[kRows];
      for (std::int32_t r = 0; r < kRows; ++r)
        x[r] = vld1q_s8(rows + static_cast<std::size_t>(r) * kpad + k);
      step<0>(c, x, panel);
      step<1>(c, x, panel + 64);
      step<2>(c, x, panel + 128);
      step<3>(c, x, panel + 192);
      panel += 256;
    }
    for (std::int32_t r = 0; r < kRows; ++r)
      for (int v = 0; v < 4; ++v) vst1q_s32(acc + r * kCols + 4 * v, c[r][v]);
  }
};

}  // namespace

extern const I8Kernels kI8KernelsNeonDot = i8_dense_table<I8NeonDot>();

}  // namespace lsuv::kernels::simd
