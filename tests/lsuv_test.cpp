#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "graph_models.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/running_stats.hpp"
#include "support.hpp"

namespace {

using lsuv::Status;

// The seed's architecture, scaled down so the suite stays fast (also under qemu).
constexpr lsuv::LayerSpec kSmallSeed[] = {
    lsuv::conv2d("conv1", 1, 6, 5).with_stride(2).with_padding(1),
    lsuv::relu("relu1"),
    lsuv::conv2d("conv2", 6, 8, 3).with_padding(2),
    lsuv::relu("relu2"),
    lsuv::conv2d("conv3", 8, 8, 3).with_padding(1).with_groups(2),
    lsuv::relu("relu3"),
    lsuv::max_pool2d("pool", 2),
    lsuv::flatten("flat"),
    lsuv::linear("l1", 8 * 4 * 4, 10),
};
constexpr std::int32_t kLayers = 9;
constexpr lsuv::ImageShape kInput = {16, 16, 1};
constexpr std::int32_t kBatch = 8;
constexpr std::int32_t kImages = 4 * kBatch - 3;  // a last, partial batch

// Per-layer output statistics over every image of a source, measured by running the model.
// What LSUV normalises for each conv2d / linear op: its output, or that of the BatchNorm2d that
// follows it as its only reader (lsuv_measured_op), filed under the conv's index.
class PreActivationStats final : public lsuv::LayerObserver {
 public:
  explicit PreActivationStats(const lsuv::Model& model) : model_(&model) {}
  void observe(std::int32_t index, const lsuv::Layer&, lsuv::ConstTensorView out) override {
    const std::int32_t layer = lsuv::lsuv_measured_layer(*model_, index);
    if (layer >= 0) stats[layer].add(out.data, out.elements());
  }
  lsuv::RunningStats stats[64];  // by op index: enough for the test networks

 private:
  const lsuv::Model* model_;
};

PreActivationStats measure(lsuv::Model& model, lsuv::BatchSource& source) {
  PreActivationStats observer(model);
  std::vector<float> batch(static_cast<std::size_t>(source.max_batch_size()) *
                           source.image_shape().elements());
  for (std::int32_t b = 0; b < source.batch_count(); ++b) {
    std::int32_t n = 0;
    REQUIRE(source.read(b, batch.data(), &n) == Status::ok);
    REQUIRE(model.forward(batch.data(), n, observer) == Status::ok);
  }
  return observer;
}

Status run_lsuv(lsuv::Model& model, lsuv::BatchSource& source, const lsuv::LsuvOptions& options,
                lsuv::LsuvReport* report, std::size_t extra_bytes = 0) {
  std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(model, source, options) +
                                     lsuv::Arena::kAlignment + extra_bytes);
  lsuv::Arena arena(scratch.data(), scratch.size());
  return lsuv::lsuv_initialize(model, source, options, arena, report);
}

}  // namespace

TEST_CASE("LSUV seed variant: every layer's pre-activation has mean 0 and std 1 on the data") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 1, 0.3f, 0.8f);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);

  const PreActivationStats before = measure(m->model, source);
  lsuv_test::Report report;
  REQUIRE(run_lsuv(m->model, source, lsuv::LsuvOptions(), &report) == Status::ok);
  CHECK(report.count == 4);
  CHECK(report.batches == 4);
  CHECK(report.images == kImages);
  CHECK(report.cached_inputs);

  const PreActivationStats after = measure(m->model, source);
  for (std::int32_t i = 0; i < report.count; ++i) {
    const lsuv::LsuvLayerReport& entry = report.layers[i];
    CAPTURE(entry.layer_index);
    CHECK(entry.status == lsuv::LsuvLayerStatus::converged);
    CHECK(entry.iterations == 1);
    const lsuv::RunningStats& s = after.stats[entry.layer_index];
    CHECK(std::fabs(s.mean()) < 1e-4);
    CHECK(std::fabs(s.stddev() - 1.0) < 1e-3);
    // The report's "after" is what the model now does; its "before" is what it did on entry
    // for the first layer (later layers' inputs change as earlier ones are normalised).
    CHECK(std::fabs(entry.mean_after - s.mean()) < 1e-7);
    CHECK(entry.std_after == doctest::Approx(s.stddev()).epsilon(1e-6));
  }
  CHECK(report.layers[0].std_before ==
        doctest::Approx(before.stats[0].stddev()).epsilon(1e-6));  // fused float-block statistics
}

