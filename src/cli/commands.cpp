#include "cli/commands.hpp"

#include <cstdio>
#include <vector>

#include "cli/cli_common.hpp"
#include "cli/progress.hpp"
#include "lsuv/fold.hpp"
#include "lsuv/io/idx.hpp"
#include "lsuv/io/npy.hpp"
#include "lsuv/io/npy_stream.hpp"
#include "lsuv/io/output_path.hpp"
#include "lsuv/io/tensor_layout.hpp"
#include "lsuv/io/weights.hpp"

namespace lsuv::cli {

// Fails with the io layer's words when it has them: "loading wt/conv2.weight.npy: shape ...".
void check_file(Status status, const char* verb, const std::string& path, const FileError& error) {
  if (status == Status::ok) return;
  const std::string file = error.file[0] != '\0' ? error.file : path.empty() ? "''" : path;
  if (error.message[0] == '\0') check(status, verb + (" " + file));
  fail(std::string(verb) + " " + file + ": " + error.message);
}

IdxBatchSource make_source(const IdxImages& images, const DataOptions& data) {
  if (data.batches <= 0 || data.batch_size <= 0)
    fail("--batches and --batch-size must be positive");
  const std::int64_t wanted = static_cast<std::int64_t>(data.batches) * data.batch_size;
  if (data.first_image < 0 || data.first_image + wanted > images.count())
    fail(data.images + " holds " + std::to_string(images.count()) + " images; " +
         std::to_string(wanted) + " from image " + std::to_string(data.first_image) +
         " were asked for");
  IdxBatchOptions options;
  options.first_image = data.first_image;
  options.image_count = static_cast<std::int32_t>(wanted);
  options.batch_size = data.batch_size;
  options.mean = data.mean;
  options.std = data.std;
  IdxBatchSource source;
  check(source.configure(images, options), "batching " + data.images);
  return source;
}

void check_input_shape(const ModelSpec& spec, const IdxImages& images, const std::string& path) {
  const ImageShape shape = {images.height(), images.width(), 1};
  if (shape != spec.input)
    fail(path + " holds 1x" + std::to_string(images.height()) + "x" +
         std::to_string(images.width()) + " images but the spec's input is " +
         std::to_string(spec.input.channels) + "x" + std::to_string(spec.input.height) + "x" +
         std::to_string(spec.input.width));
}

namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string text = "(";
  for (std::size_t i = 0; i < shape.size(); ++i)
    text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return text + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace

std::vector<std::int32_t> select_layers(const Model& model, const std::vector<std::string>& names) {
  std::vector<std::int32_t> indices;
  for (const std::string& name : names) {
    const std::int32_t index = model.find_layer(name.c_str());
    if (index < 0) fail("--layers: no layer is named '" + name + "'");
    if (!has_parameters(model.layer(index).spec.kind))
      fail("--layers: '" + name + "' is a " + layer_kind_name(model.layer(index).spec.kind) +
           ", not a conv2d or linear layer");
    indices.push_back(index);
  }
  return indices;
}

bool normalised_any(const LsuvReport& report) {
  for (std::int32_t i = 0; i < report.count; ++i) {
    const LsuvLayerStatus status = report.layers[i].status;
    if (status == LsuvLayerStatus::converged || status == LsuvLayerStatus::max_iterations)
      return true;
  }
  return false;
}

void run_init(const InitCommand& command) {
  FileError error;
  check_file(check_output_directory(command.output.c_str(), &error), "writing", command.output,
             error);
  const ModelSpec spec = load_spec(command.spec);
  auto loaded = bind_model(spec, command.data.batch_size);
  Model& model = loaded->model;
  LsuvOptions options = command.lsuv;
  const std::vector<std::int32_t> selection = select_layers(model, command.layers);
  if (!command.layers.empty()) {
    options.layers = selection.data();
    options.layer_count = static_cast<std::int32_t>(selection.size());
  }
  CheckedArray<unsigned char> scratch(
      initialize_scratch_bytes(model, command.initializer) + Arena::kAlignment,
      "the initialiser's scratch memory");
  Arena arena(scratch.data(), scratch.size());
  InitOptions init;
  init.seed = command.lsuv.seed;
  check(initialize(model, command.initializer, init, arena), "initialising the weights");
  std::printf("%s init (seed %llu)\n", initializer_name(command.initializer),
              static_cast<unsigned long long>(init.seed));

  if (!command.skip_lsuv) {
    const IdxImages images = load_images(command.data.images);
    check_input_shape(spec, images, command.data.images);
    IdxBatchSource source = make_source(images, command.data);
    ReportBuffer buffer(model, options);
    const LsuvReport& report = buffer.report;
    Status status = Status::ok;
    {
      ProgressSource watched(source, "init");
      status = run_lsuv(model, watched, options, &buffer.report);
    }
    std::printf("LSUV (%s variant) over %d batches, %lld images:\n",
                lsuv_variant_name(command.lsuv.variant), static_cast<int>(report.batches),
                static_cast<long long>(report.images));
    print_report(model, report, command.lsuv.per_channel);
    check(status, "LSUV");
    if (!normalised_any(report))
      fail("LSUV normalised no layer (each was non_finite or zero_variance on " +
           command.data.images + "): weights not written");
  }
  check_file(save_weights(model, command.output.c_str(), &error), "writing", command.output, error);
  std::printf("weights written to %s\n", command.output.c_str());
}

void run_stats(const StatsCommand& command) {
  const ModelSpec spec = load_spec(command.spec);
  auto loaded = bind_model(spec, command.data.batch_size);
  FileError error;
  check_file(load_weights(loaded->model, command.weights.c_str(), &error), "loading",
             command.weights, error);
  const IdxImages images = load_images(command.data.images);
  check_input_shape(spec, images, command.data.images);
  IdxBatchSource source = make_source(images, command.data);
  print_statistics(loaded->model, measure(loaded->model, source),
                   command.weights + " on " + std::to_string(source.batch_count()) +
                       " batches of " + command.data.images);
  print_memory_plan(loaded->model);
}

void run_forward(const ForwardCommand& command) {
  FileError error;
  check_file(check_output_file(command.output.c_str(), &error), "writing", command.output, error);
  const ModelSpec spec = load_spec(command.spec);
  // The input is read and the output written a chunk at a time: memory does not grow with N.
  NpyReader input;
  check_file(input.open(command.input.c_str(), &error), "reading", command.input, error);
  const ImageShape in = spec.input;
  const std::vector<std::int64_t>& shape = input.shape();
  if (input.dtype() != NpyDtype::float32 || shape.size() != 4 || shape[0] < 1 ||
      shape[1] != in.channels || shape[2] != in.height || shape[3] != in.width)
    fail(command.input + ": expected a float32 array of shape (N, " + std::to_string(in.channels) +
         ", " + std::to_string(in.height) + ", " + std::to_string(in.width) + "), the file has " +
         npy_dtype_descr(input.dtype()) + " " + shape_text(shape));
  const std::int64_t n = shape[0];
  // The model is bound for one chunk of images, not for all N.
  const std::int32_t chunk =
      n < command.batch_size ? static_cast<std::int32_t>(n) : command.batch_size;
  auto loaded = bind_model(spec, chunk);
  Model& model = loaded->model;
  check_file(load_weights(model, command.weights.c_str(), &error), "loading", command.weights,
             error);

  const TorchOutputLayout layout = torch_output_layout(model);
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
  CheckedArray<float> torch_order(static_cast<std::size_t>(chunk) * s.elements(),
                                  "a chunk of outputs");
  Progress progress("forward", n, "images");
  for (std::int64_t first = 0; first < n; first += chunk) {
    const auto m = static_cast<std::int32_t>(n - first < chunk ? n - first : chunk);
    check_file(input.read_rows(first, m, nchw.data(), &error), "reading", command.input, error);
    nchw_to_nhwc(nchw.data(), m, in, nhwc.data());
    check(model.forward(nhwc.data(), m), "forward");
    output_to_torch(model, m, torch_order.data());
    check_file(output.append_rows(torch_order.data(), m, &error), "writing", command.output, error);
    progress.update(first + m);
  }
  check_file(output.finish(&error), "writing", command.output, error);
}

void run_fold(const FoldCommand& command) {
  FileError error;
  check_file(check_output_file(command.out_spec.c_str(), &error), "writing", command.out_spec,
             error);
  check_file(check_output_directory(command.output.c_str(), &error), "writing", command.output,
             error);
  const ModelSpec spec = load_spec(command.spec);
  auto loaded = bind_model(spec, 1);
  check_file(load_weights(loaded->model, command.weights.c_str(), &error), "loading",
             command.weights, error);
  ModelSpec folded;
  folded.input = spec.input;
  folded.layers.resize(static_cast<std::size_t>(folded_layer_count(loaded->model)));
  check(fold_batch_norm_specs(loaded->model, folded.layers.data(), folded.count()), "folding");
  auto fused = bind_model(folded, 1);
  check(fold_batch_norm_parameters(loaded->model, fused->model), "folding the parameters");
  check_file(save_model_spec(command.out_spec.c_str(), folded, &error), "writing", command.out_spec,
             error);
  check_file(save_weights(fused->model, command.output.c_str(), &error), "writing", command.output,
             error);
  std::printf("%d BatchNorm2d folded: %d ops in %s, weights in %s\n",
              static_cast<int>(spec.count() - folded.count()), static_cast<int>(folded.count()),
              command.out_spec.c_str(), command.output.c_str());
}

}  // namespace lsuv::cli
