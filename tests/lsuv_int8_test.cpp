// LSUV in fixed point (lsuv/lsuv_int8.hpp): on the int8 seed model it reaches the per-layer
// statistics float LSUV followed by quantisation reaches, streams its batches exactly, reports
// the same bits at every CPU level, and leaves the model as it was whenever it fails.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "graph_models.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/lsuv_int8.hpp"
#include "lsuv/seed_model.hpp"
#include "quantized_support.hpp"

namespace {

using lsuv::LsuvLayerStatus;
using lsuv::Status;

constexpr lsuv::ImageShape kInput = {12, 12, 1};
constexpr std::int32_t kBatch = 8;
constexpr std::int32_t kImages = 2 * kBatch;

// Everything int8 LSUV may change (and the weights it must not), in comparable vectors.
struct Saved {
  std::vector<float> scales;        // output scales, then weight scales
  std::vector<std::int32_t> codes;  // zero points and clamp codes, then bias, multipliers, shifts
  std::vector<std::int8_t> weights;

  bool operator==(const Saved& o) const {
    return scales.size() == o.scales.size() &&
           std::memcmp(scales.data(), o.scales.data(), scales.size() * sizeof(float)) == 0 &&
           codes == o.codes && weights == o.weights;
  }
};

Saved save(const lsuv::QuantizedModel& q) {
  Saved s;
  for (std::int32_t i = 0; i < q.layer_count(); ++i) {
    const lsuv::QuantizedLayer& l = q.layer(i);
    s.scales.push_back(l.output_quant.scale);
    s.codes.insert(s.codes.end(), {l.output_quant.zero_point, l.output_min, l.output_max,
                                   l.add_output_multiplier, l.add_output_shift});
    for (const std::int32_t* a : {l.add_multiplier, l.add_shift})
      s.codes.insert(s.codes.end(), a, a + lsuv::LayerSpec::kMaxInputs);
    s.scales.insert(s.scales.end(), l.weight_scale, l.weight_scale + l.channels);
    for (const std::int32_t* a : {l.bias, l.multiplier, l.shift})
      s.codes.insert(s.codes.end(), a, a + l.channels);
    s.weights.insert(s.weights.end(), l.weights, l.weights + l.weight_count);
  }
  return s;
}

void restore(lsuv::QuantizedModel& q, const Saved& s) {
  std::size_t f = 0, c = 0, w = 0;
  for (std::int32_t i = 0; i < q.layer_count(); ++i) {
    lsuv::QuantizedLayer& l = q.mutable_layer(i);
    l.output_quant.scale = s.scales[f++];
    l.output_quant.zero_point = s.codes[c++];
    l.output_min = s.codes[c++];
    l.output_max = s.codes[c++];
    l.add_output_multiplier = s.codes[c++];
    l.add_output_shift = s.codes[c++];
    for (std::int32_t* a : {l.add_multiplier, l.add_shift})
      for (std::int32_t k = 0; k < lsuv::LayerSpec::kMaxInputs; ++k) a[k] = s.codes[c++];
    for (std::int32_t o = 0; o < l.channels; ++o) l.weight_scale[o] = s.scales[f++];
    for (std::int32_t* a : {l.bias, l.multiplier, l.shift})
      for (std::int32_t o = 0; o < l.channels; ++o) a[o] = s.codes[c++];
    for (std::size_t k = 0; k < l.weight_count; ++k) l.weights[k] = s.weights[w++];
  }
}

struct Run {
  Status status = Status::ok;
  std::vector<lsuv::LsuvLayerReport> entries;
  lsuv::LsuvReport report;
};

Run int8_lsuv(lsuv::QuantizedModel& q, lsuv::BatchSource& source,
              const lsuv::LsuvOptions& options) {
  Run run;
  run.entries.resize(static_cast<std::size_t>(lsuv::lsuv_report_size(q, options)));
  run.report = lsuv::LsuvReport(run.entries.data(), static_cast<std::int32_t>(run.entries.size()));
  std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(q, source, options));
  REQUIRE(!scratch.empty());
  // The size is exact: an arena over a buffer aligned as the arena wants, exactly that big.
  std::vector<unsigned char> aligned(scratch.size() + lsuv::Arena::kAlignment);
  const std::size_t skew =
      reinterpret_cast<std::uintptr_t>(aligned.data()) % lsuv::Arena::kAlignment;
  unsigned char* start = aligned.data() + (skew == 0 ? 0 : lsuv::Arena::kAlignment - skew);
  lsuv::Arena arena(start, scratch.size());
  run.status = lsuv::lsuv_initialize(q, source, options, arena, &run.report);
  return run;
}

bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

bool same_reports(const Run& a, const Run& b) {
  if (a.report.count != b.report.count || a.report.images != b.report.images) return false;
  for (std::int32_t k = 0; k < a.report.count; ++k) {
    const lsuv::LsuvLayerReport& x = a.entries[static_cast<std::size_t>(k)];
    const lsuv::LsuvLayerReport& y = b.entries[static_cast<std::size_t>(k)];
    if (x.layer_index != y.layer_index || x.iterations != y.iterations || x.status != y.status ||
        !same_bits(x.mean_before, y.mean_before) || !same_bits(x.std_before, y.std_before) ||
        !same_bits(x.mean_after, y.mean_after) || !same_bits(x.std_after, y.std_after) ||
        !same_bits(x.channel_std_min_after, y.channel_std_min_after) ||
        !same_bits(x.channel_std_max_after, y.channel_std_max_after))
      return false;
  }
  return true;
}

std::vector<lsuv::RunningStats> accumulator_stats(lsuv::QuantizedModel& q,
                                                  lsuv::BatchSource& source) {
  std::vector<lsuv::RunningStats> stats(static_cast<std::size_t>(q.layer_count()));
  std::vector<unsigned char> scratch(lsuv::accumulator_statistics_scratch_bytes(q, source) +
                                     lsuv::Arena::kAlignment);
  lsuv::Arena arena(scratch.data(), scratch.size());
  REQUIRE(lsuv::accumulator_statistics(q, source, arena, stats.data()) == Status::ok);
  return stats;
}

struct Fixture {
  std::unique_ptr<lsuv_test::BoundModel> f;
  std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 21);
  lsuv::ArrayBatchSource source{images.data(), kImages, kInput, kBatch};
  std::unique_ptr<lsuv_test::BoundQuantized> q;

  Fixture() {
    f = lsuv_test::make_model(lsuv::kSeedLayers, lsuv::kSeedLayerCount, kInput, kImages);
    q = lsuv_test::quantized(f->model, source);
  }
};

}  // namespace

