// The `lsuv` program: the library's demo and its desktop tools.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <new>
#include <string>

#include "cli/bench.hpp"
#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "cli/demo.hpp"
#include "cli/experiment.hpp"
#include "cli/int8_lsuv.hpp"
#include "cli/option_checks.hpp"
#include "cli/quantize.hpp"
#include "cli/train.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/io/idx.hpp"

namespace {

using lsuv::cli::DataOptions;
using lsuv::cli::require_finite_range;
using lsuv::cli::require_range;

constexpr std::int64_t kMaxBatchSize = 65536;
constexpr std::int64_t kMaxBatches = 1 << 24;

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

void check_data_options(const DataOptions& data) {
  require_range("--first-image", data.first_image, 0, INT32_MAX);
  require_range("--batches", data.batches, 1, kMaxBatches);
  require_range("--batch-size", data.batch_size, 1, kMaxBatchSize);
  // Pixels are 0..1 after /255: a mean or std far outside that scale leaves nothing finite
  // for LSUV to measure.
  require_finite_range("--mean", data.mean, -1e3, 1e3);
  require_finite_range("--std", data.std, 1e-3, 1e3);
}

// The paper variant's own options; the seed variant neither reads nor checks them.
void check_paper_options(const lsuv::LsuvOptions& lsuv) {
  require_finite_range("--tolerance", lsuv.tolerance, 1e-6, 1.0);
  require_range("--max-iterations", lsuv.max_iterations, 1, 1000);
}

// "lsuv frobnicate": CLI11 would say only that a subcommand is required.
bool is_unknown_command(CLI::App& app, int argc, char** argv) {
  if (argc < 2 || argv[1][0] == '-') return false;
  for (const CLI::App* command : app.get_subcommands([](CLI::App*) { return true; }))
    if (command->get_name() == argv[1]) return false;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"lsuv: on-device LSUV initialisation (Mishkin & Matas 2015) of small networks"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lsuv ") + LSUV_VERSION + ", kernels " +
                                        lsuv::cpu_level_name(lsuv::cpu_level()) + " (detected " +
                                        lsuv::cpu_level_name(lsuv::cpu_level_detected()) +
                                        "; CPU rule: " + lsuv::cpu_level_rule() + ")");

  lsuv::cli::DemoOptions demo;
  demo.data_directory = lsuv::fashion_mnist::kDefaultDirectory;
  CLI::App* demo_command = app.add_subcommand(
      "demo", "The seed's model on Fashion-MNIST: default, He and LSUV init side by side");
  demo_command->add_option("--data", demo.data_directory, "Fashion-MNIST directory")
      ->capture_default_str();
  demo_command->add_option("--model", demo.model_spec,
                           "model spec for 1x28x28 images (default: the seed's network; "
                           "models/resnet8.spec, models/ds_cnn.spec)");
  demo_command->add_option("--batch-size", demo.batch_size, "images per batch")
      ->capture_default_str();
  demo_command
      ->add_option("--batches", demo.calibration_batches, "batches for the many-batch calibration")
      ->capture_default_str();
  std::string demo_seed = "0";
  demo_command->add_option("--seed", demo_seed, "initialisation seed (0..2^64-1)")
      ->capture_default_str();
  demo_command->add_option("--tolerance", demo.tolerance, "paper variant: |var - 1| tolerance")
      ->capture_default_str();
  demo_command->add_option("--repeats", demo.repeats, "timing repeats (median)")
      ->capture_default_str();

