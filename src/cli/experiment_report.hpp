// What `lsuv experiment` measured, and its files as text: the Markdown and CSV tables and the
// SVG plots (cli/svg_plot.hpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/training_data.hpp"
#include "lsuv/lsuv_initialize.hpp"

namespace lsuv::cli {

struct RunResult {
  std::string init;
  std::uint64_t seed = 0;
  std::vector<Evaluation> epochs;     // held out, after each epoch
  std::vector<float> losses;          // each step's training loss (of its batch, before its update)
  double seconds = 0.0;               // the whole run: init (LSUV included), training, evaluation
  std::vector<LsuvLayerReport> lsuv;  // LSUV's report (LSUV inits only)
};

struct ExperimentResults {
  std::string model;                  // "the seed's network", a spec path
  std::vector<std::string> op_names;  // the model's ops, by index (the LSUV report's layers)
  std::vector<std::string> inits;
  std::vector<std::uint64_t> seeds;
  std::int32_t epochs = 1, batch_size = 64, train_count = 0, test_count = 0;
  float learning_rate = 0.0f, momentum = 0.0f;
  std::vector<RunResult> runs;  // every init for every seed
};

// Mean and sample standard deviation (n - 1; 0 for one value).
struct Spread {
  double mean = 0.0, std = 0.0;
};
Spread spread(const std::vector<double>& values);

std::string results_markdown(const ExperimentResults& results);
std::string results_csv(const ExperimentResults& results);
std::string runs_csv(const ExperimentResults& results);
// The training loss per step, per init: the mean over the seeds, then a trailing moving average.
std::string loss_svg(const ExperimentResults& results);
// Per-layer output std before and after LSUV, of each LSUV init's first run; empty when no LSUV
// init ran.
std::string lsuv_std_svg(const ExperimentResults& results);

}  // namespace lsuv::cli