TEST_CASE("LSUV paper variant: |var - 1| < tol on every layer, biases untouched") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 2);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  const std::vector<float> bias_before(m->model.layer(0).bias, m->model.layer(0).bias + 6);

  lsuv::LsuvOptions options;
  options.variant = lsuv::LsuvVariant::paper;
  options.tolerance = 0.02;
  lsuv_test::Report report;
  REQUIRE(run_lsuv(m->model, source, options, &report) == Status::ok);
  const PreActivationStats after = measure(m->model, source);
  for (std::int32_t i = 0; i < report.count; ++i) {
    const lsuv::LsuvLayerReport& entry = report.layers[i];
    CAPTURE(entry.layer_index);
    CHECK(entry.status == lsuv::LsuvLayerStatus::converged);
    CHECK(entry.iterations >= 1);
    CHECK(entry.iterations <= options.max_iterations);
    CHECK(std::fabs(after.stats[entry.layer_index].sample_variance() - 1.0) < options.tolerance);
  }
  CHECK(std::vector<float>(m->model.layer(0).bias, m->model.layer(0).bias + 6) == bias_before);
}

TEST_CASE("LSUV paper variant with orthonormal pre-init converges too") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 3);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  lsuv::LsuvOptions options;
  options.variant = lsuv::LsuvVariant::paper;
  options.orthonormal_preinit = true;
  options.seed = 9;
  lsuv_test::Report report;
  REQUIRE(run_lsuv(m->model, source, options, &report) == Status::ok);
  for (std::int32_t i = 0; i < report.count; ++i)
    CHECK(report.layers[i].status == lsuv::LsuvLayerStatus::converged);
  // Orthonormal pre-init zeroes the biases and the paper variant never moves them.
  for (std::int32_t o = 0; o < 6; ++o) CHECK(m->model.layer(0).bias[o] == 0.0f);
}

TEST_CASE("LSUV gives bit-identical weights with the input cache and without it") {
  auto cached = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  auto recomputed = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 4);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  lsuv::LsuvOptions options;
  lsuv_test::Report with_cache, without_cache;
  options.cache = lsuv::LsuvCache::always;
  REQUIRE(run_lsuv(cached->model, source, options, &with_cache) == Status::ok);
  options.cache = lsuv::LsuvCache::never;
  REQUIRE(run_lsuv(recomputed->model, source, options, &without_cache) == Status::ok);
  CHECK(with_cache.cached_inputs);
  CHECK_FALSE(without_cache.cached_inputs);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(cached->model),
                             lsuv_test::snapshot(recomputed->model)));
}

TEST_CASE("LSUV per-channel mode normalises every output channel") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 5);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  lsuv::LsuvOptions options;
  options.per_channel = true;
  REQUIRE(run_lsuv(m->model, source, options, nullptr) == Status::ok);

  // conv1's output, channel by channel, over every calibration image.
  class ChannelStats final : public lsuv::LayerObserver {
   public:
    void observe(std::int32_t index, const lsuv::Layer& layer, lsuv::ConstTensorView out) override {
      if (index != 0) return;
      lsuv::add_per_channel(out.data, out.elements() / layer.output.channels,
                            static_cast<std::size_t>(layer.output.channels), stats);
    }
    lsuv::RunningStats stats[6];
  } observer;
  std::vector<float> batch(kBatch * kInput.elements());
  for (std::int32_t b = 0; b < source.batch_count(); ++b) {
    std::int32_t n = 0;
    REQUIRE(source.read(b, batch.data(), &n) == Status::ok);
    REQUIRE(m->model.forward(batch.data(), n, observer) == Status::ok);
  }
  for (const lsuv::RunningStats& s : observer.stats) {
    CHECK(std::fabs(s.mean()) < 1e-4);
    CHECK(std::fabs(s.stddev() - 1.0) < 1e-3);
  }
}

