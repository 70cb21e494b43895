// `lsuv train`: SGD on an IDX data set from an initialiser (LSUV included) or a weights
// directory; held-out loss and accuracy after each epoch; the trained weights written as a
// directory PyTorch loads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/training_data.hpp"
#include "cli/training_options.hpp"
#include "lsuv/lr_schedule.hpp"
#include "lsuv/sgd.hpp"

namespace CLI {
class App;
}

namespace lsuv::cli {

struct TrainCommand {
  std::string spec;     // empty: the seed's network
  std::string output;   // weights directory to write
  std::string weights;  // start from this weights directory instead of an initialiser
  // One of init_names() (cli/training_run.hpp); LSUV calibrates on the first batch of training
  // images in file order.
  std::string init = "lsuv-seed";
  TrainingDataOptions data;
  std::uint64_t seed = 0;  // initialisers, LSUV and the data order
  Recipe recipe;           // the learning rate is the schedule's base
  LrSchedule schedule;
  std::string schedule_name = "constant";
  SgdOptions sgd;
  std::vector<std::string> frozen;
  bool bias_only = false;
  std::int32_t last_layers = 0;
  std::int64_t log_every = 100;  // steps between plain progress lines (not on a terminal)
  // A checkpoint (lsuv/io/checkpoint.hpp) written every checkpoint_every steps (0: at the end
  // of each epoch) and at the end of the run; resume continues a run from one, bit-identically
  // to the run that was not stopped, given the same options (the epochs may differ unless the
  // schedule is cosine).
  std::string checkpoint;
  std::int64_t checkpoint_every = 0;
  std::string resume;
  // For side-by-side checks (tests/interop/train_check.py): each step's loss, learning rate and
  // gradient norm as a float32 .npy (steps, 3), and the data order of each epoch as an int32
  // .npy (epochs, images), of the steps this run took.
  std::string history;
  std::string order_out;
};

// Test hook: with LSUV_TRAIN_KILL_AFTER_STEP=K in the environment, `lsuv train` kills itself
// with SIGKILL right after step K (and the checkpoint due then), as a crash or a power cut would.
inline constexpr char kKillAfterStepVariable[] = "LSUV_TRAIN_KILL_AFTER_STEP";

// Adds the `train` subcommand and its options to `app`, parsed into `command`.
CLI::App* add_train_command(CLI::App& app, TrainCommand& command, std::string& seed_text);
// Range checks after parsing (Failure naming the option), then the run.
void check_train_options(TrainCommand& command, const std::string& seed_text);
void run_train(const TrainCommand& command);

}  // namespace lsuv::cli
