// The `lsuv` program: the library's demo and its desktop tools.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "cli/bench.hpp"
#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "cli/demo.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/io/idx.hpp"

namespace {

using lsuv::cli::DataOptions;

void add_data_options(CLI::App* command, DataOptions& data, bool training) {
  data.images = lsuv::cli::default_images_path(training);
  data.mean = lsuv::fashion_mnist::kMean;
  data.std = lsuv::fashion_mnist::kStd;
  command->add_option("--images", data.images, "IDX image file (.gz or plain)")
      ->capture_default_str();
  command->add_option("--first-image", data.first_image, "index of the first image used")
      ->capture_default_str();
  command->add_option("--batches", data.batches, "number of batches")->capture_default_str();
  command->add_option("--batch-size", data.batch_size, "images per batch")->capture_default_str();
  command->add_option("--mean", data.mean, "normalisation: (pixel/255 - mean) / std")
      ->capture_default_str();
  command->add_option("--std", data.std, "normalisation: (pixel/255 - mean) / std")
      ->capture_default_str();
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lsuv: on-device LSUV initialisation (Mishkin & Matas 2015) of small networks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lsuv ") + LSUV_VERSION + ", kernels " +
                                        lsuv::cpu_level_name(lsuv::cpu_level()) + " (detected " +
                                        lsuv::cpu_level_name(lsuv::cpu_level_detected()) + ")");

  lsuv::cli::DemoOptions demo;
  demo.data_directory = lsuv::fashion_mnist::kDefaultDirectory;
  CLI::App* demo_command = app.add_subcommand(
      "demo", "The seed's model on Fashion-MNIST: default, He and LSUV init side by side");
  demo_command->add_option("--data", demo.data_directory, "Fashion-MNIST directory")
      ->capture_default_str();
  demo_command->add_option("--batch-size", demo.batch_size, "images per batch")
      ->capture_default_str();
  demo_command
      ->add_option("--batches", demo.calibration_batches, "batches for the many-batch calibration")
      ->capture_default_str();
  demo_command->add_option("--seed", demo.seed, "initialisation seed")->capture_default_str();
  demo_command->add_option("--tolerance", demo.tolerance, "paper variant: |var - 1| tolerance")
      ->capture_default_str();
  demo_command->add_option("--repeats", demo.repeats, "timing repeats (median)")
      ->capture_default_str();

  lsuv::cli::InitCommand init;
  std::string initializer = "pytorch_default";
  std::string variant = "seed";
  CLI::App* init_command = app.add_subcommand(
      "init", "Initialise a model from a spec, run LSUV on IDX data, write a weights directory");
  init_command->add_option("--spec", init.spec, "model spec file")->required();
  init_command->add_option("--out", init.output, "weights directory to write")->required();
  add_data_options(init_command, init.data, true);
  init_command->add_option("--init", initializer, "starting initialiser")
      ->check(CLI::IsMember({"pytorch_default", "he_normal", "orthonormal"}))
      ->capture_default_str();
  init_command->add_option("--variant", variant, "LSUV variant")
      ->check(CLI::IsMember({"seed", "paper"}))
      ->capture_default_str();
  init_command->add_option("--tolerance", init.lsuv.tolerance, "paper variant: |var - 1| bound")
      ->capture_default_str();
  init_command
      ->add_option("--max-iterations", init.lsuv.max_iterations,
                   "paper variant: rescales per layer")
      ->capture_default_str();
  init_command->add_option("--seed", init.lsuv.seed, "initialisation seed")->capture_default_str();
  init_command->add_flag("--orthonormal", init.lsuv.orthonormal_preinit,
                         "orthonormal pre-init of each layer (the paper's step I)");
  init_command->add_flag("--per-channel", init.lsuv.per_channel,
                         "normalise each output channel separately");
  init_command->add_flag("--skip-unnormalisable", init.lsuv.skip_unnormalisable_layers,
                         "leave zero-variance layers untouched instead of failing");
  init_command->add_flag("--no-lsuv", init.skip_lsuv, "only the starting initialiser");

  lsuv::cli::StatsCommand stats;
  CLI::App* stats_command = app.add_subcommand(
      "stats", "Per-layer output mean/std of a model (spec + weights) on IDX data");
  stats_command->add_option("--spec", stats.spec, "model spec file")->required();
  stats_command->add_option("--weights", stats.weights, "weights directory")->required();
  add_data_options(stats_command, stats.data, false);

  lsuv::cli::ForwardCommand forward;
  CLI::App* forward_command = app.add_subcommand(
      "forward", "Run a model (spec + weights) on an NCHW float32 .npy, write the output .npy");
  forward_command->add_option("--spec", forward.spec, "model spec file")->required();
  forward_command->add_option("--weights", forward.weights, "weights directory")->required();
  forward_command->add_option("--input", forward.input, "input .npy (N, C, H, W)")->required();
  forward_command->add_option("--output", forward.output, "output .npy")->required();

  lsuv::cli::BenchOptions bench;
  bench.pytorch_script = "tests/bench/pytorch_seed_model.py";
  bench.data_directory = lsuv::fashion_mnist::kDefaultDirectory;
  CLI::App* bench_command = app.add_subcommand(
      "bench", "Single-threaded benchmarks: kernels vs FMA peak, seed model vs PyTorch, LSUV cost");
  bench_command
      ->add_option("--pytorch", bench.pytorch_script,
                   "PyTorch side-by-side script (run with /usr/bin/python3 when present)")
      ->capture_default_str();
  bench_command->add_option("--images", bench.calibration_images, "LSUV calibration images")
      ->capture_default_str();
  bench_command->add_option("--data", bench.data_directory, "Fashion-MNIST directory")
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);

  try {
    if (*demo_command) {
      lsuv::cli::run_demo(demo);
    } else if (*init_command) {
      lsuv::Initializer chosen = lsuv::Initializer::pytorch_default;
      (void)lsuv::initializer_from_name(initializer.c_str(), &chosen);
      init.initializer = chosen;
      init.lsuv.variant = variant == "paper" ? lsuv::LsuvVariant::paper : lsuv::LsuvVariant::seed;
      lsuv::cli::run_init(init);
    } else if (*stats_command) {
      lsuv::cli::run_stats(stats);
    } else if (*forward_command) {
      lsuv::cli::run_forward(forward);
    } else if (*bench_command) {
      lsuv::cli::run_bench(bench);
    }
  } catch (const lsuv::cli::Failure&) {
    return 1;
  }
  return 0;
}
