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

RunningStats block_moments(std::uint64_t count, float shift, float sum, float sum_squares) {
  const double n = static_cast<double>(count);
  const double s1 = sum;
  // Rounding can leave the difference slightly negative; a NaN must stay NaN.
  const double m2 = static_cast<double>(sum_squares) - s1 * s1 / n;
  return RunningStats::from_moments(count, shift + s1 / n, m2 < 0.0 ? 0.0 : m2);
}

void output_stage_f32_ref(float* data, std::size_t rows, std::size_t channels,
                          const OutputStage& stage) {
  if (stage.channel_stats != nullptr) {
    const std::size_t block_rows = static_cast<std::size_t>(kMomentBlockRows);
    for (std::size_t first = 0; first < rows; first += block_rows) {
      const std::size_t n = rows - first < block_rows ? rows - first : block_rows;
      const float* block = data + first * channels;
      for (std::size_t c = 0; c < channels; ++c) {
        const float shift = block[c];
        float sum = 0.0f;
        float sum_squares = 0.0f;
        for (std::size_t r = 0; r < n; ++r) {
          const float d = block[r * channels + c] - shift;
          sum += d;
          sum_squares += d * d;
        }
        stage.channel_stats[c].merge(block_moments(n, shift, sum, sum_squares));
      }
    }
  }
  if (stage.relu) relu_f32_ref(rows * channels, data, data);
}

}  // namespace lsuv::kernels
