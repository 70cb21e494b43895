#include "kernels/fixed_point.hpp"

#include <cassert>
#include <cmath>
#include <cstdint>

namespace lsuv::kernels {

QuantizedMultiplier quantize_multiplier(double real) {
  assert(std::isfinite(real) && real >= 0.0);
  if (real == 0.0) return {0, 0};
  int shift = 0;
  const double q = std::frexp(real, &shift);
  std::int64_t fixed = static_cast<std::int64_t>(std::round(q * static_cast<double>(1LL << 31)));
  assert(fixed <= (1LL << 31));
  if (fixed == (1LL << 31)) {
    fixed /= 2;
    ++shift;
  }
  if (shift < -31) return {0, 0};
  if (shift > 30) return {kInt32Max, 30};
  return {static_cast<std::int32_t>(fixed), shift};
}

double dequantize_multiplier(QuantizedMultiplier q) {
  return std::ldexp(static_cast<double>(q.multiplier), q.shift - 31);
}

}  // namespace lsuv::kernels
