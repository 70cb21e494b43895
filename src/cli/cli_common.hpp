// Pieces the `lsuv` subcommands share: loading a model from a spec, data from IDX files,
// timing, and the per-layer statistics table.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cli/checked_array.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/io/idx.hpp"
#include "lsuv/io/model_spec.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/model.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv::cli {

// A command failed: the message is already on stderr. main() turns it into exit code 1.
struct Failure {};

// Prints "lsuv: <what>: <status name>" to stderr and throws Failure when status is not ok.
void check(Status status, const std::string& what);
[[noreturn]] void fail(const std::string& message);

// A model with its memory: the CLI is a desktop program, so the arena lives on the heap.
struct LoadedModel {
  ModelSpec spec;
  Model model;
  CheckedArray<unsigned char> graph_memory;  // the op records
  std::unique_ptr<Arena> graph;
  CheckedArray<unsigned char> memory;
  std::unique_ptr<Arena> arena;
};

// Configures and binds `count` layers for `input` images and batches of up to max_batch.
std::unique_ptr<LoadedModel> bind_model(const ModelSpec& spec, std::int32_t max_batch);
ModelSpec load_spec(const std::string& path);
// The seed's network (lsuv/seed_model.hpp) as a spec.
ModelSpec seed_spec();

// Loads an IDX image file; a missing default Fashion-MNIST file names the Debian package, and
// a gzipped file in a build without zlib says to gunzip it.
IdxImages load_images(const std::string& path);
std::string default_images_path(bool training);
// A Fashion-MNIST file of `directory` by its Debian name (`train-images-idx3-ubyte.gz`): the
// gunzipped file beside it when there is one (boards without zlib), else the gzipped one.
std::string fashion_mnist_file(const std::string& directory, const char* gz_name);
IdxImages load_fashion_mnist(const std::string& directory, const char* gz_name);

// Runs LSUV with a scratch arena sized for the options (cache when it fits in cache_limit).
Status run_lsuv(Model& model, BatchSource& source, LsuvOptions options, LsuvReport* report,
                std::size_t cache_limit_bytes = std::size_t{2} << 30);

// What the model's plan takes for batches of max_batch(): parameters, the planned activations and
// kernel scratch against the lower bound, the op records, then print_training_memory.
void print_memory_plan(Model& model);
// What training takes for batches of max_batch() (Trainer::training_bytes and its parts), with
// SGD with momentum, for all parameters and for the last layer only.
void print_training_memory(Model& model);
// The width of a table's layer column: the longest op name, at least 8.
int name_width(const Model& model);
// A table cell: %.4f while that stays short, %.4g (1.234e+30) beyond.
std::string table_number(double value, int width);

// Pre-activation statistics of every conv2d / linear layer over all batches of a source.
struct LayerStatistics {
  std::vector<RunningStats> layers;  // one per op; filled for conv2d and linear
};
LayerStatistics measure(Model& model, BatchSource& source);
void print_statistics(const Model& model, const LayerStatistics& stats, const std::string& title);
// An LSUV report with room for every entry a run with these options reports.
struct ReportBuffer {
  ReportBuffer(const Model& model, const LsuvOptions& options);
  ReportBuffer(const ReportBuffer&) = delete;
  ReportBuffer& operator=(const ReportBuffer&) = delete;
  std::vector<LsuvLayerReport> entries;
  LsuvReport report;
};
// The LSUV table; with per_channel, also the smallest and largest channel std after.
void print_report(const Model& model, const LsuvReport& report, bool per_channel = false);

// Every parameter of the model in layer order, and back.
std::vector<float> save_parameters(const Model& model);
void restore_parameters(Model& model, const std::vector<float>& values);

// LSUV timed from the same starting weights (median of `repeats`) against one forward pass
// over the same calibration images (median of 2 * repeats + 1). Leaves the model
// LSUV-initialised and the last run's report in *report.
struct LsuvTiming {
  double lsuv_ms;
  double forward_ms;
};
LsuvTiming time_lsuv(Model& model, BatchSource& source, const LsuvOptions& options,
                     const std::vector<float>& start, int repeats, LsuvReport* report);

// Wall time of f(), in milliseconds: the median of `repeats` runs.
template <class F>
double median_milliseconds(int repeats, F&& f) {
  std::vector<double> times;
  for (int i = 0; i < repeats; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f();
    const auto stop = std::chrono::steady_clock::now();
    times.push_back(std::chrono::duration<double, std::milli>(stop - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

}  // namespace lsuv::cli
