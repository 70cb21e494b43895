#include "cli/cli_common.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "cli/progress.hpp"
#include "lsuv/init.hpp"
#include "lsuv/seed_model.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv::cli {

void fail(const std::string& message) {
  erase_progress_line();
  std::fprintf(stderr, "lsuv: %s\n", message.c_str());
  throw Failure{};
}

void fail_allocation(const std::string& what, std::uint64_t count, std::size_t element_bytes) {
  const long double bytes = static_cast<long double>(count) * element_bytes;
  char text[160];
  std::snprintf(text, sizeof text, "%s needs %.0Lf bytes (%.3Lg GiB), more than this machine gives",
                what.c_str(), bytes, bytes / (1024.0L * 1024.0L * 1024.0L));
  fail(text);
}

void check(Status status, const std::string& what) {
  if (status != Status::ok) fail(what + ": " + status_name(status));
}

ModelSpec load_spec(const std::string& path) {
  ModelSpec spec;
  SpecError error;
  const Status status = load_model_spec(path.c_str(), &spec, &error);
  if (status != Status::ok) {
    std::string message = path + ": " + status_name(status);
    if (error.message[0] != '\0') message += ": " + std::string(error.message);
    fail(message);
  }
  if (spec.input.elements() == 0)
    fail(path + ": the spec has no `input: CxHxW` line, so the input shape is unknown");
  return spec;
}

ModelSpec seed_spec() {
  ModelSpec spec;
  spec.input = kSeedInput;
  spec.layers.assign(kSeedLayers, kSeedLayers + kSeedLayerCount);
  return spec;
}

std::unique_ptr<LoadedModel> bind_model(const ModelSpec& spec, std::int32_t max_batch) {
  auto loaded = std::make_unique<LoadedModel>();
  loaded->spec = spec;
  loaded->graph_memory = CheckedArray<unsigned char>(
      Model::graph_bytes(spec.count()) + Arena::kAlignment, "the model's op records");
  loaded->graph = std::make_unique<Arena>(loaded->graph_memory.data(), loaded->graph_memory.size());
  ConfigureError why;
  const Status configured = loaded->model.configure(spec.layers.data(), spec.count(), spec.input,
                                                    max_batch, *loaded->graph, &why);
  const std::string reason = why.message[0] != '\0' ? why.message : status_name(configured);
  // Sizes past size_t are memory the machine cannot address: said as such, like a failed
  // allocation.
  if (configured == Status::size_overflow)
    fail("the model (weights and activations for batches of " + std::to_string(max_batch) +
         ") needs more than the " + std::to_string(SIZE_MAX) + " bytes this machine can address (" +
         reason + ")");
  if (configured != Status::ok) fail("model spec: " + reason);
  loaded->memory = CheckedArray<unsigned char>(
      loaded->model.required_bytes() + Arena::kAlignment,
      "the model (weights and activations for batches of " + std::to_string(max_batch) + ")");
  loaded->arena = std::make_unique<Arena>(loaded->memory.data(), loaded->memory.size());
  check(loaded->model.bind(*loaded->arena), "binding the model");
  return loaded;
}

std::string default_images_path(bool training) {
  return std::string(fashion_mnist::kDefaultDirectory) + "/" +
         (training ? fashion_mnist::kTrainImages : fashion_mnist::kTestImages);
}

namespace {
bool is_gzip_file(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  unsigned char magic[2] = {0, 0};
  const bool gzip = std::fread(magic, 1, 2, file) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  std::fclose(file);
  return gzip;
}
}  // namespace

IdxImages load_images(const std::string& path) {
  IdxImages images;
  const Status status = images.load(path.c_str());
  if (status == Status::file_not_found && path.rfind(fashion_mnist::kDefaultDirectory, 0) == 0)
    fail(path + " not found: Fashion-MNIST comes from the Debian package " +
         fashion_mnist::kPackage + " (apt-get install " + fashion_mnist::kPackage + ")");
  if (status == Status::unsupported && is_gzip_file(path))
    fail(path + ": unsupported: lsuv was built without zlib: gunzip the files (gunzip -k " + path +
         ")");
  check(status, path);
  return images;
}

std::string fashion_mnist_file(const std::string& directory, const char* gz_name) {
  const std::string gz_path = directory + "/" + gz_name;
  const std::string plain_path = gz_path.substr(0, gz_path.size() - 3);
  return std::filesystem::exists(plain_path) ? plain_path : gz_path;
}

IdxImages load_fashion_mnist(const std::string& directory, const char* gz_name) {
  return load_images(fashion_mnist_file(directory, gz_name));
}

