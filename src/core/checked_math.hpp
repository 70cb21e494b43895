// Size arithmetic that reports overflow instead of wrapping.
#pragma once

#include <cstddef>

namespace lsuv::detail {

// *out = a * b; false when the product does not fit in size_t.
inline bool checked_multiply(std::size_t a, std::size_t b, std::size_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

}  // namespace lsuv::detail