TEST_CASE("LSUV touches only the selected layers") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 6);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  const std::vector<float> conv2_before(m->model.layer(2).weights,
                                        m->model.layer(2).weights + m->model.layer(2).weight_count);
  const std::vector<float> conv1_before(m->model.layer(0).weights,
                                        m->model.layer(0).weights + m->model.layer(0).weight_count);
  lsuv::LsuvOptions options;
  const std::int32_t selection[] = {8, 0, 8};  // l1 and conv1, in any order, repeats allowed
  options.layers = selection;
  options.layer_count = 3;
  lsuv_test::Report report;
  REQUIRE(run_lsuv(m->model, source, options, &report) == Status::ok);
  CHECK(report.count == 2);
  CHECK(report.layers[0].layer_index == 0);
  CHECK(report.layers[1].layer_index == 8);
  CHECK(std::vector<float>(m->model.layer(2).weights,
                           m->model.layer(2).weights + m->model.layer(2).weight_count) ==
        conv2_before);
  CHECK(std::vector<float>(m->model.layer(0).weights,
                           m->model.layer(0).weights + m->model.layer(0).weight_count) !=
        conv1_before);
  const PreActivationStats after = measure(m->model, source);
  CHECK(std::fabs(after.stats[8].stddev() - 1.0) < 1e-3);
}

TEST_CASE("LSUV of only a late layer caches inputs larger than that layer's") {
  // l1's input (8x4x4) is smaller than the images (16x16): the cache must still hold the images.
  auto cached = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  auto recomputed = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 12);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  lsuv::LsuvOptions options;
  const std::int32_t only_l1[] = {8};
  options.layers = only_l1;
  options.layer_count = 1;
  options.cache = lsuv::LsuvCache::always;
  REQUIRE(run_lsuv(cached->model, source, options, nullptr) == Status::ok);
  options.cache = lsuv::LsuvCache::never;
  REQUIRE(run_lsuv(recomputed->model, source, options, nullptr) == Status::ok);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(cached->model),
                             lsuv_test::snapshot(recomputed->model)));
  const PreActivationStats after = measure(cached->model, source);
  CHECK(std::fabs(after.stats[8].stddev() - 1.0) < 1e-3);
}

TEST_CASE("LSUV on blank input reports zero variance and leaves the model unchanged") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  // All-zero images: conv1 outputs its bias everywhere, a constant per channel (padding
  // included), so no rescaling of its weights can reach unit variance.
  const std::vector<float> images(kImages * kInput.elements(), 0.0f);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  lsuv_test::Report report;
  CHECK(run_lsuv(m->model, source, lsuv::LsuvOptions(), &report) == Status::zero_variance);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  // One entry per conv2d / linear; the run stopped at the first.
  REQUIRE(report.count == lsuv::lsuv_report_size(m->model, lsuv::LsuvOptions()));
  CHECK(report.layers[0].status == lsuv::LsuvLayerStatus::zero_variance);
  for (std::int32_t i = 1; i < report.count; ++i)
    CHECK(report.layers[i].status == lsuv::LsuvLayerStatus::not_run);
}

