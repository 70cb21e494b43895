// The options of `lsuv train` and their range checks.
#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"
#include "cli/option_checks.hpp"
#include "cli/train.hpp"
#include "cli/training_run.hpp"

namespace lsuv::cli {

CLI::App* add_train_command(CLI::App& app, TrainCommand& command, std::string& seed_text) {
  CLI::App* train = app.add_subcommand(
      "train", "Train a model (spec) with SGD on IDX data, write the trained weights directory");
  command.sgd.momentum = 0.9f;
  train->add_option("--spec", command.spec, "model spec file (default: the seed's network)");
  train->add_option("--out", command.output, "trained weights directory to write")->required();
  CLI::Option* init =
      train->add_option("--init", command.init, "initialiser (LSUV calibrates on one batch)")
          ->check(CLI::IsMember(init_names()))
          ->capture_default_str();
  train->add_option("--weights", command.weights, "start from this weights directory")
      ->excludes(init);
  add_training_data_options(*train, command.data);
  seed_text = "0";
  train->add_option("--seed", seed_text, "seed of the init, LSUV and the data order")
      ->capture_default_str();
  add_recipe_options(*train, command.recipe);
  train->add_option("--schedule", command.schedule_name, "learning-rate schedule")
      ->check(CLI::IsMember({"constant", "step", "cosine"}))
      ->capture_default_str();
  train->add_option("--warmup", command.schedule.warmup_steps, "linear warm-up steps")
      ->capture_default_str();
  train->add_option("--step-size", command.schedule.step_size,
                    "step schedule: steps between decays (0: one epoch)");
  train->add_option("--gamma", command.schedule.gamma, "step schedule: decay factor")
      ->capture_default_str();
  train->add_option("--momentum", command.sgd.momentum, "SGD momentum")->capture_default_str();
  train->add_flag("--nesterov", command.sgd.nesterov, "Nesterov momentum");
  train->add_option("--weight-decay", command.sgd.weight_decay, "L2 weight decay")
      ->capture_default_str();
  train
      ->add_option("--clip", command.sgd.max_gradient_norm,
                   "clip the global gradient norm to this (0: no clipping)")
      ->capture_default_str();
  train->add_option("--freeze", command.frozen, "ops whose parameters stay as they are");
  train->add_flag("--bias-only", command.bias_only, "train biases only (and batch norm's beta)");
  train->add_option("--last", command.last_layers, "train only the last K layers with parameters")
      ->capture_default_str();
  train
      ->add_option("--log-every", command.log_every,
                   "steps between progress lines when stderr is not a terminal (0: none)")
      ->capture_default_str();
  train->add_option("--checkpoint", command.checkpoint, "checkpoint file to write");
  train
      ->add_option("--checkpoint-every", command.checkpoint_every,
                   "steps between checkpoints (0: each epoch's end)")
      ->capture_default_str();
  train->add_option("--resume", command.resume, "continue the run of this checkpoint")
      ->excludes(init);
  train->add_option("--history", command.history,
                    "write each step's loss, learning rate and gradient norm (.npy)");
  train->add_option("--order-out", command.order_out, "write each epoch's data order (.npy)");
  command.schedule.step_size = 0;
  return train;
}

void check_train_options(TrainCommand& command, const std::string& seed_text) {
  command.seed = parse_seed("--seed", seed_text);
  check_recipe_options(command.recipe);
  check_training_data_options(command.data);
  command.schedule.base = command.recipe.learning_rate;
  require_range("--warmup", command.schedule.warmup_steps, 0, INT64_MAX / 2);
  require_range("--step-size", command.schedule.step_size, 0, INT64_MAX / 2);
  require_finite_range("--gamma", command.schedule.gamma, 1e-12, 1e3);
  require_finite_range("--momentum", command.sgd.momentum, 0.0, 0.999999);
  require_finite_range("--weight-decay", command.sgd.weight_decay, 0.0, 1e3);
  require_finite_range("--clip", command.sgd.max_gradient_norm, 0.0, 1e30);
  require_range("--last", command.last_layers, 0, INT32_MAX);
  require_range("--log-every", command.log_every, 0, INT64_MAX);
  require_range("--checkpoint-every", command.checkpoint_every, 0, INT64_MAX);
  if (!command.resume.empty() && !command.weights.empty())
    fail("--resume takes the weights from the checkpoint: give --resume or --weights, not both");
  if (command.sgd.nesterov && command.sgd.momentum <= 0.0f)
    fail("--nesterov needs --momentum above 0");
  (void)lr_schedule_from_name(command.schedule_name.c_str(), &command.schedule.kind);
}

}  // namespace lsuv::cli
