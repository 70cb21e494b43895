// x * y + z (float or double) rounded once, where the level has a fused multiply-add. xsimd 8.1 has
// none for AVX-512 (its generic fma is a multiply and an add, which the library's -ffp-contract=off
// keeps apart: half the FMA peak and two roundings), so AVX-512 calls the instruction itself; every
// other level goes through xsimd::fma (fused on AVX2 with FMA and on NEON with VFPv4, a multiply
// and an add on SSE2).
#pragma once

#include <type_traits>

#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {

template <class T, class Arch>
inline xsimd::batch<T, Arch> fmadd(const xsimd::batch<T, Arch>& x, const xsimd::batch<T, Arch>& y,
                                   const xsimd::batch<T, Arch>& z) {
  static_assert(std::is_same<T, float>::value || std::is_same<T, double>::value);
#if defined(__AVX512F__)
  if constexpr (std::is_base_of<xsimd::avx512f, Arch>::value) {
    if constexpr (std::is_same<T, float>::value)
      return _mm512_fmadd_ps(x, y, z);
    else
      return _mm512_fmadd_pd(x, y, z);
  }
#endif
  return xsimd::fma(x, y, z);
}

}  // namespace lsuv::kernels::simd