  lsuv::cli::InitCommand init;
  std::string initializer = "pytorch_default";
  std::string variant = "seed";
  CLI::App* init_command = app.add_subcommand(
      "init", "Initialise a model from a spec, run LSUV on IDX data, write a weights directory");
  CLI::Option* init_spec = init_command->add_option("--spec", init.spec, "model spec file");
  CLI::Option* init_int8 = init_command->add_option(
      "--int8", init.int8,
      "int8 model file (lsuv quantize): LSUV in fixed point, --out the int8 file to write");
  init_int8->excludes(init_spec);
  init_command
      ->add_option("--out", init.output,
                   "weights directory to write (with --int8: the int8 model file)")
      ->required();
  add_data_options(init_command, init.data, true);
  init_command->add_option("--init", initializer, "starting initialiser")
      ->check(CLI::IsMember({"pytorch_default", "he_normal", "orthonormal"}))
      ->capture_default_str()
      ->excludes(init_int8);
  init_command->add_option("--variant", variant, "LSUV variant")
      ->check(CLI::IsMember({"seed", "paper"}))
      ->capture_default_str();
  init_command->add_option("--tolerance", init.lsuv.tolerance, "paper variant: |var - 1| bound")
      ->capture_default_str();
  init_command
      ->add_option("--max-iterations", init.lsuv.max_iterations,
                   "paper variant: rescales per layer")
      ->capture_default_str();
  std::string init_seed = "0";
  init_command->add_option("--seed", init_seed, "initialisation seed (0..2^64-1)")
      ->capture_default_str()
      ->excludes(init_int8);
  init_command
      ->add_flag("--orthonormal", init.lsuv.orthonormal_preinit,
                 "orthonormal pre-init of each layer (the paper's step I)")
      ->excludes(init_int8);
  init_command->add_flag("--per-channel", init.lsuv.per_channel,
                         "normalise each output channel separately");
  init_command->add_flag("--skip-unnormalisable", init.lsuv.skip_unnormalisable_layers,
                         "leave zero-variance layers untouched instead of failing");
  init_command
      ->add_option("--layers", init.layers,
                   "conv2d / linear layers LSUV normalises, by name (default: all)")
      ->delimiter(',');
  init_command->add_flag("--no-lsuv", init.skip_lsuv, "only the starting initialiser")
      ->excludes(init_int8);

  lsuv::cli::StatsCommand stats;
  CLI::App* stats_command = app.add_subcommand(
      "stats", "Per-layer output mean/std of a model (spec + weights) on IDX data");
  CLI::Option* stats_spec = stats_command->add_option("--spec", stats.spec, "model spec file");
  CLI::Option* stats_weights =
      stats_command->add_option("--weights", stats.weights, "weights directory");
  stats_command
      ->add_option("--int8", stats.int8,
                   "int8 model file (lsuv quantize) instead of spec + weights: its "
                   "accumulators dequantised")
      ->excludes(stats_spec)
      ->excludes(stats_weights);
  add_data_options(stats_command, stats.data, false);

  lsuv::cli::FoldCommand fold;
  CLI::App* fold_command = app.add_subcommand(
      "fold", "Fold each BatchNorm2d into the conv or linear before it: a new spec and weights");
  fold_command->add_option("--spec", fold.spec, "model spec file")->required();
  fold_command->add_option("--weights", fold.weights, "weights directory")->required();
  fold_command->add_option("--out-spec", fold.out_spec, "folded spec file to write")->required();
  fold_command->add_option("--out", fold.output, "folded weights directory to write")->required();

  lsuv::cli::ForwardCommand forward;
  CLI::App* forward_command = app.add_subcommand(
      "forward", "Run a model (spec + weights) on an NCHW float32 .npy, write the output .npy");
  CLI::Option* forward_spec =
      forward_command->add_option("--spec", forward.spec, "model spec file");
  CLI::Option* forward_weights =
      forward_command->add_option("--weights", forward.weights, "weights directory");
  forward_command
      ->add_option("--int8", forward.int8,
                   "int8 model file (lsuv quantize) instead of spec + weights")
      ->excludes(forward_spec)
      ->excludes(forward_weights);
  forward_command->add_option("--input", forward.input, "input .npy (N, C, H, W)")->required();
  forward_command->add_option("--output", forward.output, "output .npy")->required();
  forward_command
      ->add_option("--batch-size", forward.batch_size,
                   "images per forward call (bounds the model's memory)")
      ->capture_default_str();

  lsuv::cli::QuantizeCommand quantize;
  std::string range = "min_max";
  CLI::App* quantize_command = app.add_subcommand(
      "quantize", "Quantise a model (spec + weights) to int8 on IDX calibration data: one file");
  quantize_command->add_option("--spec", quantize.spec, "model spec file")->required();
  quantize_command->add_option("--weights", quantize.weights, "weights directory")->required();
  quantize_command->add_option("--out", quantize.output, "int8 model file to write")->required();
  add_data_options(quantize_command, quantize.data, true);
  quantize_command
      ->add_option("--range", range, "activation ranges: min_max, or mean_std (mean -+ k std)")
      ->check(CLI::IsMember({"min_max", "mean_std"}))
      ->capture_default_str();
  quantize_command->add_option("--std-multiple", quantize.options.std_multiple, "k of mean_std")
      ->capture_default_str();

