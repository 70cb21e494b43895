// The seed's model in static memory, LSUV-initialised on calibration batches, report printed.
#include <cstdio>

#include "lsuv/lsuv.hpp"

namespace {

constexpr lsuv::LayerSpec kLayers[] = {
    lsuv::conv2d("conv1", 1, 8, 5).with_stride(2).with_padding(1),
    lsuv::relu("relu1"),
    lsuv::conv2d("conv2", 8, 16, 3).with_padding(2),
    lsuv::relu("relu2"),
    lsuv::conv2d("conv3", 16, 32, 3).with_padding(2),
    lsuv::relu("relu3"),
    lsuv::conv2d("conv4", 32, 32, 3).with_padding(2),
    lsuv::relu("relu4"),
    lsuv::adaptive_avg_pool2d("avg"),
    lsuv::linear("l1", 32, 10),
};
constexpr lsuv::ImageShape kInput = {28, 28, 1};  // H, W, C
constexpr std::int32_t kBatch = 8;

// Sized once on the desktop with model.required_bytes() and lsuv_scratch_bytes().
alignas(lsuv::Arena::kAlignment) unsigned char g_graph_memory[lsuv::Model::graph_bytes(10)];
alignas(lsuv::Arena::kAlignment) unsigned char g_model_memory[900 * 1024];
alignas(lsuv::Arena::kAlignment) unsigned char g_scratch[128 * 1024];
float g_calibration[64 * 28 * 28];  // on a board: images from the sensor or flash

int fail(const char* what, lsuv::Status status) {
  std::printf("%s: %s\n", what, lsuv::status_name(status));
  return 1;
}

}  // namespace

int main() {
  lsuv::Model model;
  lsuv::Arena graph(g_graph_memory, sizeof g_graph_memory);
  lsuv::Status status = model.configure(kLayers, 10, kInput, kBatch, graph);
  if (status != lsuv::Status::ok) return fail("configure", status);
  std::printf("model needs %zu bytes\n", model.required_bytes());
  lsuv::Arena arena(g_model_memory, sizeof g_model_memory);
  status = model.bind(arena);
  if (status != lsuv::Status::ok) return fail("bind", status);

  lsuv::Arena scratch(g_scratch, sizeof g_scratch);
  lsuv::InitOptions init;
  init.seed = 42;
  status = lsuv::initialize(model, lsuv::Initializer::pytorch_default, init, scratch);
  if (status != lsuv::Status::ok) return fail("initialize", status);

  // Stand-in calibration data: a deterministic pattern with some spread.
  for (int i = 0; i < 64 * 28 * 28; ++i)
    g_calibration[i] = static_cast<float>((i * 37) % 101) / 50.0f - 1.0f;
  lsuv::ArrayBatchSource source(g_calibration, 64, kInput, kBatch);

  lsuv::LsuvOptions options;               // the seed variant: mean 0, std 1
  options.cache = lsuv::LsuvCache::never;  // recompute layer inputs: constant, small scratch
  std::printf("LSUV needs %zu bytes of scratch\n",
              lsuv::lsuv_scratch_bytes(model, source, options));
  lsuv::LsuvLayerReport entries[5];  // one per conv2d / linear (lsuv_report_size)
  lsuv::LsuvReport report(entries, 5);
  status = lsuv::lsuv_initialize(model, source, options, scratch, &report);
  if (status != lsuv::Status::ok) return fail("lsuv_initialize", status);

  for (std::int32_t i = 0; i < report.count; ++i) {
    const lsuv::LsuvLayerReport& r = report.layers[i];
    std::printf("%-6s std %.3f -> %.3f  mean %+.3f -> %+.3f  %s\n",
                model.layer(r.layer_index).spec.name, r.std_before, r.std_after, r.mean_before,
                r.mean_after, lsuv::lsuv_layer_status_name(r.status));
  }
  return 0;
}
