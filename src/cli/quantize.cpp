#include "cli/quantize.hpp"

#include <cstdio>
#include <vector>

#include "cli/cli_common.hpp"
#include "cli/progress.hpp"
#include "lsuv/fold.hpp"
#include "lsuv/io/npy_stream.hpp"
#include "lsuv/io/output_path.hpp"
#include "lsuv/io/quantized_file.hpp"
#include "lsuv/io/tensor_layout.hpp"
#include "lsuv/io/weights.hpp"

namespace lsuv::cli {
namespace {

struct Int8Model {
  QuantizedModel model;
  std::vector<unsigned char> graph, memory;
};

std::unique_ptr<Int8Model> configure_int8(const Model& float_model) {
  auto q = std::make_unique<Int8Model>();
  q->graph.resize(QuantizedModel::graph_bytes(float_model.layer_count()) + Arena::kAlignment);
  Arena graph(q->graph.data(), q->graph.size());
  check(q->model.configure(float_model, graph), "planning the int8 model");
  q->memory.resize(q->model.required_bytes() + Arena::kAlignment);
  Arena arena(q->memory.data(), q->memory.size());
  check(q->model.bind(arena), "binding the int8 model");
  return q;
}

void print_scales(const QuantizedModel& q) {
  std::printf("%-*s %-20s %12s %5s %s\n", 12, "tensor", "op", "scale", "zero", "codes");
  std::printf("%-*s %-20s %12.6g %5d\n", 12, "input", "", q.input_quant().scale,
              static_cast<int>(q.input_quant().zero_point));
  for (std::int32_t i = 0; i < q.layer_count(); ++i) {
    const QuantizedLayer& l = q.layer(i);
    std::printf("%-*s %-20s %12.6g %5d [%d, %d]%s\n", 12, l.spec.name, layer_kind_name(l.spec.kind),
                l.output_quant.scale, static_cast<int>(l.output_quant.zero_point),
                static_cast<int>(l.output_min), static_cast<int>(l.output_max),
                l.fused ? " (fused into the op before)" : "");
  }
}

}  // namespace

void run_quantize(const QuantizeCommand& command) {
  FileError error;
  check_file(check_output_file(command.output.c_str(), &error), "writing", command.output, error);
  const ModelSpec spec = load_spec(command.spec);
  auto loaded = bind_model(spec, command.data.batch_size);
  check_file(load_weights(loaded->model, command.weights.c_str(), &error), "loading",
             command.weights, error);
  ModelSpec folded;
  folded.input = spec.input;
  folded.layers.resize(static_cast<std::size_t>(folded_layer_count(loaded->model)));
  check(fold_batch_norm_specs(loaded->model, folded.layers.data(), folded.count()), "folding");
  auto fused = bind_model(folded, command.data.batch_size);
  check(fold_batch_norm_parameters(loaded->model, fused->model), "folding the parameters");

  const IdxImages images = load_images(command.data.images);
  check_input_shape(spec, images, command.data.images);
  IdxBatchSource source = make_source(images, command.data);
  auto q = configure_int8(fused->model);
  CheckedArray<unsigned char> scratch(
      quantize_scratch_bytes(fused->model, source) + Arena::kAlignment, "calibration scratch");
  Arena arena(scratch.data(), scratch.size());
  {
    ProgressSource watched(source, "quantize");
    check(quantize(fused->model, watched, command.options, arena, q->model), "quantizing");
  }
  std::printf(
      "calibrated on %d batches of %d images from %s (%s ranges)\n",
      static_cast<int>(source.batch_count()), static_cast<int>(command.data.batch_size),
      command.data.images.c_str(),
      command.options.range == QuantizeOptions::Range::min_max ? "min/max" : "mean +- k std");
  print_scales(q->model);
  std::vector<unsigned char> bytes;
  check(encode_quantized_model(folded, q->model, &bytes), "encoding the int8 model");
  check_file(save_quantized_model(command.output.c_str(), folded, q->model, &error), "writing",
             command.output, error);
  std::printf("memory at batch %d: int8 %zu bytes, float %zu bytes (%.1f%%)\n",
              static_cast<int>(command.data.batch_size), q->model.required_bytes(),
              fused->model.required_bytes(),
              100.0 * static_cast<double>(q->model.required_bytes()) /
                  static_cast<double>(fused->model.required_bytes()));
  std::printf("int8 model written to %s (%zu bytes)\n", command.output.c_str(), bytes.size());
}

void run_forward_int8(const ForwardCommand& command) {
  FileError error;
  check_file(check_output_file(command.output.c_str(), &error), "writing", command.output, error);
  QuantizedModelFile file;
  check_file(file.load(command.int8.c_str(), command.batch_size, &error), "loading", command.int8,
             error);
  QuantizedModel& model = file.model();
  NpyReader input;
  check_file(input.open(command.input.c_str(), &error), "reading", command.input, error);
  const ImageShape in = model.input_shape();
  const std::vector<std::int64_t>& shape = input.shape();
  if (input.dtype() != NpyDtype::float32 || shape.size() != 4 || shape[0] < 1 ||
      shape[1] != in.channels || shape[2] != in.height || shape[3] != in.width)
    fail(command.input + ": expected a float32 array of shape (N, " + std::to_string(in.channels) +
         ", " + std::to_string(in.height) + ", " + std::to_string(in.width) + ")");
  const std::int64_t n = shape[0];
  const std::int32_t chunk =
      n < command.batch_size ? static_cast<std::int32_t>(n) : command.batch_size;

  // The output's PyTorch layout comes from the network's records (a configured float model).
  std::vector<unsigned char> records(Model::graph_bytes(file.spec().count()) + Arena::kAlignment);
  Arena graph(records.data(), records.size());
  Model network;
  check(network.configure(file.spec().layers.data(), file.spec().count(), in, chunk, graph),
        "planning " + command.int8);
  const TorchOutputLayout layout = torch_output_layout(network);
  const ImageShape s = layout.order;
  std::int64_t out_shape[4] = {n, s.channels, s.height, s.width};
  int rank = 4;
  if (layout.flat) {
    out_shape[1] = static_cast<std::int64_t>(s.elements());
    rank = 2;
  }
  NpyWriter output;
  check_file(output.open(command.output.c_str(), NpyDtype::float32, out_shape, rank, &error),
             "writing", command.output, error);
  CheckedArray<float> nchw(static_cast<std::size_t>(chunk) * in.elements(), "a chunk of images");
  CheckedArray<float> nhwc(static_cast<std::size_t>(chunk) * in.elements(), "a chunk of images");
  CheckedArray<float> logits(static_cast<std::size_t>(chunk) * s.elements(), "a chunk of outputs");
  CheckedArray<float> torch_order(static_cast<std::size_t>(chunk) * s.elements(),
                                  "a chunk of outputs");
  Progress progress("forward", n, "images");
  for (std::int64_t first = 0; first < n; first += chunk) {
    const auto m = static_cast<std::int32_t>(n - first < chunk ? n - first : chunk);
    check_file(input.read_rows(first, m, nchw.data(), &error), "reading", command.input, error);
    nchw_to_nhwc(nchw.data(), m, in, nhwc.data());
    check(model.forward(nhwc.data(), m), "int8 forward");
    check(model.dequantize_output(logits.data(), static_cast<std::size_t>(m) * s.elements()),
          "int8 forward");
    nhwc_to_nchw(logits.data(), m, s, torch_order.data());
    check_file(output.append_rows(torch_order.data(), m, &error), "writing", command.output, error);
    progress.update(first + m);
  }
  check_file(output.finish(&error), "writing", command.output, error);
}

}  // namespace lsuv::cli
