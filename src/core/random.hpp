// Deterministic random numbers: the same seed gives bit-identical values on every target.
//
// Integers come from PCG32 (O'Neill's XSH-RR output over a 64-bit LCG), seeded through
// SplitMix64. Floating point uses IEEE basic operations only (+ - * / and sqrt, which IEEE
// rounds exactly): no <random> distributions and no libm log/exp/sin/cos, whose last bits
// differ between C libraries and targets. Everything here that touches floating point is
// compiled in random.cpp with the library's -ffp-contract=off, so no FMA changes a rounding.
#pragma once

#include <cstdint>

namespace lsuv::detail {

// Output `index` (0-based) of the SplitMix64 sequence that starts at `seed`.
std::uint64_t splitmix64(std::uint64_t seed, std::uint64_t index);

class Pcg32 {
 public:
  // The reference pcg32_srandom: `stream` selects one of 2^63 independent sequences.
  Pcg32(std::uint64_t seed, std::uint64_t stream);

  std::uint32_t next() {
    const std::uint64_t old = state_;
    state_ = old * 6364136223846793005ULL + increment_;
    const auto xorshifted = static_cast<std::uint32_t>(((old >> 18) ^ old) >> 27);
    const auto rotation = static_cast<std::uint32_t>(old >> 59);
    return (xorshifted >> rotation) | (xorshifted << ((32u - rotation) & 31u));
  }
  // Uniform on [0, 1) with 24 random bits: every value is exactly representable.
  float uniform_float();
  // Uniform on [0, bound) for bound > 0, without modulo bias (the reference
  // pcg32_boundedrand: rejects the 2^32 mod bound lowest outputs).
  std::uint32_t bounded(std::uint32_t bound) {
    const std::uint32_t threshold = (0u - bound) % bound;
    for (;;) {
      const std::uint32_t value = next();
      if (value >= threshold) return value % bound;
    }
  }

  // The whole state, to save (a checkpoint) and continue bit-identically with restored().
  std::uint64_t state() const { return state_; }
  std::uint64_t increment() const { return increment_; }
  // The generator state() and increment() described; increment must be odd (as every
  // generator's is).
  static Pcg32 restored(std::uint64_t state, std::uint64_t increment) {
    Pcg32 rng;
    rng.state_ = state;
    rng.increment_ = increment;
    return rng;
  }

 private:
  Pcg32() = default;
  std::uint64_t state_ = 0;
  std::uint64_t increment_ = 0;
};

// The generator of parameter stream `stream_index` (a layer index) under `seed`: its state and
// stream come from SplitMix64 outputs 2 * stream_index and 2 * stream_index + 1, so each layer
// draws from its own sequence and re-initialising one never shifts another.
Pcg32 stream_for(std::uint64_t seed, std::uint32_t stream_index);

// Natural logarithm from IEEE basic operations: exponent split, then 2 atanh((m - 1) / (m + 1))
// by its series; within a few ulp of the exact value. log(0) = -inf, log(x < 0) = NaN.
double natural_log(double x);

// Standard normal samples by Marsaglia's polar method (pairs; the second is kept for the next
// call), in double.
class GaussianSampler {
 public:
  explicit GaussianSampler(Pcg32& rng) : rng_(rng) {}
  double next();

 private:
  Pcg32& rng_;
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace lsuv::detail
