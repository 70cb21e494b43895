// The model's fused paths: conv2d / linear with the ReLU after them in Model::forward and
// Model::run, and the per-channel statistics LSUV accumulates while a layer stores its output. Each
// is checked against the unfused computation at every level this machine runs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "lsuv/batch_source.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/running_stats.hpp"
#include "support.hpp"

namespace {

using lsuv::CpuLevel;
using lsuv::Status;

constexpr lsuv::LayerSpec kNet[] = {
    lsuv::conv2d("conv1", 2, 6, 5).with_stride(2).with_padding(1),
    lsuv::relu("relu1"),
    lsuv::conv2d("conv2", 6, 20, 3).with_padding(2),
    lsuv::relu("relu2"),
    lsuv::conv2d("dw", 20, 20, 3).with_padding(1).with_groups(20),
    lsuv::relu("relu3"),
    lsuv::max_pool2d("pool", 2),
    lsuv::flatten("flat"),
    lsuv::linear("fc1", 20 * 4 * 4, 24),
    lsuv::relu("relu4"),
    lsuv::linear("fc2", 24, 10),
};
constexpr std::int32_t kLayers = 11;
constexpr lsuv::ImageShape kInput = {15, 15, 2};
constexpr std::int32_t kBatch = 16;
constexpr std::int32_t kImages = 3 * kBatch - 5;  // a last, partial batch

std::vector<CpuLevel> machine_levels() {
  std::vector<CpuLevel> levels;
  for (CpuLevel level : lsuv::kCpuLevels)
    if (lsuv::cpu_level_supported(level)) levels.push_back(level);
  return levels;
}

// Copies every layer's output and its per-channel exact statistics.
class Recorder final : public lsuv::LayerObserver {
 public:
  void observe(std::int32_t index, const lsuv::Layer& layer, lsuv::ConstTensorView out) override {
    outputs[index].assign(out.data, out.data + out.elements());
    if (lsuv::has_parameters(layer.spec.kind)) {
      const std::size_t channels = static_cast<std::size_t>(layer.output.channels);
      if (channel_stats[index].size() != channels) channel_stats[index].resize(channels);
      lsuv::add_per_channel(out.data, out.elements() / channels, channels,
                            channel_stats[index].data());
    }
  }
  std::vector<float> outputs[kLayers];
  std::vector<lsuv::RunningStats> channel_stats[kLayers];
};

double relative_difference(double got, double want) {
  return std::fabs(got - want) / std::max(std::fabs(want), 1e-30);
}

}  // namespace

TEST_CASE("Model::forward fuses ReLU into conv2d and linear with bit-identical results") {
  lsuv_test::LevelGuard guard;
  auto m = lsuv_test::make_model(kNet, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kBatch, kInput, 5);
  for (CpuLevel level : machine_levels()) {
    CAPTURE(std::string(lsuv::cpu_level_name(level)));
    REQUIRE(lsuv::set_cpu_level_limit(level) == Status::ok);
    for (std::int32_t batch : {std::int32_t{1}, std::int32_t{7}, kBatch}) {
      Recorder unfused;
      REQUIRE(m->model.forward(images.data(), batch, unfused) == Status::ok);
      REQUIRE(m->model.forward(images.data(), batch) == Status::ok);
      const lsuv::ConstTensorView out = m->model.output();
      REQUIRE(out.elements() == unfused.outputs[kLayers - 1].size());
      CHECK(std::equal(out.data, out.data + out.elements(), unfused.outputs[kLayers - 1].begin()));
      // A range holding conv1 and relu1 is fused; one that stops at conv1 leaves conv1's own
      // (pre-activation) output, negative values included.
      REQUIRE(m->model.run(0, 1, images.data(), batch) == Status::ok);
      const lsuv::TensorView conv1 = m->model.tensor(0, batch);
      CHECK(std::equal(conv1.data, conv1.data + conv1.elements(), unfused.outputs[0].begin()));
      CHECK(
          std::any_of(conv1.data, conv1.data + conv1.elements(), [](float v) { return v < 0.0f; }));
      REQUIRE(m->model.run(0, 4, images.data(), batch) == Status::ok);
      const lsuv::TensorView relu2 = m->model.tensor(3, batch);
      CHECK(std::equal(relu2.data, relu2.data + relu2.elements(), unfused.outputs[3].begin()));
    }
  }
}

