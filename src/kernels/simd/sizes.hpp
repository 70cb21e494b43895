// Small constant-expression helpers the SIMD kernels share for sizes and scratch offsets.
#pragma once

#include <cstddef>

#include "kernels/params.hpp"

namespace lsuv::kernels::simd {
namespace {

template <class T>
constexpr T min_of(T a, T b) {
  return a < b ? a : b;
}
template <class T>
constexpr T max_of(T a, T b) {
  return a < b ? b : a;
}

// bytes rounded up to whole kScratchAlignment units (every scratch piece starts aligned).
constexpr std::size_t align_up(std::size_t bytes) {
  return (bytes + kScratchAlignment - 1) / kScratchAlignment * kScratchAlignment;
}

}  // namespace
}  // namespace lsuv::kernels::simd