TEST_CASE("int8 LSUV on the int8 seed model matches float LSUV followed by quantisation") {
  for (const lsuv::LsuvVariant variant : {lsuv::LsuvVariant::seed, lsuv::LsuvVariant::paper}) {
    CAPTURE(lsuv::lsuv_variant_name(variant));
    Fixture x;
    lsuv::LsuvOptions options;
    options.variant = variant;
    const Saved untouched = save(x.q->model);
    const Run int8 = int8_lsuv(x.q->model, x.source, options);
    REQUIRE(int8.status == Status::ok);
    REQUIRE(int8.report.count == 5);
    CHECK(int8.report.batches == 2);
    CHECK(int8.report.images == kImages);
    CHECK_FALSE(int8.report.cached_inputs);
    CHECK(x.q->model.check_parameters() == Status::ok);
    const Saved after = save(x.q->model);
    CHECK(after.weights == untouched.weights);  // the int8 weights are never touched

    // Float LSUV on the same float model, then quantised on the same calibration data.
    std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(x.f->model, x.source, options) +
                                       lsuv::Arena::kAlignment);
    lsuv::Arena arena(scratch.data(), scratch.size());
    std::vector<lsuv::LsuvLayerReport> entries(5);
    lsuv::LsuvReport report(entries.data(), 5);
    REQUIRE(lsuv::lsuv_initialize(x.f->model, x.source, options, arena, &report) == Status::ok);
    auto q1 = lsuv_test::quantized(x.f->model, x.source);
    const std::vector<lsuv::RunningStats> then_quantised = accumulator_stats(q1->model, x.source);
    const std::vector<lsuv::RunningStats> int8_after = accumulator_stats(x.q->model, x.source);

    // Both models carry quantisation error into every layer's statistics, rounded differently:
    // each int8 activation is within half a step of its real value, a step being 1/255 of the
    // tensor's range (min/max of near-Gaussian activations: about 8 std, so a rounding error of
    // 0.9% of a std RMS per value), the weights likewise per channel. Over thousands of
    // accumulators that error is mostly independent of the signal and adds to the variance in
    // quadrature, so a std moves by well under 1% (measured: 0.55% at most over the five layers
    // and both variants); the means (targets 0, or the paper variant's untouched ones) are held
    // to the same 1% of a unit std.
    constexpr double kTolerance = 0.01;
    for (std::int32_t k = 0; k < 5; ++k) {
      const lsuv::LsuvLayerReport& a = int8.entries[static_cast<std::size_t>(k)];
      const lsuv::LsuvLayerReport& b = entries[static_cast<std::size_t>(k)];
      const lsuv::RunningStats& s = then_quantised[static_cast<std::size_t>(a.layer_index)];
      CAPTURE(a.layer_index);
      CHECK(a.layer_index == b.layer_index);
      CHECK(a.status == b.status);
      MESSAGE("int8 LSUV std before " << a.std_before << " after " << a.std_after << " mean after "
                                      << a.mean_after << "; float LSUV std before " << b.std_before
                                      << " after " << b.std_after << ", then quantised: std "
                                      << s.stddev() << " mean " << s.mean());
      CHECK(std::fabs(a.std_before / b.std_before - 1.0) < kTolerance);
      CHECK(std::fabs(a.std_after - s.stddev()) < kTolerance);
      CHECK(std::fabs(a.mean_after - s.mean()) < kTolerance);
      // The report's "after" is what the model computes now.
      const lsuv::RunningStats& now = int8_after[static_cast<std::size_t>(a.layer_index)];
      CHECK(std::fabs(now.stddev() - a.std_after) < kTolerance);
      if (variant == lsuv::LsuvVariant::seed) {
        // One exact step: only the rounding of the new int32 bias (half an accumulator unit)
        // and of the float weight scale stand between the after statistics and the target.
        CHECK(std::fabs(a.std_after - 1.0) < 1e-5);
        CHECK(std::fabs(a.mean_after) < 1e-3);
        CHECK(a.iterations == 1);
      } else if (a.status == LsuvLayerStatus::converged) {
        CHECK(std::fabs(a.std_after * a.std_after - 1.0) < options.tolerance);
      }
    }
  }
}

TEST_CASE("int8 LSUV: batches streamed one by one give the bits of one batch holding them all") {
  for (const bool per_channel : {false, true}) {
    CAPTURE(per_channel);
    Fixture x;
    const Saved start = save(x.q->model);
    lsuv::LsuvOptions options;
    options.per_channel = per_channel;
    const Run two = int8_lsuv(x.q->model, x.source, options);
    REQUIRE(two.status == Status::ok);
    const Saved streamed = save(x.q->model);
    restore(x.q->model, start);
    lsuv::ArrayBatchSource whole(x.images.data(), kImages, kInput, kImages);
    const Run one = int8_lsuv(x.q->model, whole, options);
    REQUIRE(one.status == Status::ok);
    CHECK(one.report.batches == 1);
    CHECK(two.report.batches == 2);
    CHECK(same_reports(one, two));
    CHECK(save(x.q->model) == streamed);
    CHECK_FALSE(streamed == start);
  }
}

TEST_CASE("int8 LSUV reports the same bits at every CPU level") {
  lsuv_test::LevelGuard guard;
  Fixture x;
  const Saved start = save(x.q->model);
  // Two small batches (the reference level is slow, above all under qemu): every kernel the
  // seed model runs, with its tails, and the moments carried from one batch to the next.
  lsuv::ArrayBatchSource few(x.images.data(), 6, kInput, 3);
  for (const lsuv::LsuvVariant variant : {lsuv::LsuvVariant::seed, lsuv::LsuvVariant::paper}) {
    lsuv::LsuvOptions options;
    options.variant = variant;
    options.per_channel = variant == lsuv::LsuvVariant::paper;
    options.max_iterations = 3;
    std::vector<Run> runs;
    std::vector<Saved> models;
    std::string levels;
    for (const lsuv::CpuLevel level : lsuv::kCpuLevels) {
      if (!lsuv::cpu_level_supported(level)) continue;
      REQUIRE(lsuv::set_cpu_level_limit(level) == Status::ok);
      restore(x.q->model, start);
      runs.push_back(int8_lsuv(x.q->model, few, options));
      REQUIRE(runs.back().status == Status::ok);
      models.push_back(save(x.q->model));
      levels += std::string(" ") + lsuv::cpu_level_name(level);
    }
    CAPTURE(levels);
    CAPTURE(lsuv::lsuv_variant_name(variant));
    for (std::size_t k = 1; k < runs.size(); ++k) {
      CHECK(same_reports(runs[k], runs[0]));
      CHECK(models[k] == models[0]);
    }
  }
}

