// The 8-float vectors a 16-float level uses where its own would be mostly idle (few channels):
// on AVX-512, AVX2's (the TU is also compiled with -mavx2 -mfma, and AVX-512VL gives those
// vectors the 32-register file). Every other level narrows to itself.
//
// Included only by per-ISA TUs' headers; internal linkage.
#pragma once

#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {
namespace {

template <class Arch>
struct NarrowArch {
  using type = Arch;
};
#if defined(__AVX512F__)
template <>
struct NarrowArch<xsimd::avx512bw> {
  using type = xsimd::fma3<xsimd::avx2>;
};
#endif

}  // namespace
}  // namespace lsuv::kernels::simd