TEST_CASE("LSUV with dead ReLUs: zero variance downstream, or skipped on request") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  // conv1 always negative: relu1 is dead, conv2 sees zeros and outputs its bias.
  const lsuv::Layer& conv1 = m->model.layer(0);
  for (std::size_t i = 0; i < conv1.bias_count; ++i) conv1.bias[i] = -1000.0f;
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 7);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  const std::vector<float> before = lsuv_test::snapshot(m->model);

  lsuv::LsuvOptions options;
  options.variant = lsuv::LsuvVariant::paper;  // does not move biases, so relu1 stays dead
  lsuv_test::Report report;
  CHECK(run_lsuv(m->model, source, options, &report) == Status::zero_variance);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  CHECK(report.layers[0].status == lsuv::LsuvLayerStatus::converged);
  CHECK(report.layers[1].status == lsuv::LsuvLayerStatus::zero_variance);

  options.skip_unnormalisable_layers = true;
  REQUIRE(run_lsuv(m->model, source, options, &report) == Status::ok);
  CHECK(report.layers[1].status == lsuv::LsuvLayerStatus::zero_variance);
  // conv2 untouched; conv1 normalised.
  const lsuv::Layer& conv2 = m->model.layer(2);
  std::size_t offset = conv1.weight_count + conv1.bias_count;
  for (std::size_t i = 0; i < conv2.weight_count; ++i)
    CHECK(conv2.weights[i] == before[offset + i]);
  CHECK(std::fabs(report.layers[0].std_after - 1.0) < 1e-3);
}

TEST_CASE("LSUV with a NaN in the calibration data fails cleanly with non_finite") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 8);
  images[kBatch * kInput.elements() * 2 + 17] = NAN;  // in the third batch
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  for (lsuv::LsuvCache cache : {lsuv::LsuvCache::always, lsuv::LsuvCache::never}) {
    lsuv::LsuvOptions options;
    options.cache = cache;
    lsuv_test::Report report;
    CHECK(run_lsuv(m->model, source, options, &report) == Status::non_finite);
    CHECK(report.layers[0].status == lsuv::LsuvLayerStatus::non_finite);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  }
  images[kBatch * kInput.elements() * 2 + 17] = INFINITY;
  CHECK(run_lsuv(m->model, source, lsuv::LsuvOptions(), nullptr) == Status::non_finite);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
}

TEST_CASE("LSUV with a NaN weight fails cleanly with non_finite") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  m->model.layer(4).weights[3] = NAN;
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 9);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  lsuv_test::Report report;
  CHECK(run_lsuv(m->model, source, lsuv::LsuvOptions(), &report) == Status::non_finite);
  CHECK(report.layers[2].status == lsuv::LsuvLayerStatus::non_finite);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
}

TEST_CASE("LSUV scratch: exact size, one byte short, and fallback to recomputation") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 10);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  lsuv::LsuvOptions options;
  options.cache = lsuv::LsuvCache::always;
  const std::size_t cached_bytes = lsuv::lsuv_scratch_bytes(m->model, source, options);
  options.cache = lsuv::LsuvCache::never;
  const std::size_t lean_bytes = lsuv::lsuv_scratch_bytes(m->model, source, options);
  REQUIRE(lean_bytes > 0);
  REQUIRE(cached_bytes > lean_bytes);
  unsigned char* const buffer = lsuv_test::shared_buffer();
  REQUIRE(cached_bytes <= lsuv_test::kSharedBufferBytes);
  const std::vector<float> before = lsuv_test::snapshot(m->model);

  options.cache = lsuv::LsuvCache::always;
  {
    lsuv::Arena short_arena(buffer, cached_bytes - 1);
    CHECK(lsuv::lsuv_initialize(m->model, source, options, short_arena, nullptr) ==
          Status::arena_too_small);
    CHECK(short_arena.used() == 0);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  }
  options.cache = lsuv::LsuvCache::never;
  {
    lsuv::Arena short_arena(buffer, lean_bytes - 1);
    CHECK(lsuv::lsuv_initialize(m->model, source, options, short_arena, nullptr) ==
          Status::arena_too_small);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  }
  options.cache = lsuv::LsuvCache::automatic;
  {
    lsuv::Arena lean(buffer, lean_bytes);
    lsuv_test::Report report;
    CHECK(lsuv::lsuv_initialize(m->model, source, options, lean, &report) == Status::ok);
    CHECK_FALSE(report.cached_inputs);
  }
  {
    lsuv::Arena exact(buffer, cached_bytes);
    lsuv_test::Report report;
    CHECK(lsuv::lsuv_initialize(m->model, source, options, exact, &report) == Status::ok);
    CHECK(report.cached_inputs);
  }
}