TEST_CASE("int8 LSUV: a layer with zero variance is reported and left untouched") {
  Fixture x;
  // conv2's int8 weights all 0: its accumulators are its bias, constant in every channel.
  lsuv::QuantizedLayer& conv2 = x.q->model.mutable_layer(2);
  std::memset(conv2.weights, 0, conv2.weight_count);
  const Saved start = save(x.q->model);
  lsuv::LsuvOptions options;
  const Run refused = int8_lsuv(x.q->model, x.source, options);
  CHECK(refused.status == Status::zero_variance);
  CHECK(refused.entries[1].status == LsuvLayerStatus::zero_variance);
  CHECK(save(x.q->model) == start);  // conv1, normalised before it, is restored too

  options.skip_unnormalisable_layers = true;
  const Run skipped = int8_lsuv(x.q->model, x.source, options);
  REQUIRE(skipped.status == Status::ok);
  CHECK(skipped.entries[0].status == LsuvLayerStatus::converged);
  CHECK(skipped.entries[1].status == LsuvLayerStatus::zero_variance);
  CHECK(skipped.entries[1].std_before > 0.0);  // the biases differ between channels
  CHECK(skipped.entries[1].iterations == 0);
  // conv2 keeps its real parameters; what moves is its bias and multipliers, to conv1's new
  // output scale.
  const lsuv::QuantizedLayer& conv1 = x.q->model.layer(0);
  CHECK(conv1.output_quant.scale != start.scales[0]);
  CHECK(x.q->model.check_parameters() == Status::ok);
}

namespace {

// A source that fails with io_error from its `fail_at`-th read on.
class FailingSource final : public lsuv::BatchSource {
 public:
  FailingSource(lsuv::BatchSource& inner, int fail_at) : inner_(inner), fail_at_(fail_at) {}
  lsuv::ImageShape image_shape() const override { return inner_.image_shape(); }
  std::int32_t batch_count() const override { return inner_.batch_count(); }
  std::int32_t max_batch_size() const override { return inner_.max_batch_size(); }
  Status read(std::int32_t index, float* images, std::int32_t* count) override {
    return reads_++ >= fail_at_ ? Status::io_error : inner_.read(index, images, count);
  }

 private:
  lsuv::BatchSource& inner_;
  int fail_at_;
  int reads_ = 0;
};

}  // namespace

