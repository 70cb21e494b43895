// The options `lsuv train` and `lsuv experiment` share, with the same defaults and range checks:
// the data (Fashion-MNIST from its Debian package, standardised) and the recipe's epochs, batch
// size and learning rate (SGD lr 0.05, batch 64, one epoch).
#pragma once

#include <cstdint>

#include "cli/training_data.hpp"

namespace CLI {
class App;
}

namespace lsuv::cli {

struct Recipe {
  std::int32_t epochs = 1;
  std::int32_t batch_size = 64;
  float learning_rate = 0.05f;
};

// --images --labels --test-images --test-labels --train-count --test-count --mean --std.
void add_training_data_options(CLI::App& command, TrainingDataOptions& data);
void check_training_data_options(const TrainingDataOptions& data);
// --epochs --batch-size --lr.
void add_recipe_options(CLI::App& command, Recipe& recipe);
void check_recipe_options(const Recipe& recipe);

}  // namespace lsuv::cli
