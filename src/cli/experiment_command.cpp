// The options of `lsuv experiment` and their checks.
#include <CLI/CLI.hpp>

#include <algorithm>

#include "cli/cli_common.hpp"
#include "cli/experiment.hpp"
#include "cli/option_checks.hpp"
#include "cli/training_run.hpp"

namespace lsuv::cli {
namespace {

constexpr std::int64_t kMaxSeeds = 1000;

// "N": seeds 0..N-1; with a comma, the listed seeds ("7," is the one seed 7).
std::vector<std::uint64_t> parse_seeds(const std::string& text) {
  std::vector<std::uint64_t> seeds;
  if (text.find(',') == std::string::npos) {
    const std::uint64_t count = parse_seed("--seeds", text);
    if (count < 1 || count > static_cast<std::uint64_t>(kMaxSeeds))
      fail("--seeds must be a count 1.." + std::to_string(kMaxSeeds) + " or a list (got " + text +
           ")");
    for (std::uint64_t seed = 0; seed < count; ++seed) seeds.push_back(seed);
    return seeds;
  }
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::uint64_t seed = parse_seed("--seeds", text.substr(start, comma - start));
    if (std::find(seeds.begin(), seeds.end(), seed) != seeds.end())
      fail("--seeds lists seed " + std::to_string(seed) + " twice");
    seeds.push_back(seed);
    start = comma + 1;
  }
  if (seeds.size() > static_cast<std::size_t>(kMaxSeeds))
    fail("--seeds lists more than " + std::to_string(kMaxSeeds) + " seeds");
  return seeds;
}

}  // namespace

CLI::App* add_experiment_command(CLI::App& app, ExperimentCommand& command) {
  CLI::App* experiment = app.add_subcommand(
      "experiment",
      "Train a model from each init over several seeds: results table (Markdown, CSV), SVG plots");
  experiment->add_option("--out", command.output, "results directory to write")->required();
  CLI::Option* model =
      experiment->add_option("--model", command.model, "the seed's network, or models/resnet8.spec")
          ->check(CLI::IsMember({"seed", "resnet8"}))
          ->capture_default_str();
  experiment->add_option("--spec", command.spec, "model spec file instead of --model")
      ->excludes(model);
  experiment
      ->add_option("--inits", command.inits,
                   "initialisers to compare (default: pytorch_default, he_normal, orthonormal, "
                   "lsuv-seed, lsuv-paper)")
      ->delimiter(',')
      ->check(CLI::IsMember(init_names()));
  experiment
      ->add_option("--seeds", command.seeds_text,
                   "N (seeds 0..N-1) or a list of seeds: 3,7 (7, for the one seed 7)")
      ->capture_default_str();
  add_training_data_options(*experiment, command.data);
  add_recipe_options(*experiment, command.recipe);
  experiment->add_option("--momentum", command.momentum, "SGD momentum")->capture_default_str();
  return experiment;
}

void check_experiment_options(ExperimentCommand& command) {
  command.seeds = parse_seeds(command.seeds_text);
  check_recipe_options(command.recipe);
  check_training_data_options(command.data);
  require_finite_range("--momentum", command.momentum, 0.0, 0.999999);
  if (command.inits.empty()) command.inits = init_names();
  for (std::size_t i = 0; i < command.inits.size(); ++i)
    if (std::find(command.inits.begin(), command.inits.begin() + static_cast<std::ptrdiff_t>(i),
                  command.inits[i]) != command.inits.begin() + static_cast<std::ptrdiff_t>(i))
      fail("--inits names " + command.inits[i] + " twice");
}

}  // namespace lsuv::cli