TEST_CASE("int8 LSUV: bad input is a status and leaves the model as it was") {
  Fixture x;
  const Saved start = save(x.q->model);
  const lsuv::LsuvOptions defaults;
  std::vector<unsigned char> memory(1 << 20);

  {  // a source failing in the middle of the run: conv2's first pass, after conv1 was rescaled
    FailingSource failing(x.source, 7);
    lsuv::Arena arena(memory.data(), memory.size());
    CHECK(lsuv::lsuv_initialize(x.q->model, failing, defaults, arena, nullptr) == Status::io_error);
  }
  {  // an arena one byte too small
    const std::size_t bytes = lsuv::lsuv_scratch_bytes(x.q->model, x.source, defaults);
    alignas(lsuv::Arena::kAlignment) static unsigned char buffer[1 << 16];
    REQUIRE(bytes < sizeof buffer);
    lsuv::Arena arena(buffer, bytes - 1);
    CHECK(lsuv::lsuv_initialize(x.q->model, x.source, defaults, arena, nullptr) ==
          Status::arena_too_small);
  }
  {  // images of another shape, batches larger than the model's
    lsuv::ArrayBatchSource wide(x.images.data(), kBatch, {12, 6, 2}, kBatch);
    lsuv::ArrayBatchSource large(x.images.data(), kImages, kInput, kImages + 1);
    lsuv::Arena arena(memory.data(), memory.size());
    CHECK(lsuv::lsuv_initialize(x.q->model, wide, defaults, arena, nullptr) ==
          Status::shape_mismatch);
    CHECK(lsuv::lsuv_initialize(x.q->model, large, defaults, arena, nullptr) ==
          Status::shape_mismatch);
  }
  {  // options out of range or not available in fixed point
    lsuv::Arena arena(memory.data(), memory.size());
    lsuv::LsuvOptions o;
    o.target_std = 0.0;
    CHECK(lsuv::lsuv_initialize(x.q->model, x.source, o, arena, nullptr) ==
          Status::invalid_argument);
    const std::int32_t pool = 8;  // not a conv2d or linear op
    o = defaults;
    o.layers = &pool;
    o.layer_count = 1;
    CHECK(lsuv::lsuv_initialize(x.q->model, x.source, o, arena, nullptr) ==
          Status::invalid_argument);
    o = defaults;
    o.orthonormal_preinit = true;
    CHECK(lsuv::lsuv_initialize(x.q->model, x.source, o, arena, nullptr) == Status::unsupported);
    o = defaults;
    o.cache = lsuv::LsuvCache::always;
    CHECK(lsuv::lsuv_initialize(x.q->model, x.source, o, arena, nullptr) == Status::unsupported);
    lsuv::LsuvLayerReport one;
    lsuv::LsuvReport small(&one, 1);
    CHECK(lsuv::lsuv_initialize(x.q->model, x.source, defaults, arena, &small) ==
          Status::invalid_argument);
  }
  {  // a model not bound
    lsuv::QuantizedModel unbound;
    lsuv::Arena arena(memory.data(), memory.size());
    CHECK(lsuv::lsuv_initialize(unbound, x.source, defaults, arena, nullptr) == Status::not_bound);
    CHECK(lsuv::lsuv_scratch_bytes(unbound, x.source, defaults) == 0);
  }
  CHECK(save(x.q->model) == start);
}

TEST_CASE("int8 LSUV normalises only the layers it is given") {
  Fixture x;
  const Saved start = save(x.q->model);
  lsuv::LsuvOptions options;
  const std::int32_t only = 4;  // conv3
  options.layers = &only;
  options.layer_count = 1;
  CHECK(lsuv::lsuv_report_size(x.q->model, options) == 1);
  const Run run = int8_lsuv(x.q->model, x.source, options);
  REQUIRE(run.status == Status::ok);
  REQUIRE(run.report.count == 1);
  CHECK(run.entries[0].layer_index == 4);
  CHECK(std::fabs(run.entries[0].std_after - 1.0) < 1e-5);
  // Ops before it are as they were; conv4 after it keeps its real parameters.
  const Saved now = save(x.q->model);
  const std::size_t op = 5 + 2 * lsuv::LayerSpec::kMaxInputs;  // each op's codes, then its channels'
  const std::size_t conv1_and_2 = op + 8 * 3 + op + op + 16 * 3 + op;
  CHECK(std::equal(now.codes.begin(), now.codes.begin() + conv1_and_2, start.codes.begin()));
}

namespace {

// The residual test network with its BatchNorms folded, and its quantisation on `source`.
struct ResidualFixture {
  static constexpr std::int32_t kImages = 16;
  std::unique_ptr<lsuv_test::BoundModel> f;
  std::vector<float> images = lsuv_test::gaussian_images(kImages, lsuv_test::kResidualInput, 5);
  lsuv::ArrayBatchSource source{images.data(), kImages, lsuv_test::kResidualInput, 8};
  std::unique_ptr<lsuv_test::BoundQuantized> q;

  ResidualFixture() {
    auto original = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                          lsuv_test::kResidualInput, kImages);
    f = lsuv_test::folded_copy(original->model);
    q = lsuv_test::quantized(f->model, source);
  }
};

}  // namespace

