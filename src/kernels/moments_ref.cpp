#include <cassert>

#include "kernels/reference.hpp"

namespace lsuv::kernels {

// Two passes in double over each channel's column (mean, then squared deviations from it):
// exact to double rounding, and free of the cancellation that sum / sum-of-squares suffers
// when the mean is large against the spread. Blocks of rows are merged with Chan's formula.
void add_channel_moments_f32_ref(const float* data, std::size_t rows, std::size_t channels,
                                 RunningStats* stats) {
  assert(channels > 0 && stats != nullptr);
  constexpr std::size_t kBlockRows = 256;
  for (std::size_t first = 0; first < rows; first += kBlockRows) {
    const std::size_t n = rows - first < kBlockRows ? rows - first : kBlockRows;
    const float* block = data + first * channels;
    for (std::size_t c = 0; c < channels; ++c) {
      double sum = 0.0;
      for (std::size_t r = 0; r < n; ++r) sum += block[r * channels + c];
      const double mean = sum / static_cast<double>(n);
      double m2 = 0.0;
      for (std::size_t r = 0; r < n; ++r) {
        const double d = block[r * channels + c] - mean;
        m2 += d * d;
      }
      stats[c].merge(RunningStats::from_moments(n, mean, m2));
    }
  }
}

}  // namespace lsuv::kernels
