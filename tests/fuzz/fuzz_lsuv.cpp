// Fuzzes LSUV end to end: the bytes describe a small network (op kinds, hyper-parameters and
// which earlier tensors an op reads: residual Adds, branches), its input shape, batch sizes, the
// initialiser, the LSUV options, the scratch size (sometimes one byte short) and the calibration
// images (NaN, Inf, denormals and huge values included). Whatever they say:
//   - every call returns a Status the library defines;
//   - a failed lsuv_initialize leaves every parameter bit-identical to before;
//   - a successful one leaves every parameter finite, and the model still runs.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "fuzz_support.hpp"
#include "lsuv/lsuv.hpp"

namespace {

// Caps that keep one input to milliseconds.
constexpr std::size_t kMaxModelBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxScratchBytes = std::size_t{4} << 20;
constexpr int kMaxLayers = 8;

lsuv::LayerSpec read_layer(lsuv_fuzz::ByteReader& in, int index) {
  char name[8];
  std::snprintf(name, sizeof name, "L%d", index);
  lsuv::LayerSpec spec;
  switch (in.byte() % 11) {
    case 0: {
      const std::int32_t out = in.in_range(1, 6);
      spec = lsuv::conv2d(name, 0, out, in.in_range(1, 3), in.in_range(1, 3))
                 .with_stride(in.in_range(1, 2), in.in_range(1, 2))
                 .with_padding(in.in_range(0, 2), in.in_range(0, 2))
                 .with_dilation(in.in_range(1, 2))
                 .with_groups(in.in_range(1, 2));
      if (in.flag()) spec = spec.without_bias();
      return spec;
    }
    case 1:
      spec = lsuv::linear(name, 0, in.in_range(1, 8));
      return in.flag() ? spec.without_bias() : spec;
    case 2:
      spec = lsuv::max_pool2d(name, in.in_range(1, 3));
      break;
    case 3:
      spec = lsuv::avg_pool2d(name, in.in_range(1, 3));
      break;
    case 4:
      return lsuv::adaptive_avg_pool2d(name);
    case 5:
      return lsuv::flatten(name);
    case 6: {
      // Two tensors of this op's choosing: "input" or any earlier op's output (-1 .. index - 1).
      char a[8], b[8];
      const int from_a = in.in_range(-1, index + 1), from_b = in.in_range(-1, index + 1);
      std::snprintf(a, sizeof a, from_a < 0 ? "input" : "L%d", from_a);
      std::snprintf(b, sizeof b, from_b < 0 ? "input" : "L%d", from_b);
      spec = lsuv::add(name, a, b);
      return in.flag() ? spec.with_relu() : spec;
    }
    case 7:
      return lsuv::batch_norm2d(name, in.in_range(1, 6));
    case 8:
      return lsuv::relu6(name);
    case 9:
      return lsuv::hardtanh(name, -0.5f, in.flag() ? 0.25f : 2.0f);
    default:
      return lsuv::relu(name);
  }
  // Pooling: stride and padding of their own.
  return spec.with_stride(in.in_range(1, 3)).with_padding(in.in_range(0, 2));
}

float read_pixel(lsuv_fuzz::ByteReader& in) {
  const std::uint8_t b = in.byte();
  switch (b) {
    case 255:
      return std::numeric_limits<float>::quiet_NaN();
    case 254:
      return std::numeric_limits<float>::infinity();
    case 253:
      return -std::numeric_limits<float>::infinity();
    case 252:
      return std::numeric_limits<float>::denorm_min();
    case 251:
      return 1e30f;
    case 250:
      return -1e-30f;
    default:
      return (static_cast<float>(b) - 125.0f) / 32.0f;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lsuv_fuzz::ByteReader in(data, size);
  const lsuv::ImageShape shape = {in.in_range(1, 8), in.in_range(1, 8), in.in_range(1, 3)};
  const int layer_count = in.in_range(1, kMaxLayers);
  lsuv::LayerSpec layers[kMaxLayers];
  for (int i = 0; i < layer_count; ++i) layers[i] = read_layer(in, i);
  const std::int32_t max_batch = in.in_range(1, 4);

  std::vector<unsigned char> records(lsuv::Model::graph_bytes(layer_count) +
                                     lsuv::Arena::kAlignment);
  lsuv::Arena graph(records.data(), records.size());
  lsuv::Model model;
  const lsuv::Status configured = model.configure(layers, layer_count, shape, max_batch, graph);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(configured));
  if (configured != lsuv::Status::ok || model.required_bytes() > kMaxModelBytes) return 0;
  std::vector<unsigned char> memory(model.required_bytes() + lsuv::Arena::kAlignment);
  lsuv::Arena arena(memory.data(), memory.size());
  FUZZ_CHECK(model.bind(arena) == lsuv::Status::ok);

  const lsuv::Initializer initializer = static_cast<lsuv::Initializer>(in.byte() % 3);
  lsuv::InitOptions init;
  init.seed = in.byte();
  const std::size_t init_bytes = lsuv::initialize_scratch_bytes(model, initializer);
  if (init_bytes > kMaxScratchBytes) return 0;
  std::vector<unsigned char> init_memory(init_bytes + lsuv::Arena::kAlignment);
  lsuv::Arena init_arena(init_memory.data(), init_memory.size());
  FUZZ_CHECK(lsuv::initialize(model, initializer, init, init_arena) == lsuv::Status::ok);

  lsuv::LsuvOptions options;
  options.variant = in.flag() ? lsuv::LsuvVariant::paper : lsuv::LsuvVariant::seed;
  options.per_channel = in.flag();
  options.orthonormal_preinit = in.flag();
  options.skip_unnormalisable_layers = in.flag();
  options.cache = static_cast<lsuv::LsuvCache>(in.byte() % 3);
  options.max_iterations = in.in_range(1, 5);
  constexpr double kTolerances[] = {0.02, 0.1, 1e-9, 0.5};
  options.tolerance = kTolerances[in.byte() % 4];
  constexpr double kTargetStds[] = {1.0, 0.5, 3.0, 1e-3};
  options.target_std = kTargetStds[in.byte() % 4];
  options.target_mean = in.flag() ? 0.0 : 0.5;
  options.seed = in.byte();
  // All conv2d and linear ops, or a subset of them chosen by the bytes.
  std::int32_t chosen[kMaxLayers];
  if (in.flag()) {
    options.layers = chosen;
    for (std::int32_t i = 0; i < model.layer_count(); ++i)
      if (lsuv::has_parameters(model.layer(i).spec.kind) && in.flag())
        chosen[options.layer_count++] = i;
  }
  const bool one_byte_short = (in.byte() % 8) == 0;

  const std::int32_t image_count = in.in_range(1, 12);
  const std::int32_t batch_size = in.in_range(1, max_batch);
  std::vector<float> images(static_cast<std::size_t>(image_count) * shape.elements());
  for (float& pixel : images) pixel = read_pixel(in);
  lsuv::ArrayBatchSource source(images.data(), image_count, shape, batch_size);

  std::size_t scratch_bytes = lsuv::lsuv_scratch_bytes(model, source, options);
  if (scratch_bytes > kMaxScratchBytes) return 0;
  if (one_byte_short && scratch_bytes > 0) --scratch_bytes;
  std::vector<unsigned char> scratch_memory(scratch_bytes + lsuv::Arena::kAlignment);
  // An aligned start, so lsuv_scratch_bytes is exactly what the arena holds.
  lsuv::Arena aligner(scratch_memory.data(), scratch_memory.size());
  void* start = aligner.allocate_bytes(1);
  FUZZ_CHECK(start != nullptr);
  lsuv::Arena scratch(start, scratch_bytes);

  const std::vector<float> before = lsuv_fuzz::parameters(model);
  const std::int32_t entries = lsuv::lsuv_report_size(model, options);
  FUZZ_CHECK(entries >= 0 && entries <= model.layer_count());
  std::vector<lsuv::LsuvLayerReport> report_entries(static_cast<std::size_t>(entries) + 1);
  lsuv::LsuvReport report(report_entries.data(), entries + 1);
  const lsuv::Status status = lsuv::lsuv_initialize(model, source, options, scratch, &report);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(status));
  FUZZ_CHECK(report.count >= 0 && report.count <= entries);
  for (std::int32_t i = 0; i < report.count; ++i)
    FUZZ_CHECK(static_cast<unsigned>(report.layers[i].status) <=
               static_cast<unsigned>(lsuv::LsuvLayerStatus::measured));
  const std::vector<float> after = lsuv_fuzz::parameters(model);
  if (status != lsuv::Status::ok) {
    FUZZ_CHECK(lsuv_fuzz::same_bits(before, after));
    return 0;
  }
  // One byte short of the size asked for, only the automatic cache can still succeed (it
  // falls back to recomputing layer inputs).
  FUZZ_CHECK(!one_byte_short || scratch_bytes == 0 || options.cache == lsuv::LsuvCache::automatic);
  for (const float value : after) FUZZ_CHECK(std::isfinite(value));
  // The model still runs on the first images.
  const std::int32_t first = image_count < batch_size ? image_count : batch_size;
  FUZZ_CHECK(model.forward(images.data(), first) == lsuv::Status::ok);
  return 0;
}
