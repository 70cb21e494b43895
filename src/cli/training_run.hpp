// The parts of a training run that `lsuv train` and `lsuv experiment` share: the initialisers
// by name (LSUV included), the trainer with its memory, the seeded data order and one step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/checked_array.hpp"
#include "cli/training_data.hpp"
#include "core/random.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/model.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv::cli {

// pytorch_default, he_normal, orthonormal, lsuv-seed (pytorch_default, then the seed variant),
// lsuv-paper (orthonormal pre-init and the paper variant).
const std::vector<std::string>& init_names();

// Initialises `model` with `init` (one of init_names()) from `seed`. LSUV calibrates on the first
// `calibration_images` training images in file order. Returns what was done, as a line to print;
// *lsuv_layers (when not null) gets LSUV's per-layer report (nothing for the other inits).
std::string initialise_weights(Model& model, const std::string& init, std::uint64_t seed,
                               const Dataset& train, std::int32_t calibration_images, float mean,
                               float std, std::vector<LsuvLayerReport>* lsuv_layers = nullptr);

// The number of classes of a model whose output is one vector of class scores per image; fails
// naming `command` otherwise.
std::int32_t classifier_classes(const Model& model, const char* command);

// A Trainer with its plan and its memory on the heap (the CLI is a desktop program).
class TrainerMemory {
 public:
  // Trainer::configure; its status, for the caller to explain in its options' words.
  Status configure(Model& model, const TrainOptions& options);
  // Trainer::bind (fails on error).
  void bind();
  Trainer& trainer() { return trainer_; }

 private:
  CheckedArray<unsigned char> records_;
  CheckedArray<unsigned char> memory_;
  Trainer trainer_;
};

// The data-order generator's stream: its own, apart from the initialisers' per-layer streams.
constexpr std::uint64_t kOrderStream = 0x6f72646572;  // "order"

// An epoch's order: Fisher-Yates over 0..n-1 from a generator that runs across epochs, so the
// order depends only on the generator's state at the epoch's start.
void shuffle(detail::Pcg32& rng, std::vector<std::int32_t>& order);

// Step `step` (0-based) of a run: SGD on the images indices[0..n) at `learning_rate`. A loss or
// gradient that is not finite fails, saying so and then `consequence` (what is not written).
TrainStepReport take_step(Trainer& trainer, Batcher& batcher, const std::int32_t* indices,
                          std::int32_t n, float learning_rate, std::int64_t step,
                          const std::string& consequence);

}  // namespace lsuv::cli