TEST_CASE("int8 LSUV on a residual network matches float LSUV followed by quantisation") {
  ResidualFixture x;
  const lsuv::LsuvOptions options;
  const Saved untouched = save(x.q->model);
  const Run int8 = int8_lsuv(x.q->model, x.source, options);
  REQUIRE(int8.status == Status::ok);
  CHECK(x.q->model.check_parameters() == Status::ok);
  CHECK(save(x.q->model).weights == untouched.weights);

  const std::int32_t entries = lsuv::lsuv_report_size(x.f->model, options);
  REQUIRE(entries == int8.report.count);
  std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(x.f->model, x.source, options) +
                                     lsuv::Arena::kAlignment);
  lsuv::Arena arena(scratch.data(), scratch.size());
  std::vector<lsuv::LsuvLayerReport> reported(static_cast<std::size_t>(entries));
  lsuv::LsuvReport report(reported.data(), entries);
  REQUIRE(lsuv::lsuv_initialize(x.f->model, x.source, options, arena, &report) == Status::ok);
  auto q1 = lsuv_test::quantized(x.f->model, x.source);
  const std::vector<lsuv::RunningStats> then_quantised = accumulator_stats(q1->model, x.source);
  const std::vector<lsuv::RunningStats> int8_after = accumulator_stats(x.q->model, x.source);

  // As on the seed model, 1% of a unit std, here with 16 small images: the adds' sums carry
  // the quantisation error of both inputs.
  constexpr double kTolerance = 0.01;
  for (std::int32_t k = 0; k < entries; ++k) {
    const lsuv::LsuvLayerReport& a = int8.entries[static_cast<std::size_t>(k)];
    const lsuv::LsuvLayerReport& b = reported[static_cast<std::size_t>(k)];
    const lsuv::RunningStats& s = then_quantised[static_cast<std::size_t>(a.layer_index)];
    CAPTURE(x.q->model.layer(a.layer_index).spec.name);
    CHECK(a.layer_index == b.layer_index);
    CHECK(a.status == b.status);
    if (a.status == LsuvLayerStatus::measured) {  // an add's output, as the float LSUV's
      CHECK(std::fabs(a.std_after / b.std_after - 1.0) < 2 * kTolerance);
      CHECK(std::fabs(a.mean_after - b.mean_after) < 2 * kTolerance * b.std_after);
      continue;
    }
    CHECK(std::fabs(a.std_before / b.std_before - 1.0) < kTolerance);
    CHECK(std::fabs(a.std_after - s.stddev()) < kTolerance);
    CHECK(std::fabs(a.mean_after - s.mean()) < kTolerance);
    CHECK(std::fabs(int8_after[static_cast<std::size_t>(a.layer_index)].stddev() - a.std_after) <
          kTolerance);
  }
  // Each add's output range followed its sum: it covers what quantising the float LSUV model
  // gives it, within mean -+ 3 std of the sum (the bulk, not clipped), at no more than twice that
  // model's step (resolution not wasted).
  const auto range = [](lsuv::QuantParams q, double* lo, double* hi) {
    *lo = static_cast<double>(q.scale) * (-128 - q.zero_point);
    *hi = static_cast<double>(q.scale) * (127 - q.zero_point);
  };
  std::int32_t adds = 0;
  for (std::int32_t i = 0; i < x.q->model.layer_count(); ++i) {
    if (x.q->model.layer(i).spec.kind != lsuv::LayerKind::add) continue;
    ++adds;
    CAPTURE(x.q->model.layer(i).spec.name);
    const lsuv::RunningStats& sum = then_quantised[static_cast<std::size_t>(i)];
    const lsuv::QuantParams mine = x.q->model.layer(i).output_quant;
    const lsuv::QuantParams theirs = q1->model.layer(i).output_quant;
    double lo = 0.0, hi = 0.0, their_lo = 0.0, their_hi = 0.0;
    range(mine, &lo, &hi);
    range(theirs, &their_lo, &their_hi);
    const double bulk_lo = std::max(their_lo, sum.mean() - 3.0 * sum.stddev());
    const double bulk_hi = std::min(their_hi, sum.mean() + 3.0 * sum.stddev());
    CHECK(lo <= bulk_lo + mine.scale);
    CHECK(hi >= bulk_hi - mine.scale);
    CHECK(mine.scale < 2.0 * theirs.scale);
  }
  CHECK(adds == 2);
}

