#include "lsuv/running_stats.hpp"

#include <cmath>

#include "core/channel_moments.hpp"
#include "kernels/dispatch.hpp"

namespace lsuv {
namespace {
// Long enough to amortise the merge, short enough that a block stays in L1.
constexpr std::size_t kBlock = 1024;
// Channels whose moments add_per_channel keeps on the stack at once (1.5 KB).
constexpr std::size_t kChannelChunk = 64;
}  // namespace

void RunningStats::add(double x) {
  ++count_;
  const double delta = x - mean_;
  mean_ += delta / static_cast<double>(count_);
  m2_ += delta * (x - mean_);
}

void RunningStats::add(const float* data, std::size_t n) {
  for (std::size_t start = 0; start < n; start += kBlock) {
    const std::size_t length = n - start < kBlock ? n - start : kBlock;
    kernels::ChannelMoments block;
    kernels::f32_kernels().add_channel_moments(data + start, length, 1, &block);
    merge(from_moments(block.count, block.mean, block.m2));
  }
}

void RunningStats::merge(const RunningStats& other) {
  if (other.count_ == 0) return;
  if (count_ == 0) {
    *this = other;
    return;
  }
  const double a = static_cast<double>(count_);
  const double b = static_cast<double>(other.count_);
  const double total = a + b;
  const double delta = other.mean_ - mean_;
  mean_ += delta * (b / total);
  m2_ += other.m2_ + delta * delta * (a * b / total);
  count_ += other.count_;
}

double RunningStats::variance() const {
  return count_ > 0 ? m2_ / static_cast<double>(count_) : 0.0;
}

double RunningStats::sample_variance() const {
  return count_ > 1 ? m2_ / static_cast<double>(count_ - 1) : 0.0;
}

double RunningStats::stddev() const {
  return std::sqrt(sample_variance());
}

RunningStats RunningStats::from_moments(std::uint64_t count, double mean, double m2) {
  RunningStats stats;
  stats.count_ = count;
  stats.mean_ = count > 0 ? mean : 0.0;
  stats.m2_ = count > 0 ? m2 : 0.0;
  return stats;
}

void merge_moments(const kernels::ChannelMoments* moments, std::size_t channels,
                   RunningStats* stats) {
  for (std::size_t c = 0; c < channels; ++c)
    stats[c].merge(RunningStats::from_moments(moments[c].count, moments[c].mean, moments[c].m2));
}

// Up to kChannelChunk channels go through the kernel at once. Wider data is taken a chunk of
// channels at a time, row by row (each row's values merged with Chan's formula): slower, as
// exact, and within a fixed stack frame.
void add_per_channel(const float* data, std::size_t rows, std::size_t channels,
                     RunningStats* stats) {
  const kernels::F32Kernels& k = kernels::f32_kernels();
  kernels::ChannelMoments moments[kChannelChunk];
  if (channels <= kChannelChunk) {
    k.add_channel_moments(data, rows, channels, moments);
    merge_moments(moments, channels, stats);
    return;
  }
  for (std::size_t c0 = 0; c0 < channels; c0 += kChannelChunk) {
    const std::size_t width = channels - c0 < kChannelChunk ? channels - c0 : kChannelChunk;
    for (std::size_t c = 0; c < width; ++c) moments[c] = {};
    for (std::size_t r = 0; r < rows; ++r)
      k.add_channel_moments(data + r * channels + c0, 1, width, moments);
    merge_moments(moments, width, stats + c0);
  }
}

}  // namespace lsuv
