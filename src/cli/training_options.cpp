#include "cli/training_options.hpp"

#include <CLI/CLI.hpp>

#include "cli/cli_common.hpp"
#include "cli/option_checks.hpp"

namespace lsuv::cli {

void add_training_data_options(CLI::App& command, TrainingDataOptions& data) {
  const std::string directory = fashion_mnist::kDefaultDirectory;
  data.images = fashion_mnist_file(directory, fashion_mnist::kTrainImages);
  data.labels = fashion_mnist_file(directory, fashion_mnist::kTrainLabels);
  data.test_images = fashion_mnist_file(directory, fashion_mnist::kTestImages);
  data.test_labels = fashion_mnist_file(directory, fashion_mnist::kTestLabels);
  data.mean = fashion_mnist::kMean;
  data.std = fashion_mnist::kStd;
  command.add_option("--images", data.images, "training images (IDX)")->capture_default_str();
  command.add_option("--labels", data.labels, "training labels (IDX)")->capture_default_str();
  command.add_option("--test-images", data.test_images, "held-out images (IDX)")
      ->capture_default_str();
  command.add_option("--test-labels", data.test_labels, "held-out labels (IDX)")
      ->capture_default_str();
  command.add_option("--train-count", data.train_count, "use the first N training images (0: all)")
      ->capture_default_str();
  command.add_option("--test-count", data.test_count, "use the first N held-out images (0: all)")
      ->capture_default_str();
  command.add_option("--mean", data.mean, "inputs: (pixel/255 - mean) / std")
      ->capture_default_str();
  command.add_option("--std", data.std, "inputs: (pixel/255 - mean) / std")->capture_default_str();
}

void check_training_data_options(const TrainingDataOptions& data) {
  require_range("--train-count", data.train_count, 0, INT32_MAX);
  require_range("--test-count", data.test_count, 0, INT32_MAX);
  require_finite_range("--mean", data.mean, -1e3, 1e3);
  require_finite_range("--std", data.std, 1e-3, 1e3);
}

void add_recipe_options(CLI::App& command, Recipe& recipe) {
  command.add_option("--epochs", recipe.epochs, "passes over the training images")
      ->capture_default_str();
  command.add_option("--batch-size", recipe.batch_size, "images per step")->capture_default_str();
  command.add_option("--lr", recipe.learning_rate, "learning rate")->capture_default_str();
}

void check_recipe_options(const Recipe& recipe) {
  require_range("--epochs", recipe.epochs, 1, 1000000);
  require_range("--batch-size", recipe.batch_size, 1, 65536);
  require_finite_range("--lr", recipe.learning_rate, 1e-12, 1e3);
}

}  // namespace lsuv::cli