TEST_CASE("fused per-channel statistics match the exact statistics of the unfused output") {
  lsuv_test::LevelGuard guard;
  auto m = lsuv_test::make_model(kNet, kLayers, kInput, kBatch);
  const std::vector<float> images = lsuv_test::gaussian_images(kBatch, kInput, 6, 3.0f, 0.5f);
  for (CpuLevel level : machine_levels()) {
    CAPTURE(std::string(lsuv::cpu_level_name(level)));
    REQUIRE(lsuv::set_cpu_level_limit(level) == Status::ok);
    Recorder unfused;
    REQUIRE(m->model.forward(images.data(), kBatch, unfused) == Status::ok);
    for (std::int32_t i = 0; i < kLayers; ++i) {
      CAPTURE(i);
      const lsuv::Layer& layer = m->model.layer(i);
      std::vector<lsuv::RunningStats> stats(static_cast<std::size_t>(layer.output.channels));
      std::vector<lsuv::RunningStats> single(stats.size());
      // The op alone, then the op with the ReLU after it fused into its kernel.
      REQUIRE(m->model.run(0, i, images.data(), kBatch) == Status::ok);
      REQUIRE(m->model.run(i, i + 1, images.data(), kBatch, single.data()) == Status::ok);
      const lsuv::TensorView own = m->model.tensor(i, kBatch);
      CHECK(std::vector<float>(own.data, own.data + own.elements()) == unfused.outputs[i]);
      REQUIRE(m->model.run(i, std::min(i + 2, kLayers), images.data(), kBatch, stats.data()) ==
              Status::ok);
      if (!lsuv::has_parameters(layer.spec.kind)) continue;
      std::size_t bad = 0;
      for (std::size_t c = 0; c < stats.size(); ++c) {
        const lsuv::RunningStats& exact = unfused.channel_stats[i][c];
        for (const lsuv::RunningStats* got : {&stats[c], &single[c]}) {
          bad += got->count() == exact.count() &&
                         std::fabs(got->mean() - exact.mean()) <= 1e-6 * exact.stddev() &&
                         relative_difference(got->stddev(), exact.stddev()) <= 1e-6
                     ? 0
                     : 1;
        }
      }
      CHECK(bad == 0);
    }
    CHECK(m->model.run(0, 1, nullptr, kBatch) == Status::invalid_argument);
    CHECK(m->model.run(0, 1, images.data(), kBatch + 1) == Status::invalid_argument);
  }
}

// LSUV's seed variant, done by hand from the exact statistics of unfused forward passes: each
// parameterised layer in turn, w *= 1 / std and b = (b - mean) / std.
void unfused_lsuv(lsuv::Model& model, const std::vector<float>& images, bool per_channel) {
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    if (!lsuv::has_parameters(layer.spec.kind)) continue;
    const std::size_t outs = static_cast<std::size_t>(layer.output.channels);
    std::vector<lsuv::RunningStats> channels(outs);
    for (std::int32_t first = 0; first < kImages; first += kBatch) {
      Recorder recorder;
      const std::int32_t n = std::min(kBatch, kImages - first);
      REQUIRE(model.forward(images.data() + static_cast<std::size_t>(first) * kInput.elements(), n,
                            recorder) == Status::ok);
      for (std::size_t c = 0; c < outs; ++c) channels[c].merge(recorder.channel_stats[i][c]);
    }
    lsuv::RunningStats tensor;
    for (const lsuv::RunningStats& s : channels) tensor.merge(s);
    for (std::size_t o = 0; o < outs; ++o) {
      const lsuv::RunningStats& s = per_channel ? channels[o] : tensor;
      const double scale = 1.0 / s.stddev();
      for (std::size_t r = 0; r < layer.weight_count / outs; ++r)
        layer.weights[r * outs + o] = static_cast<float>(layer.weights[r * outs + o] * scale);
      if (layer.bias != nullptr)
        layer.bias[o] = static_cast<float>((layer.bias[o] - s.mean()) * scale);
    }
  }
}

TEST_CASE("LSUV with fused statistics gives the parameters of the unfused computation") {
  lsuv_test::LevelGuard guard;
  const std::vector<float> images = lsuv_test::gaussian_images(kImages, kInput, 7, 0.2f, 0.9f);
  for (CpuLevel level : machine_levels()) {
    for (bool per_channel : {false, true}) {
      CAPTURE(std::string(lsuv::cpu_level_name(level)));
      CAPTURE(per_channel);
      REQUIRE(lsuv::set_cpu_level_limit(level) == Status::ok);
      auto fused = lsuv_test::make_model(kNet, kLayers, kInput, kBatch);
      auto by_hand = lsuv_test::make_model(kNet, kLayers, kInput, kBatch);
      lsuv::ArrayBatchSource source(images.data(), kImages, kInput, kBatch);
      lsuv::LsuvOptions options;
      options.per_channel = per_channel;
      std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(fused->model, source, options) +
                                         lsuv::Arena::kAlignment);
      lsuv::Arena arena(scratch.data(), scratch.size());
      lsuv_test::Report report;
      REQUIRE(lsuv::lsuv_initialize(fused->model, source, options, arena, &report) == Status::ok);
      REQUIRE(report.count == 5);
      unfused_lsuv(by_hand->model, images, per_channel);
      const std::vector<float> got = lsuv_test::snapshot(fused->model);
      const std::vector<float> want = lsuv_test::snapshot(by_hand->model);
      REQUIRE(got.size() == want.size());
      double largest = 0.0;
      for (float w : want) largest = std::max(largest, static_cast<double>(std::fabs(w)));
      double worst = 0.0;
      for (std::size_t j = 0; j < got.size(); ++j)
        worst = std::max(worst, std::fabs(static_cast<double>(got[j]) - want[j]) / largest);
      CHECK(worst <= 1e-5);
    }
  }
}
