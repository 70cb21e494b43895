// RunningStats: streaming mean and variance that stays exact over any number of batches.
//
// State is (count, mean, M2) in double. add() is Welford's update; merge() is Chan et al.'s
// pairwise combination, so partial statistics from blocks, batches or threads combine in any
// order. Unlike sum / sum-of-squares it does not cancel catastrophically when the mean is large
// against the spread (mean 1e4, std 1e-2 is in the tests).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lsuv {

class RunningStats {
 public:
  void add(double x);
  // Adds n floats. Exact to double rounding: each block of the input is reduced two-pass in
  // double, then merged.
  void add(const float* data, std::size_t n);
  void merge(const RunningStats& other);
  void reset() { *this = RunningStats(); }

  std::uint64_t count() const { return count_; }
  double mean() const { return mean_; }
  double m2() const { return m2_; }
  // Population variance (divides by n); 0 for fewer than one sample.
  double variance() const;
  // Sample variance (divides by n - 1, as torch.Tensor.var); 0 for fewer than two samples.
  double sample_variance() const;
  // Sample standard deviation, as torch.Tensor.std.
  double stddev() const;

  // Builds a state from its parts (count, mean, M2); used by block reductions.
  static RunningStats from_moments(std::uint64_t count, double mean, double m2);

 private:
  std::uint64_t count_ = 0;
  double mean_ = 0.0;
  double m2_ = 0.0;
};

// Per-channel statistics of NHWC data: `rows` pixels of `channels` values each; stats[c]
// receives channel c. Statistics of a whole tensor: RunningStats::add(data, n).
void add_per_channel(const float* data, std::size_t rows, std::size_t channels,
                     RunningStats* stats);

}  // namespace lsuv
