#include "cli/experiment.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "cli/cli_common.hpp"
#include "cli/commands.hpp"
#include "cli/experiment_report.hpp"
#include "cli/progress.hpp"
#include "cli/training_run.hpp"
#include "io/atomic_directory.hpp"
#include "io/atomic_file.hpp"

namespace lsuv::cli {
namespace {

using Clock = std::chrono::steady_clock;

const detail::DirectoryFiles& results_files() {
  static const detail::DirectoryFiles files{{".md", ".csv", ".svg"}, "a results file"};
  return files;
}

// A model spec shipped in models/: installed beside the program's data, or in the source tree.
std::string shipped_spec(const std::string& name) {
  for (const char* directory : {LSUV_INSTALLED_MODELS, LSUV_SOURCE_MODELS}) {
    const std::string path = std::string(directory) + "/" + name + ".spec";
    if (std::filesystem::exists(path)) return path;
  }
  fail("--model " + name + ": " + name + ".spec is neither in " + LSUV_INSTALLED_MODELS +
       " nor in " + LSUV_SOURCE_MODELS + " (give --spec FILE)");
}

// One run: `init` from `seed`, then the recipe, the data order drawn from `seed` as lsuv train
// draws it.
RunResult run_one(const ModelSpec& spec, const ExperimentCommand& command, const std::string& init,
                  std::uint64_t seed, const Dataset& train, const Dataset& test,
                  Progress& progress) {
  const Clock::time_point start = Clock::now();
  const std::int32_t batch = command.recipe.batch_size;
  auto loaded = bind_model(spec, batch);
  Model& model = loaded->model;
  TrainOptions options;
  options.sgd.momentum = command.momentum;
  TrainerMemory memory;
  check(memory.configure(model, options), "planning training");
  memory.bind();
  RunResult run;
  run.init = init;
  run.seed = seed;
  (void)initialise_weights(model, init, seed, train, batch, command.data.mean, command.data.std,
                           &run.lsuv);
  Batcher train_batch(train, command.data.mean, command.data.std, batch);
  Batcher test_batch(test, command.data.mean, command.data.std, batch);
  detail::Pcg32 rng(seed, kOrderStream);
  std::vector<std::int32_t> order(static_cast<std::size_t>(train.count));
  const std::int64_t steps_per_epoch = (train.count + batch - 1) / batch;
  const std::string context = "init " + init + ", seed " + std::to_string(seed);
  for (std::int32_t epoch = 0; epoch < command.recipe.epochs; ++epoch) {
    shuffle(rng, order);
    for (std::int64_t in_epoch = 0; in_epoch < steps_per_epoch; ++in_epoch) {
      const std::int64_t first = in_epoch * batch;
      const auto n = static_cast<std::int32_t>(std::min<std::int64_t>(batch, train.count - first));
      const std::int64_t step = epoch * steps_per_epoch + in_epoch;
      const TrainStepReport report =
          take_step(memory.trainer(), train_batch, order.data() + first, n,
                    command.recipe.learning_rate, step, context + ": nothing written");
      run.losses.push_back(report.loss);
      if (progress.due())
        progress.show((context + ": epoch " + std::to_string(epoch + 1) + ", step " +
                       std::to_string(in_epoch + 1) + "/" + std::to_string(steps_per_epoch))
                          .c_str());
    }
    run.epochs.push_back(evaluate(model, test, test_batch, batch));
  }
  run.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return run;
}

Status write_text(const std::string& path, const std::string& text, FileError* error) {
  return detail::write_file_atomically(
      path.c_str(), [&](detail::FileSink& sink) { return sink.write(text.data(), text.size()); },
      error);
}

}  // namespace

void run_experiment(const ExperimentCommand& command) {
  FileError error;
  check_file(detail::check_replaceable_directory(command.output, results_files(), &error),
             "writing", command.output, error);
  const std::string spec_path = !command.spec.empty()     ? command.spec
                                : command.model == "seed" ? ""
                                                          : shipped_spec(command.model);
  const ModelSpec spec = spec_path.empty() ? seed_spec() : load_spec(spec_path);
  ExperimentResults results;
  results.model = !command.spec.empty()     ? command.spec
                  : command.model == "seed" ? "the seed's network"
                                            : "models/" + command.model + ".spec";
  std::int32_t classes = 0;
  {
    const auto loaded = bind_model(spec, 1);
    classes = classifier_classes(loaded->model, "lsuv experiment");
    for (std::int32_t i = 0; i < loaded->model.layer_count(); ++i)
      results.op_names.push_back(loaded->model.layer(i).spec.name);
  }
  const TrainingDataOptions& data = command.data;
  const Dataset train = load_dataset(data.images, data.labels, data.train_count, spec, classes);
  const Dataset test =
      load_dataset(data.test_images, data.test_labels, data.test_count, spec, classes);
  results.inits = command.inits;
  results.seeds = command.seeds;
  results.epochs = command.recipe.epochs;
  results.batch_size = command.recipe.batch_size;
  results.learning_rate = command.recipe.learning_rate;
  results.momentum = command.momentum;
  results.train_count = train.count;
  results.test_count = test.count;
  std::printf(
      "lsuv experiment: %s, %zu inits x %zu seeds; SGD lr %g, momentum %g, batch %d, %d "
      "epochs on %d training images, %d held out\n",
      results.model.c_str(), command.inits.size(), command.seeds.size(),
      static_cast<double>(results.learning_rate), static_cast<double>(results.momentum),
      static_cast<int>(results.batch_size), static_cast<int>(results.epochs),
      static_cast<int>(train.count), static_cast<int>(test.count));
  std::fflush(stdout);

  Progress progress("experiment");
  for (std::uint64_t seed : command.seeds)
    for (const std::string& init : command.inits) {
      results.runs.push_back(run_one(spec, command, init, seed, train, test, progress));
      const RunResult& run = results.runs.back();
      progress.clear();
      std::printf("seed %llu, %s: test accuracy %.2f%% after epoch %d (%.1f s)\n",
                  static_cast<unsigned long long>(seed), init.c_str(),
                  100.0 * run.epochs.back().accuracy, static_cast<int>(run.epochs.size()),
                  run.seconds);
      std::fflush(stdout);
    }

  const std::string lsuv_plot = lsuv_std_svg(results);
  check_file(detail::write_directory_atomically(
                 command.output, results_files(),
                 [&](const std::string& staging) {
                   LSUV_TRY(write_text(staging + "/results.md", results_markdown(results), &error));
                   LSUV_TRY(write_text(staging + "/results.csv", results_csv(results), &error));
                   LSUV_TRY(write_text(staging + "/runs.csv", runs_csv(results), &error));
                   LSUV_TRY(write_text(staging + "/loss.svg", loss_svg(results), &error));
                   if (lsuv_plot.empty()) return Status::ok;
                   return write_text(staging + "/lsuv_std.svg", lsuv_plot, &error);
                 },
                 &error),
             "writing", command.output, error);
  std::printf("%s", results_markdown(results).c_str());
  std::printf("written to %s\n", command.output.c_str());
}

}  // namespace lsuv::cli
