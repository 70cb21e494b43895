// Small helpers the test suites share: a model bound to heap memory the test owns, seeded
// Gaussian images, and whole-parameter snapshots for "nothing changed" checks.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "graph_memory.hpp"
#include "lsuv/arena.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/init.hpp"
#include "lsuv/model.hpp"

namespace lsuv_test {

// A megabyte of arena memory (kAlignment-aligned) for the test cases that need a fixed buffer:
// one static copy for the whole program, not one per case, so that a test program fits a board's
// RAM beside its heap (mps2-an386 has 4 MiB). Each case uses it alone.
inline constexpr std::size_t kSharedBufferBytes = std::size_t{1} << 20;
inline unsigned char* shared_buffer() {
  alignas(lsuv::Arena::kAlignment) static unsigned char buffer[kSharedBufferBytes];
  return buffer;
}

// Restores the best kernel level when a test case that forced a lower one ends.
struct LevelGuard {
  ~LevelGuard() { (void)lsuv::set_cpu_level_limit(lsuv::cpu_level_detected()); }
};

struct BoundModel {
  lsuv::Model model;
  std::vector<unsigned char> memory;
  std::unique_ptr<lsuv::Arena> arena;
};

// Configures, binds and initialises (PyTorch's default, seed 1) a model; REQUIREs success.
inline std::unique_ptr<BoundModel> make_model(
    const lsuv::LayerSpec* layers, std::int32_t count, lsuv::ImageShape input,
    std::int32_t max_batch, lsuv::Initializer init = lsuv::Initializer::pytorch_default) {
  auto bound = std::make_unique<BoundModel>();
  REQUIRE(bound->model.configure(layers, count, input, max_batch, lsuv_test::graph(count)) ==
          lsuv::Status::ok);
  bound->memory.resize(bound->model.required_bytes() + lsuv::Arena::kAlignment);
  bound->arena = std::make_unique<lsuv::Arena>(bound->memory.data(), bound->memory.size());
  REQUIRE(bound->model.bind(*bound->arena) == lsuv::Status::ok);
  std::vector<unsigned char> scratch(lsuv::initialize_scratch_bytes(bound->model, init) + 64);
  lsuv::Arena scratch_arena(scratch.data(), scratch.size());
  lsuv::InitOptions options;
  options.seed = 1;
  REQUIRE(lsuv::initialize(bound->model, init, options, scratch_arena) == lsuv::Status::ok);
  return bound;
}

inline std::vector<float> gaussian_images(std::size_t count, lsuv::ImageShape shape, unsigned seed,
                                          float mean = 0.0f, float std = 1.0f) {
  std::mt19937 gen(seed);
  std::normal_distribution<float> dist(mean, std);
  std::vector<float> images(count * shape.elements());
  for (float& v : images) v = dist(gen);
  return images;
}

// Every parameter of the model, in layer order.
inline std::vector<float> snapshot(const lsuv::Model& model) {
  std::vector<float> all(model.parameter_count());
  REQUIRE(model.copy_parameters_to(all.data(), all.size()) == lsuv::Status::ok);
  return all;
}

// Bitwise equality (NaN-safe), for "the model is unchanged".
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace lsuv_test