  lsuv::cli::BenchOptions bench;
  bench.pytorch_script = lsuv::cli::default_pytorch_script();
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

  lsuv::cli::TrainCommand train;
  std::string train_seed;
  CLI::App* train_command = lsuv::cli::add_train_command(app, train, train_seed);

  lsuv::cli::ExperimentCommand experiment;
  CLI::App* experiment_command = lsuv::cli::add_experiment_command(app, experiment);

  if (is_unknown_command(app, argc, argv)) {
    std::fprintf(stderr,
                 "lsuv: unknown command '%s' (commands: demo, init, stats, forward, fold, "
                 "quantize, train, experiment, bench)\n",
                 argv[1]);
    return 1;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::fprintf(stderr, "lsuv: %s (see lsuv --help)\n", e.what());
    return 1;
  }

  try {
    if (*demo_command) {
      demo.seed = lsuv::cli::parse_seed("--seed", demo_seed);
      require_range("--batch-size", demo.batch_size, 1, kMaxBatchSize);
      require_range("--batches", demo.calibration_batches, 1, kMaxBatches);
      require_finite_range("--tolerance", demo.tolerance, 1e-6, 1.0);
      require_range("--repeats", demo.repeats, 1, 1000);
      lsuv::cli::run_demo(demo);
    } else if (*init_command) {
      lsuv::Initializer chosen = lsuv::Initializer::pytorch_default;
      (void)lsuv::initializer_from_name(initializer.c_str(), &chosen);
      init.initializer = chosen;
      init.lsuv.seed = lsuv::cli::parse_seed("--seed", init_seed);
      check_data_options(init.data);
      if (variant == "paper") {
        init.lsuv.variant = lsuv::LsuvVariant::paper;
        check_paper_options(init.lsuv);
      } else {
        const lsuv::LsuvOptions defaults;
        init.lsuv.tolerance = defaults.tolerance;
        init.lsuv.max_iterations = defaults.max_iterations;
      }
      if (!init.int8.empty()) {
        lsuv::cli::run_init_int8(init);
      } else {
        if (init.spec.empty()) lsuv::cli::fail("init needs --spec, or --int8 FILE");
        lsuv::cli::run_init(init);
      }
    } else if (*stats_command) {
      check_data_options(stats.data);
      if (!stats.int8.empty()) {
        lsuv::cli::run_stats_int8(stats);
      } else {
        if (stats.spec.empty() || stats.weights.empty())
          lsuv::cli::fail("stats needs --spec and --weights, or --int8 FILE");
        lsuv::cli::run_stats(stats);
      }
    } else if (*fold_command) {
      lsuv::cli::run_fold(fold);
    } else if (*forward_command) {
      require_range("--batch-size", forward.batch_size, 1, kMaxBatchSize);
      if (!forward.int8.empty()) {
        lsuv::cli::run_forward_int8(forward);
      } else {
        if (forward.spec.empty() || forward.weights.empty())
          lsuv::cli::fail("forward needs --spec and --weights, or --int8 FILE");
        lsuv::cli::run_forward(forward);
      }
    } else if (*quantize_command) {
      check_data_options(quantize.data);
      if (range == "mean_std") {
        quantize.options.range = lsuv::QuantizeOptions::Range::mean_std;
        require_finite_range("--std-multiple", quantize.options.std_multiple, 0.5, 100.0);
      }
      lsuv::cli::run_quantize(quantize);
    } else if (*train_command) {
      lsuv::cli::check_train_options(train, train_seed);
      lsuv::cli::run_train(train);
    } else if (*experiment_command) {
      lsuv::cli::check_experiment_options(experiment);
      lsuv::cli::run_experiment(experiment);
    } else if (*bench_command) {
      lsuv::cli::run_bench(bench);
    }
  } catch (const lsuv::cli::Failure&) {
    return 1;
  } catch (const std::bad_alloc&) {
    // Buffers sized by the user are checked where they are made; this is everything else.
    std::fprintf(stderr, "lsuv: out of memory\n");
    return 1;
  }
  return 0;
}
