// `lsuv experiment`: what LSUV buys, measured. One model trained from each initialiser, for each
// of several seeds, with the same recipe; for a given seed every init sees the same data order
// (each run is exactly `lsuv train --init I --seed S` with the same options). Writes a directory:
//
//   results.md   mean ± std over the seeds of the test accuracy after each epoch, and of the
//                time per run, per init (a Markdown table)
//   results.csv  the same, machine-readable: one row per init and epoch
//   runs.csv     every run: init, seed, epoch, test accuracy and loss, seconds
//   loss.svg     training loss per step, per init (mean over the seeds, smoothed)
//   lsuv_std.svg per-layer output std before and after LSUV (the first seed's LSUV report), when
//                an LSUV init runs
//
// as one unit (a directory holding only such files is replaced; anything else is refused).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/training_data.hpp"
#include "cli/training_options.hpp"

namespace CLI {
class App;
}

namespace lsuv::cli {

struct ExperimentCommand {
  std::string output;                // the results directory
  std::string model = "seed";        // seed, resnet8 (models/resnet8.spec)
  std::string spec;                  // any spec instead of --model
  std::vector<std::string> inits;    // of init_names(); empty: all
  std::string seeds_text = "5";      // N (seeds 0..N-1) or a list "3,7" ("7," for one)
  std::vector<std::uint64_t> seeds;  // parsed from seeds_text
  TrainingDataOptions data;
  Recipe recipe;
  float momentum = 0.9f;
};

// Adds the `experiment` subcommand and its options to `app`, parsed into `command`.
CLI::App* add_experiment_command(CLI::App& app, ExperimentCommand& command);
// Range checks after parsing (Failure naming the option).
void check_experiment_options(ExperimentCommand& command);
void run_experiment(const ExperimentCommand& command);

}  // namespace lsuv::cli