Status run_lsuv(Model& model, BatchSource& source, LsuvOptions options, LsuvReport* report,
                std::size_t cache_limit_bytes) {
  if (options.cache == LsuvCache::automatic &&
      lsuv_scratch_bytes(model, source, options) > cache_limit_bytes)
    options.cache = LsuvCache::never;
  const std::size_t bytes = lsuv_scratch_bytes(model, source, options);
  if (bytes == 0) return Status::invalid_argument;
  CheckedArray<unsigned char> scratch(bytes + Arena::kAlignment, "LSUV's scratch memory");
  Arena arena(scratch.data(), scratch.size());
  return lsuv_initialize(model, source, options, arena, report);
}

namespace {
// Files each output LSUV normalises under its conv2d / linear op: the op's own, or that of the
// BatchNorm2d it is measured through (lsuv_measured_op).
class StatisticsObserver final : public LayerObserver {
 public:
  StatisticsObserver(const Model& model, LayerStatistics& stats) : model_(model), stats_(stats) {}
  void observe(std::int32_t index, const Layer&, ConstTensorView out) override {
    const std::int32_t layer = lsuv_measured_layer(model_, index);
    if (layer >= 0) stats_.layers[layer].add(out.data, out.elements());
  }

 private:
  const Model& model_;
  LayerStatistics& stats_;
};

const char* torch_name(const Model& model, std::int32_t index) {
  const LayerKind kind = model.layer(index).spec.kind;
  const bool unit = lsuv_measured_op(model, index) != index;
  if (kind == LayerKind::conv2d) return unit ? "Conv2d+BN" : "Conv2d";
  return unit ? "Linear+BN" : "Linear";
}
}  // namespace

LayerStatistics measure(Model& model, BatchSource& source) {
  LayerStatistics stats;
  stats.layers.resize(static_cast<std::size_t>(model.layer_count()));
  StatisticsObserver observer(model, stats);
  CheckedArray<float> batch(
      static_cast<std::size_t>(source.max_batch_size()) * source.image_shape().elements(),
      "a batch of images");
  for (std::int32_t b = 0; b < source.batch_count(); ++b) {
    std::int32_t n = 0;
    check(source.read(b, batch.data(), &n), "reading batch " + std::to_string(b));
    check(model.forward(batch.data(), n, observer), "forward");
  }
  return stats;
}

std::vector<float> save_parameters(const Model& model) {
  std::vector<float> values(model.parameter_count());
  check(model.copy_parameters_to(values.data(), values.size()), "saving the parameters");
  return values;
}

void restore_parameters(Model& model, const std::vector<float>& values) {
  check(model.copy_parameters_from(values.data(), values.size()), "restoring the parameters");
}

LsuvTiming time_lsuv(Model& model, BatchSource& source, const LsuvOptions& options,
                     const std::vector<float>& start, int repeats, LsuvReport* report) {
  CheckedArray<unsigned char> scratch(
      lsuv_scratch_bytes(model, source, options) + Arena::kAlignment, "LSUV's scratch memory");
  std::vector<double> lsuv_times;
  for (int r = 0; r < repeats; ++r) {
    restore_parameters(model, start);
    Arena arena(scratch.data(), scratch.size());
    Status status = Status::ok;
    lsuv_times.push_back(median_milliseconds(
        1, [&] { status = lsuv_initialize(model, source, options, arena, report); }));
    check(status, "LSUV");
  }
  std::sort(lsuv_times.begin(), lsuv_times.end());

  const std::size_t per_batch =
      static_cast<std::size_t>(source.max_batch_size()) * source.image_shape().elements();
  CheckedArray<float> images(per_batch * static_cast<std::size_t>(source.batch_count()),
                             "the calibration images");
  std::vector<std::int32_t> counts(static_cast<std::size_t>(source.batch_count()));
  for (std::int32_t b = 0; b < source.batch_count(); ++b)
    check(source.read(b, images.data() + b * per_batch, &counts[b]), "reading a batch");
  const double forward_ms = median_milliseconds(repeats * 2 + 1, [&] {
    for (std::size_t b = 0; b < counts.size(); ++b)
      check(model.forward(images.data() + b * per_batch, counts[b]), "forward");
  });
  return {lsuv_times[lsuv_times.size() / 2], forward_ms};
}

