// `lsuv demo`: the seed's experiment on Fashion-MNIST, end to end, with timings.
#include "cli/demo.hpp"

#include <cstdio>
#include <string>
#include <vector>

#include "cli/cli_common.hpp"
#include "cli/progress.hpp"
#include "lsuv/init.hpp"
#include "lsuv/io/idx.hpp"
#include "lsuv/seed_model.hpp"

namespace lsuv::cli {
namespace {

IdxBatchSource batches(const IdxImages& images, std::int32_t first, std::int32_t count,
                       std::int32_t batch_size) {
  IdxBatchOptions options;
  options.first_image = first;
  options.image_count = count;
  options.batch_size = batch_size;
  options.mean = fashion_mnist::kMean;
  options.std = fashion_mnist::kStd;
  IdxBatchSource source;
  check(source.configure(images, options), "batching the images");
  return source;
}

void initialise(Model& model, Initializer initializer, std::uint64_t seed) {
  CheckedArray<unsigned char> scratch(
      initialize_scratch_bytes(model, initializer) + Arena::kAlignment,
      "the initialiser's scratch memory");
  Arena arena(scratch.data(), scratch.size());
  InitOptions options;
  options.seed = seed;
  check(initialize(model, initializer, options, arena), initializer_name(initializer));
}

bool folds_into_batch_norm(const Model& model) {
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (has_parameters(model.layer(i).spec.kind) && lsuv_measured_op(model, i) != i) return true;
  return false;
}

void print_timing(const LsuvTiming& t, const LsuvReport& report, const char* what) {
  std::printf(
      "  %s took %.2f ms over %lld images (%s); one forward pass over them: %.2f ms; "
      "ratio %.2f\n",
      what, t.lsuv_ms, static_cast<long long>(report.images),
      report.cached_inputs ? "layer inputs cached" : "layer inputs recomputed", t.forward_ms,
      t.lsuv_ms / t.forward_ms);
}

}  // namespace

void run_demo(const DemoOptions& options) {
  const ModelSpec spec = options.model_spec.empty() ? seed_spec() : load_spec(options.model_spec);
  if (spec.input != kSeedInput)
    fail(options.model_spec +
         ": the demo's Fashion-MNIST images are 1x28x28, the spec's input is " +
         std::to_string(spec.input.channels) + "x" + std::to_string(spec.input.height) + "x" +
         std::to_string(spec.input.width));
  const std::string directory = options.data_directory;
  const IdxImages train = load_fashion_mnist(directory, fashion_mnist::kTrainImages);
  const IdxImages test = load_fashion_mnist(directory, fashion_mnist::kTestImages);
  const std::int32_t batch = options.batch_size;
  const std::int32_t many = options.calibration_batches;
  if (batch <= 0 || many <= 0 || static_cast<std::int64_t>(many) * batch > train.count() ||
      static_cast<std::int64_t>(many) * batch > test.count())
    fail("--batch-size and --batches must be positive and fit in the data set");

  auto loaded = bind_model(spec, batch);
  Model& model = loaded->model;

  IdxBatchSource batch1 = batches(train, 0, batch, batch);
  IdxBatchSource batch2 = batches(train, batch, batch, batch);
  IdxBatchSource calibration = batches(train, 0, many * batch, batch);
  IdxBatchSource held_out = batches(test, 0, many * batch, batch);

  std::printf("lsuv demo: %s on Fashion-MNIST (%s)\n",
              options.model_spec.empty() ? "the seed's model" : options.model_spec.c_str(),
              directory.c_str());
  std::printf("  images normalised as (pixel/255 - %.4f) / %.4f; batches of %d; seed %llu\n",
              fashion_mnist::kMean, fashion_mnist::kStd, static_cast<int>(batch),
              static_cast<unsigned long long>(options.seed));
  std::printf("  each table: mean and std of every conv/linear layer's output (pre-ReLU%s)\n\n",
              folds_into_batch_norm(model) ? "; after its BatchNorm where one follows" : "");

  // Each step computes under a progress line (on a terminal) and prints once it is erased.
  Progress progress("demo");
  int step = 0;
  const auto begin = [&](const char* what) {
    char text[96];
    std::snprintf(text, sizeof text, "step %d/7: %s", ++step, what);
    progress.show(text);
  };

  begin("PyTorch's default and He init");
  initialise(model, Initializer::pytorch_default, options.seed);
  const std::vector<float> pytorch_default = save_parameters(model);
  const LayerStatistics default_stats = measure(model, batch1);
  initialise(model, Initializer::he_normal, options.seed);
  const LayerStatistics he_stats = measure(model, batch1);
  progress.clear();
  print_statistics(model, default_stats, "without LSUV, PyTorch's default init, batch 1");
  print_statistics(model, he_stats, "He normal init, batch 1");

  LsuvOptions seed_variant;
  seed_variant.variant = LsuvVariant::seed;
  ReportBuffer buffer(model, seed_variant);
  LsuvReport& report = buffer.report;
  begin("LSUV, seed variant, timed");
  LsuvTiming t = time_lsuv(model, batch1, seed_variant, pytorch_default, options.repeats, &report);
  progress.clear();
  std::printf("\nLSUV, seed variant (W /= std; b = (b - mean) / std), calibrated on batch 1:\n");
  print_report(model, report);
  print_timing(t, report, "LSUV");
  begin("LSUV, seed variant, measured");
  LayerStatistics on_batch1 = measure(model, batch1);
  LayerStatistics on_batch2 = measure(model, batch2);
  progress.clear();
  print_statistics(model, on_batch1, "LSUV (seed variant), batch 1");
  print_statistics(model, on_batch2, "LSUV (seed variant), held-out batch 2");

  LsuvOptions paper;
  paper.variant = LsuvVariant::paper;
  paper.orthonormal_preinit = true;
  paper.seed = options.seed;
  paper.tolerance = options.tolerance;
  begin("LSUV, paper variant, timed");
  t = time_lsuv(model, batch1, paper, pytorch_default, options.repeats, &report);
  progress.clear();
  std::printf(
      "\nLSUV, paper variant (orthonormal pre-init, W /= sqrt(var) until |var - 1| < "
      "%.3g), calibrated on batch 1:\n",
      options.tolerance);
  print_report(model, report);
  print_timing(t, report, "LSUV");
  begin("LSUV, paper variant, measured");
  on_batch1 = measure(model, batch1);
  on_batch2 = measure(model, batch2);
  progress.clear();
  print_statistics(model, on_batch1, "LSUV (paper variant), batch 1");
  print_statistics(model, on_batch2, "LSUV (paper variant), held-out batch 2");

  begin("LSUV over many batches, timed");
  t = time_lsuv(model, calibration, seed_variant, pytorch_default,
                options.repeats > 3 ? 3 : options.repeats, &report);
  progress.clear();
  std::printf("\nLSUV, seed variant, calibrated on %d batches x %d training images:\n",
              static_cast<int>(many), static_cast<int>(batch));
  print_report(model, report);
  print_timing(t, report, "LSUV");
  begin("LSUV over many batches, measured on held-out images");
  const LayerStatistics held_out_stats = measure(model, held_out);
  progress.clear();
  print_statistics(model, held_out_stats,
                   "LSUV over " + std::to_string(many * batch) + " images, measured on " +
                       std::to_string(many * batch) + " held-out test images");
}

}  // namespace lsuv::cli
