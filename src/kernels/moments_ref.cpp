#include <cassert>

#include "kernels/reference.hpp"

namespace lsuv::kernels {

// Two passes in double over each channel's column (mean, then squared deviations from it):
// exact to double rounding, and free of the cancellation that sum / sum-of-squares suffers
// when the mean is large against the spread. Blocks of rows are merged with Chan's formula.
void add_channel_moments_f32_ref(const float* data, std::size_t rows, std::size_t channels,
                                 ChannelMoments* moments) {
  assert(channels > 0 && moments != nullptr);
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
      merge_moments(moments[c], {n, mean, m2});
    }
  }
}

void merge_moments(ChannelMoments& into, const ChannelMoments& other) {
  if (other.count == 0) return;
  if (into.count == 0) {
    into = other;
    return;
  }
  const double a = static_cast<double>(into.count);
  const double b = static_cast<double>(other.count);
  const double total = a + b;
  const double delta = other.mean - into.mean;
  into.mean += delta * (b / total);
  into.m2 += other.m2 + delta * delta * (a * b / total);
  into.count += other.count;
}

ChannelMoments block_moments(std::uint64_t count, float shift, float sum, float sum_squares) {
  const double n = static_cast<double>(count);
  const double s1 = sum;
  // Rounding can leave the difference slightly negative; a NaN must stay NaN.
  const double m2 = static_cast<double>(sum_squares) - s1 * s1 / n;
  return {count, shift + s1 / n, m2 < 0.0 ? 0.0 : m2};
}

void epilogue_f32_ref(float* data, std::size_t rows, std::size_t channels,
                      const F32Epilogue& epilogue) {
  if (epilogue.moments != nullptr) {
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
        merge_moments(epilogue.moments[c], block_moments(n, shift, sum, sum_squares));
      }
    }
  }
  if (clamps(epilogue))
    clamp_f32_ref(rows * channels, data, data, epilogue.clamp_min, epilogue.clamp_max);
}

}  // namespace lsuv::kernels