TEST_CASE("LSUV rejects bad arguments without touching the model") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 11);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  lsuv::ArrayBatchSource wrong_shape(images.data(), kImages, {8, 32, 1}, kBatch);
  CHECK(run_lsuv(m->model, wrong_shape, lsuv::LsuvOptions(), nullptr) == Status::shape_mismatch);
  lsuv::ArrayBatchSource too_big(images.data(), kImages, kInput, kBatch + 1);
  CHECK(run_lsuv(m->model, too_big, lsuv::LsuvOptions(), nullptr) == Status::shape_mismatch);
  lsuv::ArrayBatchSource empty(images.data(), 0, kInput, kBatch);
  CHECK(run_lsuv(m->model, empty, lsuv::LsuvOptions(), nullptr) == Status::invalid_argument);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  lsuv::LsuvOptions bad;
  bad.target_std = 0.0;
  CHECK(run_lsuv(m->model, source, bad, nullptr) == Status::invalid_argument);
  bad = lsuv::LsuvOptions();
  bad.tolerance = NAN;
  CHECK(run_lsuv(m->model, source, bad, nullptr) == Status::invalid_argument);
  bad = lsuv::LsuvOptions();
  bad.max_iterations = 0;
  CHECK(run_lsuv(m->model, source, bad, nullptr) == Status::invalid_argument);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));

  lsuv::Model unbound;
  REQUIRE(unbound.configure(kSmallSeed, kLayers, kInput, kBatch, lsuv_test::graph(kLayers)) ==
          Status::ok);
  unsigned char scratch[256];
  lsuv::Arena arena(scratch, sizeof scratch);
  CHECK(lsuv::lsuv_initialize(unbound, source, lsuv::LsuvOptions(), arena, nullptr) ==
        Status::not_bound);
}

TEST_CASE("LSUV rejects enum values outside their enums and a source with batch size 0") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 12);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  unsigned char* const buffer = lsuv_test::shared_buffer();

  lsuv::LsuvOptions bad;
  bad.variant = static_cast<lsuv::LsuvVariant>(7);
  CHECK(lsuv::lsuv_scratch_bytes(m->model, source, bad) == 0);
  {
    lsuv::Arena arena(buffer, lsuv_test::kSharedBufferBytes);
    CHECK(lsuv::lsuv_initialize(m->model, source, bad, arena, nullptr) == Status::invalid_argument);
  }
  bad = lsuv::LsuvOptions();
  bad.cache = static_cast<lsuv::LsuvCache>(9);
  CHECK(lsuv::lsuv_scratch_bytes(m->model, source, bad) == 0);
  {
    lsuv::Arena arena(buffer, lsuv_test::kSharedBufferBytes);
    CHECK(lsuv::lsuv_initialize(m->model, source, bad, arena, nullptr) == Status::invalid_argument);
  }

  for (const std::int32_t batch_size : {0, -4}) {
    CAPTURE(batch_size);
    lsuv::ArrayBatchSource no_batches(images.data(), kImages, kInput, batch_size);
    CHECK(no_batches.batch_count() == 0);
    CHECK(no_batches.max_batch_size() == 0);
    std::vector<float> batch(static_cast<std::size_t>(kBatch) * kInput.elements());
    std::int32_t count = -1;
    CHECK(no_batches.read(0, batch.data(), &count) == Status::invalid_argument);
    CHECK(count == -1);
    lsuv::Arena arena(buffer, lsuv_test::kSharedBufferBytes);
    CHECK(lsuv::lsuv_initialize(m->model, no_batches, lsuv::LsuvOptions(), arena, nullptr) ==
          Status::invalid_argument);
  }
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
}

