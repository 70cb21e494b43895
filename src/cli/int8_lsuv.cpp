#include "cli/int8_lsuv.hpp"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "cli/checked_array.hpp"
#include "cli/cli_common.hpp"
#include "cli/progress.hpp"
#include "lsuv/io/output_path.hpp"
#include "lsuv/io/quantized_file.hpp"
#include "lsuv/lsuv_int8.hpp"

namespace lsuv::cli {
namespace {

// The file's network as float op records (configured, never bound): names and kinds for the
// option checks and the tables the float commands print.
struct Network {
  std::vector<unsigned char> records;
  Model model;

  Network(const ModelSpec& spec, const std::string& path)
      : records(Model::graph_bytes(spec.count()) + Arena::kAlignment) {
    Arena graph(records.data(), records.size());
    check(model.configure(spec.layers.data(), spec.count(), spec.input, 1, graph),
          "planning " + path);
  }
};

void load_int8(const std::string& path, std::int32_t max_batch, QuantizedModelFile* file) {
  FileError error;
  check_file(file->load(path.c_str(), max_batch, &error), "loading", path, error);
}

}  // namespace

void run_init_int8(const InitCommand& command) {
  FileError error;
  check_file(check_output_file(command.output.c_str(), &error), "writing", command.output, error);
  QuantizedModelFile file;
  load_int8(command.int8, command.data.batch_size, &file);
  QuantizedModel& model = file.model();
  const Network network(file.spec(), command.int8);
  LsuvOptions options = command.lsuv;
  const std::vector<std::int32_t> selection = select_layers(network.model, command.layers);
  if (!command.layers.empty()) {
    options.layers = selection.data();
    options.layer_count = static_cast<std::int32_t>(selection.size());
  }
  const IdxImages images = load_images(command.data.images);
  check_input_shape(file.spec(), images, command.data.images);
  IdxBatchSource source = make_source(images, command.data);

  // 0 bytes: the arguments are refused; a run over no memory says why.
  const std::size_t bytes = lsuv_scratch_bytes(model, source, options);
  CheckedArray<unsigned char> scratch(bytes + Arena::kAlignment, "LSUV's scratch memory");
  Arena arena(scratch.data(), bytes > 0 ? scratch.size() : 0);
  std::vector<LsuvLayerReport> entries(
      static_cast<std::size_t>(std::max(lsuv_report_size(model, options), 0)));
  LsuvReport report(entries.data(), static_cast<std::int32_t>(entries.size()));
  Status status = Status::ok;
  {
    ProgressSource watched(source, "init");
    status = lsuv_initialize(model, watched, options, arena, &report);
  }
  std::printf(
      "LSUV in fixed point (%s variant) over %d batches, %lld images, %zu bytes of "
      "scratch:\n",
      lsuv_variant_name(command.lsuv.variant), static_cast<int>(report.batches),
      static_cast<long long>(report.images), bytes);
  print_report(network.model, report, command.lsuv.per_channel);
  check(status, "int8 LSUV");
  if (!normalised_any(report))
    fail("LSUV normalised no layer (each was non_finite or zero_variance on " +
         command.data.images + "): int8 model not written");
  check_file(save_quantized_model(command.output.c_str(), file.spec(), model, &error), "writing",
             command.output, error);
  std::printf("int8 model written to %s\n", command.output.c_str());
}

void run_stats_int8(const StatsCommand& command) {
  QuantizedModelFile file;
  load_int8(command.int8, command.data.batch_size, &file);
  QuantizedModel& model = file.model();
  const Network network(file.spec(), command.int8);
  const IdxImages images = load_images(command.data.images);
  check_input_shape(file.spec(), images, command.data.images);
  IdxBatchSource source = make_source(images, command.data);
  LayerStatistics stats;
  stats.layers.resize(static_cast<std::size_t>(model.layer_count()));
  CheckedArray<unsigned char> scratch(
      accumulator_statistics_scratch_bytes(model, source) + Arena::kAlignment,
      "the statistics' scratch memory");
  Arena arena(scratch.data(), scratch.size());
  check(accumulator_statistics(model, source, arena, stats.layers.data()), "measuring");
  print_statistics(network.model, stats,
                   command.int8 + " (int8 accumulators, dequantised) on " +
                       std::to_string(source.batch_count()) + " batches of " + command.data.images);
  std::printf("--- int8 model for batches of %d: %zu bytes\n", static_cast<int>(model.max_batch()),
              model.required_bytes());
}

}  // namespace lsuv::cli
