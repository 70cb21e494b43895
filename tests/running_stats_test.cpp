#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <initializer_list>
#include <random>
#include <vector>

#include "lsuv/running_stats.hpp"

namespace {

struct Reference {
  long double mean;
  long double variance;  // population
};

// Two passes in long double: the textbook definition.
template <class T>
Reference two_pass(const std::vector<T>& x) {
  long double sum = 0;
  for (T v : x) sum += v;
  const long double mean = sum / x.size();
  long double m2 = 0;
  for (T v : x) m2 += (v - mean) * (v - mean);
  return {mean, m2 / x.size()};
}

std::vector<float> gaussian_floats(std::size_t n, double mean, double std, unsigned seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> dist(mean, std);
  std::vector<float> x(n);
  for (float& v : x) v = static_cast<float>(dist(gen));
  return x;
}

}  // namespace

TEST_CASE("RunningStats matches a long-double two-pass reference, sample by sample and by block") {
  for (std::size_t n : {1u, 2u, 3u, 17u, 1023u, 1024u, 1025u, 5000u}) {
    const std::vector<float> x = gaussian_floats(n, 3.0, 2.0, static_cast<unsigned>(n));
    const Reference ref = two_pass(x);
    lsuv::RunningStats one_by_one;
    for (float v : x) one_by_one.add(v);
    lsuv::RunningStats blocked;
    blocked.add(x.data(), x.size());
    for (const lsuv::RunningStats* s : {&one_by_one, &blocked}) {
      CHECK(s->count() == n);
      CHECK(s->mean() == doctest::Approx(static_cast<double>(ref.mean)).epsilon(1e-12));
      CHECK(s->variance() ==
            doctest::Approx(static_cast<double>(ref.variance)).epsilon(1e-10).scale(1e-30));
    }
  }
}

TEST_CASE("RunningStats keeps 1e-6 relative variance on 1e6 samples with mean 1e4, std 1e-2") {
  const std::vector<float> x = gaussian_floats(1000000, 1e4, 1e-2, 7);
  const Reference ref = two_pass(x);
  REQUIRE(ref.variance > 0);
  lsuv::RunningStats welford;
  for (float v : x) welford.add(v);
  lsuv::RunningStats blocked;
  blocked.add(x.data(), x.size());
  for (const lsuv::RunningStats* s : {&welford, &blocked}) {
    const double relative =
        std::fabs(static_cast<double>((s->variance() - ref.variance) / ref.variance));
    CHECK(relative <= 1e-6);
    CHECK(std::fabs(s->mean() - static_cast<double>(ref.mean)) <= 1e-9);
  }
  // The naive formula this class exists to avoid: it loses most digits on this data.
  double sum = 0, squares = 0;
  for (float v : x) {
    sum += v;
    squares += static_cast<double>(v) * v;
  }
  const double naive = squares / x.size() - (sum / x.size()) * (sum / x.size());
  CHECK(std::fabs((naive - static_cast<double>(ref.variance)) / static_cast<double>(ref.variance)) >
        1e-3);
}

TEST_CASE("RunningStats merges agree to 1e-12 in any split and order") {
  const std::vector<float> x = gaussian_floats(10000, -5.0, 0.5, 11);
  lsuv::RunningStats whole;
  whole.add(x.data(), x.size());
  std::mt19937 gen(3);
  for (int trial = 0; trial < 20; ++trial) {
    // Random cut points, then merge the parts in a shuffled order.
    std::vector<std::size_t> cuts = {0, x.size()};
    for (int i = 0; i < 1 + trial % 7; ++i) cuts.push_back(gen() % x.size());
    std::sort(cuts.begin(), cuts.end());
    std::vector<lsuv::RunningStats> parts;
    for (std::size_t i = 0; i + 1 < cuts.size(); ++i) {
      lsuv::RunningStats part;
      part.add(x.data() + cuts[i], cuts[i + 1] - cuts[i]);
      parts.push_back(part);
    }
    std::shuffle(parts.begin(), parts.end(), gen);
    lsuv::RunningStats merged;
    for (const auto& part : parts) merged.merge(part);
    CHECK(merged.count() == whole.count());
    CHECK(merged.mean() == doctest::Approx(whole.mean()).epsilon(1e-12));
    CHECK(merged.m2() == doctest::Approx(whole.m2()).epsilon(1e-12));
  }
}

TEST_CASE("RunningStats edge cases: empty, single sample, NaN") {
  lsuv::RunningStats empty;
  CHECK(empty.count() == 0);
  CHECK(empty.variance() == 0.0);
  CHECK(empty.sample_variance() == 0.0);
  lsuv::RunningStats single;
  single.add(4.0);
  CHECK(single.mean() == 4.0);
  CHECK(single.sample_variance() == 0.0);
  lsuv::RunningStats merged = empty;
  merged.merge(single);
  CHECK(merged.mean() == 4.0);
  single.merge(empty);
  CHECK(single.count() == 1);
  const float with_nan[] = {1.0f, NAN, 2.0f};
  lsuv::RunningStats poisoned;
  poisoned.add(with_nan, 3);
  CHECK(std::isnan(poisoned.mean()));
}

TEST_CASE("add_per_channel gives each NHWC channel its own statistics") {
  // 5 channels go through the kernel at once; 150 (over its 64-channel stack chunk, not a
  // multiple of it) a chunk of channels at a time.
  for (const std::size_t channels : {std::size_t{5}, std::size_t{150}}) {
    CAPTURE(channels);
    const std::size_t rows = 777;
    std::vector<float> data(rows * channels);
    std::vector<std::vector<float>> columns(channels);
    std::mt19937 gen(5);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t c = 0; c < channels; ++c) {
        const float v = static_cast<float>(c) * 10.0f + dist(gen) * static_cast<float>(c + 1);
        data[r * channels + c] = v;
        columns[c].push_back(v);
      }
    std::vector<lsuv::RunningStats> stats(channels);
    lsuv::add_per_channel(data.data(), rows, channels, stats.data());
    for (std::size_t c = 0; c < channels; ++c) {
      const Reference ref = two_pass(columns[c]);
      CHECK(stats[c].count() == rows);
      CHECK(stats[c].mean() == doctest::Approx(static_cast<double>(ref.mean)).epsilon(1e-12));
      CHECK(stats[c].variance() ==
            doctest::Approx(static_cast<double>(ref.variance)).epsilon(1e-10));
    }
  }
}
