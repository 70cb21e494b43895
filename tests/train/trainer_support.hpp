// What the trainer tests share: a Trainer configured and bound on heap memory the test owns, and
// batch norms with statistics and affine parameters away from the identity.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "lsuv/arena.hpp"
#include "lsuv/model.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv_test {

struct BoundTrainer {
  std::vector<unsigned char> records;
  std::unique_ptr<lsuv::Arena> plan;
  std::vector<unsigned char> memory;
  std::unique_ptr<lsuv::Arena> arena;
  lsuv::Trainer trainer;

  BoundTrainer(lsuv::Model& model, const lsuv::TrainOptions& options)
      : records(lsuv::Trainer::plan_bytes(model.layer_count()) + lsuv::Arena::kAlignment),
        plan(std::make_unique<lsuv::Arena>(records.data(), records.size())) {
    REQUIRE(trainer.configure(model, options, *plan) == lsuv::Status::ok);
    memory.resize(trainer.training_bytes() + lsuv::Arena::kAlignment);
    arena = std::make_unique<lsuv::Arena>(memory.data(), memory.size());
    REQUIRE(trainer.bind(*arena) == lsuv::Status::ok);
  }
};

// Running means around 0, variances in [0.25, 2], gamma around 1 and beta around 0.
inline void randomize_batch_norms(lsuv::Model& model, std::mt19937& gen) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> variance(0.25f, 2.0f);
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    if (layer.spec.kind != lsuv::LayerKind::batch_norm2d) continue;
    for (std::size_t c = 0; c < layer.weight_count; ++c) {
      layer.running_mean[c] = 0.3f * normal(gen);
      layer.running_var[c] = variance(gen);
      layer.weights[c] = 1.0f + 0.2f * normal(gen);
      layer.bias[c] = 0.1f * normal(gen);
    }
  }
}

}  // namespace lsuv_test