void print_memory_plan(Model& model) {
  const MemoryPlan plan = model.memory_plan();
  const double over = plan.lower_bound_bytes > 0
                          ? 100.0 * (static_cast<double>(plan.activation_bytes) /
                                         static_cast<double>(plan.lower_bound_bytes) -
                                     1.0)
                          : 0.0;
  std::printf("--- memory for batches of %d (Model::required_bytes %zu)\n",
              static_cast<int>(model.max_batch()), model.required_bytes());
  std::printf(
      "  parameters %zu bytes; activations and kernel scratch %zu bytes planned, lower "
      "bound %zu (+%.1f%%); op records %zu\n",
      plan.parameter_bytes, plan.activation_bytes, plan.lower_bound_bytes, over,
      Model::graph_bytes(model.layer_count()));
  print_training_memory(model);
}

void print_training_memory(Model& model) {
  const ImageShape out = model.output_shape();
  TrainOptions options;
  options.loss =
      out.height == 1 && out.width == 1 ? LossKind::softmax_cross_entropy : LossKind::mse;
  options.sgd.momentum = 0.9f;
  std::vector<unsigned char> records(Trainer::plan_bytes(model.layer_count()) + Arena::kAlignment);
  const char* const selections[] = {"all parameters", "the last layer"};
  for (int k = 0; k < 2; ++k) {
    options.trainable.last_layers = k;
    Arena plan(records.data(), records.size());
    Trainer trainer;
    if (trainer.configure(model, options, plan) != Status::ok) continue;
    const TrainingMemory memory = trainer.memory();
    std::printf(
        "  training %s (SGD with momentum, Trainer::training_bytes %zu): gradients %zu, "
        "velocities %zu, saved activations, their gradients and scratch %zu (lower bound %zu); "
        "with the parameters %zu\n",
        selections[k], trainer.training_bytes(), memory.gradient_bytes, memory.velocity_bytes,
        memory.region_bytes, memory.region_lower_bound,
        trainer.training_bytes() + memory.parameter_bytes);
  }
}

int name_width(const Model& model) {
  std::size_t width = 8;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    width = std::max(width, std::strlen(model.layer(i).spec.name));
  return static_cast<int>(width);
}

std::string table_number(double value, int width) {
  char text[64];
  std::snprintf(text, sizeof text, std::fabs(value) < 1e5 ? "%*.4f" : "%*.4g", width, value);
  return text;
}

void print_statistics(const Model& model, const LayerStatistics& stats, const std::string& title) {
  const int width = name_width(model);
  int module_width = 7;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (has_parameters(model.layer(i).spec.kind))
      module_width = std::max(module_width, static_cast<int>(std::strlen(torch_name(model, i))));
  std::printf("--- %s\n", title.c_str());
  std::printf("  %-*s %-*s %10s %10s\n", width, "layer", module_width, "module", "mean", "std");
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    if (!has_parameters(layer.spec.kind)) continue;
    std::printf("  %-*s %-*s %s %s\n", width, layer.spec.name, module_width, torch_name(model, i),
                table_number(stats.layers[i].mean(), 10).c_str(),
                table_number(stats.layers[i].stddev(), 10).c_str());
  }
}

ReportBuffer::ReportBuffer(const Model& model, const LsuvOptions& options)
    : entries(static_cast<std::size_t>(std::max(lsuv_report_size(model, options), 0))),
      report(entries.data(), static_cast<std::int32_t>(entries.size())) {}

void print_report(const Model& model, const LsuvReport& report, bool per_channel) {
  const int width = name_width(model);
  std::printf("  %-*s %12s %12s %12s %12s %6s", width, "layer", "mean before", "std before",
              "mean after", "std after", "iters");
  if (per_channel) std::printf(" %12s %12s", "ch std min", "ch std max");
  std::printf("  %s\n", "status");
  for (std::int32_t i = 0; i < report.count; ++i) {
    const LsuvLayerReport& r = report.layers[i];
    // An Add is measured once, after LSUV: it has no "before".
    const bool measured = r.status == LsuvLayerStatus::measured;
    std::printf("  %-*s %12s %12s %s %s %6d", width, model.layer(r.layer_index).spec.name,
                measured ? "-" : table_number(r.mean_before, 12).c_str(),
                measured ? "-" : table_number(r.std_before, 12).c_str(),
                table_number(r.mean_after, 12).c_str(), table_number(r.std_after, 12).c_str(),
                static_cast<int>(r.iterations));
    if (per_channel)
      std::printf(" %s %s", table_number(r.channel_std_min_after, 12).c_str(),
                  table_number(r.channel_std_max_after, 12).c_str());
    std::printf("  %s\n", lsuv_layer_status_name(r.status));
  }
}

}  // namespace lsuv::cli