TEST_CASE(
    "LSUV scratch size is exact for an aligned buffer; a misaligned one needs kAlignment - 1 "
    "more") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 13);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  lsuv::LsuvOptions options;
  const std::size_t bytes = lsuv::lsuv_scratch_bytes(m->model, source, options);
  unsigned char* const buffer = lsuv_test::shared_buffer();
  REQUIRE(bytes + lsuv::Arena::kAlignment <= lsuv_test::kSharedBufferBytes);
  unsigned char* const misaligned = buffer + 1;
  const std::vector<float> before = lsuv_test::snapshot(m->model);

  options.cache = lsuv::LsuvCache::always;
  {
    lsuv::Arena arena(misaligned, bytes);
    CHECK(lsuv::lsuv_initialize(m->model, source, options, arena, nullptr) ==
          Status::arena_too_small);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  }
  options.cache = lsuv::LsuvCache::automatic;
  {
    lsuv::Arena arena(misaligned, bytes);
    lsuv_test::Report report;
    CHECK(lsuv::lsuv_initialize(m->model, source, options, arena, &report) == Status::ok);
    CHECK_FALSE(report.cached_inputs);  // documented at lsuv_scratch_bytes
  }
  {
    lsuv::Arena arena(misaligned, bytes + lsuv::Arena::kAlignment - 1);
    lsuv_test::Report report;
    CHECK(lsuv::lsuv_initialize(m->model, source, options, arena, &report) == Status::ok);
    CHECK(report.cached_inputs);
  }
}

TEST_CASE("LSUV on a residual network: every conv and linear at mean 0, std 1; Adds reported") {
  using lsuv_test::kResidual;
  using lsuv_test::kResidualCount;
  using lsuv_test::kResidualInput;
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kResidualInput, 21);
  lsuv::ArrayBatchSource source(images.data(), kImages, kResidualInput, kBatch);
  auto cached = lsuv_test::make_model(kResidual, kResidualCount, kResidualInput, kBatch);
  auto recomputed = lsuv_test::make_model(kResidual, kResidualCount, kResidualInput, kBatch);
  lsuv::LsuvOptions options;
  options.cache = lsuv::LsuvCache::always;
  lsuv_test::Report report;
  REQUIRE(run_lsuv(cached->model, source, options, &report) == Status::ok);
  CHECK(report.cached_inputs);
  options.cache = lsuv::LsuvCache::never;
  lsuv_test::Report recomputed_report;
  REQUIRE(run_lsuv(recomputed->model, source, options, &recomputed_report) == Status::ok);
  CHECK_FALSE(recomputed_report.cached_inputs);
  // The cache holds every tensor alive at each layer (the skip connections too): the same
  // parameters as recomputing each layer's input from the images.
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(cached->model),
                             lsuv_test::snapshot(recomputed->model)));

  const PreActivationStats after = measure(cached->model, source);
  std::int32_t normalised = 0, adds = 0;
  REQUIRE(report.count == lsuv::lsuv_report_size(cached->model, lsuv::LsuvOptions()));
  for (std::int32_t k = 0; k < report.count; ++k) {
    const lsuv::LsuvLayerReport& entry = report.layers[k];
    const lsuv::Layer& layer = cached->model.layer(entry.layer_index);
    CAPTURE(layer.spec.name);
    if (layer.spec.kind == lsuv::LayerKind::add) {
      ++adds;
      CHECK(entry.status == lsuv::LsuvLayerStatus::measured);
      CHECK(entry.std_after > 0.0);
      CHECK(entry.channel_std_min_after <= entry.channel_std_max_after);
      CHECK(recomputed_report.layers[k].std_after ==
            doctest::Approx(entry.std_after).epsilon(1e-9));
      continue;
    }
    ++normalised;
    CHECK(entry.status == lsuv::LsuvLayerStatus::converged);
    CHECK(std::fabs(entry.mean_after) < 1e-4);
    CHECK(std::fabs(entry.std_after - 1.0) < 1e-3);
    // The model's own forward pass agrees with what LSUV measured.
    const lsuv::RunningStats& s = after.stats[entry.layer_index];
    CHECK(std::fabs(s.mean()) < 1e-4);
    CHECK(std::fabs(s.stddev() - 1.0) < 1e-3);
  }
  CHECK(normalised == 8);  // 7 convs (the dead branch included) and the linear
  CHECK(adds == 2);
}