TEST_CASE("int8 LSUV on a residual network: the same bits at every CPU level, and a failure "
          "changes nothing") {
  lsuv_test::LevelGuard guard;
  ResidualFixture x;
  const Saved start = save(x.q->model);
  std::vector<Saved> models;
  std::vector<Run> runs;
  for (const lsuv::CpuLevel level : lsuv::kCpuLevels) {
    if (!lsuv::cpu_level_supported(level)) continue;
    REQUIRE(lsuv::set_cpu_level_limit(level) == Status::ok);
    restore(x.q->model, start);
    runs.push_back(int8_lsuv(x.q->model, x.source, lsuv::LsuvOptions()));
    REQUIRE(runs.back().status == Status::ok);
    models.push_back(save(x.q->model));
  }
  for (std::size_t k = 1; k < runs.size(); ++k) {
    CHECK(same_reports(runs[k], runs[0]));
    CHECK(models[k] == models[0]);
  }
  CHECK_FALSE(models[0] == start);

  // A source failing after the first add has followed its inputs (the start's pass reads 2
  // batches, each add's 2 more, conv layers 4 each).
  restore(x.q->model, start);
  FailingSource failing(x.source, 14);
  std::vector<unsigned char> memory(1 << 20);
  lsuv::Arena arena(memory.data(), memory.size());
  CHECK(lsuv::lsuv_initialize(x.q->model, failing, lsuv::LsuvOptions(), arena, nullptr) ==
        Status::io_error);
  CHECK(save(x.q->model) == start);
}

namespace {

// The statistics of one op's float output.
class OutputStats final : public lsuv::LayerObserver {
 public:
  explicit OutputStats(std::int32_t op) : op_(op) {}
  void observe(std::int32_t index, const lsuv::Layer&, lsuv::ConstTensorView output) override {
    if (index == op_) stats.add(output.data, output.elements());
  }
  lsuv::RunningStats stats;

 private:
  std::int32_t op_;
};

}  // namespace

TEST_CASE("forward_add_sum: the real sum of an add's dequantised inputs; not an add is refused") {
  ResidualFixture x;
  lsuv::QuantizedModel& q = x.q->model;
  // b2_add: no ReLU of its own, so the float add's output is the sum itself.
  std::int32_t add = -1;
  for (std::int32_t i = 0; i < q.layer_count(); ++i)
    if (std::strcmp(q.layer(i).spec.name, "b2_add") == 0) add = i;
  REQUIRE(add > 0);
  REQUIRE_FALSE(q.layer(add).spec.relu);
  const std::int32_t channels = q.layer(add).output.channels;
  std::vector<lsuv::RunningStats> per_channel(static_cast<std::size_t>(channels));
  REQUIRE(q.forward_add_sum(x.images.data(), ResidualFixture::kImages, add, per_channel.data()) ==
          Status::ok);
  OutputStats real(add);
  REQUIRE(x.f->model.forward(x.images.data(), ResidualFixture::kImages, real) == Status::ok);
  lsuv::RunningStats sum;
  for (const lsuv::RunningStats& c : per_channel) {
    CHECK(c.count() == static_cast<std::uint64_t>(ResidualFixture::kImages) *
                           q.layer(add).output.height * q.layer(add).output.width);
    sum.merge(c);
  }
  // Within the int8 codes' rounding of every tensor on the way (a few tenths of a percent of the
  // std), far below the spread.
  REQUIRE(real.stats.stddev() > 0.0);
  CHECK(std::fabs(sum.stddev() / real.stats.stddev() - 1.0) < 0.02);
  CHECK(std::fabs(sum.mean() - real.stats.mean()) < 0.02 * real.stats.stddev());

  lsuv::RunningStats* stats = per_channel.data();
  CHECK(q.forward_add_sum(x.images.data(), 2, add - 1, stats) == Status::invalid_argument);
  CHECK(q.forward_add_sum(x.images.data(), 2, add, nullptr) == Status::invalid_argument);
  CHECK(q.forward_add_sum(x.images.data(), 0, add, stats) == Status::invalid_argument);
}
