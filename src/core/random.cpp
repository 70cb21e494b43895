#include "core/random.hpp"

#include <cmath>
#include <cstring>
#include <limits>

namespace lsuv::detail {
namespace {

constexpr std::uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;

// ln 2 split so that e * kLn2High is exact for any double exponent e (its low 32 bits are 0).
constexpr double kLn2High = 6.93147180369123816490e-01;
constexpr double kLn2Low = 1.90821492927058770002e-10;
constexpr double kSqrt2 = 1.41421356237309504880;
constexpr double kTwoTo54 = 18014398509481984.0;

}  // namespace

std::uint64_t splitmix64(std::uint64_t seed, std::uint64_t index) {
  std::uint64_t z = seed + (index + 1) * kGoldenGamma;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

Pcg32::Pcg32(std::uint64_t seed, std::uint64_t stream) : increment_((stream << 1) | 1u) {
  next();
  state_ += seed;
  next();
}

float Pcg32::uniform_float() {
  return static_cast<float>(next() >> 8) * (1.0f / 16777216.0f);
}

Pcg32 stream_for(std::uint64_t seed, std::uint32_t stream_index) {
  const std::uint64_t first = 2 * static_cast<std::uint64_t>(stream_index);
  return Pcg32(splitmix64(seed, first), splitmix64(seed, first + 1));
}

double natural_log(double x) {
  if (!(x > 0.0)) {
    if (x == 0.0) return -std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();  // negative or NaN
  }
  if (x == std::numeric_limits<double>::infinity()) return x;

  std::int32_t exponent = 0;
  if (x < std::numeric_limits<double>::min()) {  // subnormal: scale into the normal range
    x *= kTwoTo54;
    exponent = -54;
  }
  std::uint64_t bits = 0;
  std::memcpy(&bits, &x, sizeof bits);
  exponent += static_cast<std::int32_t>((bits >> 52) & 0x7FF) - 1023;
  bits = (bits & 0x000FFFFFFFFFFFFFULL) | (0x3FFULL << 52);  // mantissa in [1, 2)
  double m = 0.0;
  std::memcpy(&m, &bits, sizeof m);
  if (m > kSqrt2) {  // centre the mantissa on 1: m in [sqrt(1/2), sqrt(2)]
    m *= 0.5;
    exponent += 1;
  }

  // ln m = 2 atanh(f) = 2 (f + f^3/3 + f^5/5 + ...), |f| <= 0.1716 so f^2 <= 0.0295; the terms
  // kept reach f^21/21 and the first omitted one is below 2^-60 relative. m - 1 is exact.
  const double f = (m - 1.0) / (m + 1.0);
  const double w = f * f;
  double series = 1.0 / 21.0;
  for (int k = 9; k >= 1; --k) series = series * w + 1.0 / static_cast<double>(2 * k + 1);
  const double two_f = 2.0 * f;
  const double e = static_cast<double>(exponent);
  return e * kLn2High + (two_f + (two_f * w * series + e * kLn2Low));
}

double GaussianSampler::next() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  constexpr double kTwoToMinus31 = 1.0 / 2147483648.0;
  double u = 0.0, v = 0.0, s = 0.0;
  do {
    // Uniform on [-1, 1) with 32 bits each: exact in double.
    u = static_cast<double>(rng_.next()) * kTwoToMinus31 - 1.0;
    v = static_cast<double>(rng_.next()) * kTwoToMinus31 - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  const double factor = std::sqrt(-2.0 * natural_log(s) / s);
  spare_ = v * factor;
  has_spare_ = true;
  return u * factor;
}

}  // namespace lsuv::detail