TEST_CASE("LSUV on a depthwise-separable network with batch norm, per channel") {
  using lsuv_test::kDepthwise;
  using lsuv_test::kDepthwiseCount;
  using lsuv_test::kDepthwiseInput;
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kDepthwiseInput, 22);
  lsuv::ArrayBatchSource source(images.data(), kImages, kDepthwiseInput, kBatch);
  auto m = lsuv_test::make_model(kDepthwise, kDepthwiseCount, kDepthwiseInput, kBatch);
  lsuv::LsuvOptions options;
  options.per_channel = true;
  lsuv_test::Report report;
  REQUIRE(run_lsuv(m->model, source, options, &report) == Status::ok);
  REQUIRE(report.count == 5);
  for (std::int32_t k = 0; k < report.count; ++k) {
    CAPTURE(k);
    CHECK(report.layers[k].status == lsuv::LsuvLayerStatus::converged);
    CHECK(report.layers[k].channel_std_min_after == doctest::Approx(1.0).epsilon(1e-3));
    CHECK(report.layers[k].channel_std_max_after == doctest::Approx(1.0).epsilon(1e-3));
  }
}

TEST_CASE("LSUV refuses a selection of an op that has no weights, and a report too small") {
  auto m = lsuv_test::make_model(kSmallSeed, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 23);
  lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  lsuv::LsuvOptions options;
  const std::int32_t relu1[] = {1};
  options.layers = relu1;
  options.layer_count = 1;
  CHECK(lsuv::lsuv_report_size(m->model, options) == -1);
  CHECK(run_lsuv(m->model, source, options, nullptr) == Status::invalid_argument);
  const std::int32_t beyond[] = {kLayers};
  options.layers = beyond;
  CHECK(run_lsuv(m->model, source, options, nullptr) == Status::invalid_argument);
  options = lsuv::LsuvOptions();
  lsuv::LsuvLayerReport entries[3];
  lsuv::LsuvReport small(entries, 3);  // the model reports 4 entries
  CHECK(run_lsuv(m->model, source, options, &small) == Status::invalid_argument);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  // A report without entries gets the totals only.
  lsuv::LsuvReport totals;
  REQUIRE(run_lsuv(m->model, source, options, &totals) == Status::ok);
  CHECK(totals.count == 0);
  CHECK(totals.images == kImages);
}

TEST_CASE("LSUV on a residual network: a scratch buffer full of garbage gives the same report") {
  using lsuv_test::kResidual;
  using lsuv_test::kResidualCount;
  using lsuv_test::kResidualInput;
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kResidualInput, 24);
  lsuv::ArrayBatchSource source(images.data(), kImages, kResidualInput, kBatch);
  for (lsuv::LsuvCache cache : {lsuv::LsuvCache::always, lsuv::LsuvCache::never}) {
    CAPTURE(static_cast<int>(cache));
    lsuv::LsuvOptions options;
    options.cache = cache;
    std::vector<lsuv::LsuvLayerReport> reports[2];
    for (unsigned char fill : {0x00, 0xff}) {
      auto m = lsuv_test::make_model(kResidual, kResidualCount, kResidualInput, kBatch);
      // 0xff bytes are NaNs as doubles: any statistic not reset before use would show.
      std::vector<unsigned char> scratch(
          lsuv::lsuv_scratch_bytes(m->model, source, options) + lsuv::Arena::kAlignment, fill);
      lsuv::Arena arena(scratch.data(), scratch.size());
      lsuv_test::Report report;
      REQUIRE(lsuv::lsuv_initialize(m->model, source, options, arena, &report) == Status::ok);
      reports[fill != 0].assign(report.layers, report.layers + report.count);
    }
    REQUIRE(reports[0].size() == reports[1].size());
    for (std::size_t k = 0; k < reports[0].size(); ++k) {
      CAPTURE(k);
      CHECK(std::isfinite(reports[1][k].std_after));
      CHECK(reports[1][k].mean_after == reports[0][k].mean_after);
      CHECK(reports[1][k].std_after == reports[0][k].std_after);
    }
  }
}
