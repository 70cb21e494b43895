// Test helpers for int8 models: a float model with its BatchNorms folded, and its quantisation
// bound to heap memory the test owns.
#pragma once

#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "lsuv/batch_source.hpp"
#include "lsuv/fold.hpp"
#include "lsuv/quantized_model.hpp"
#include "support.hpp"

namespace lsuv_test {

// `original` with every BatchNorm2d folded (a copy of it when it has none).
inline std::unique_ptr<BoundModel> folded_copy(const lsuv::Model& original) {
  const std::int32_t n = lsuv::folded_layer_count(original);
  auto specs = std::make_shared<std::vector<lsuv::LayerSpec>>(static_cast<std::size_t>(n));
  REQUIRE(lsuv::fold_batch_norm_specs(original, specs->data(), n) == lsuv::Status::ok);
  // The records keep pointers into nothing but the graph arena: the specs may go.
  auto fused = make_model(specs->data(), n, original.input_shape(), original.max_batch());
  REQUIRE(lsuv::fold_batch_norm_parameters(original, fused->model) == lsuv::Status::ok);
  return fused;
}

struct BoundQuantized {
  lsuv::QuantizedModel model;
  std::vector<unsigned char> graph;
  std::vector<unsigned char> memory;
  std::unique_ptr<lsuv::Arena> graph_arena, arena;
};

// Configured from `float_model` and bound; not yet quantised.
inline std::unique_ptr<BoundQuantized> configure_quantized(const lsuv::Model& float_model) {
  auto q = std::make_unique<BoundQuantized>();
  q->graph.resize(lsuv::QuantizedModel::graph_bytes(float_model.layer_count()) +
                  lsuv::Arena::kAlignment);
  q->graph_arena = std::make_unique<lsuv::Arena>(q->graph.data(), q->graph.size());
  REQUIRE(q->model.configure(float_model, *q->graph_arena) == lsuv::Status::ok);
  q->memory.resize(q->model.required_bytes() + lsuv::Arena::kAlignment);
  q->arena = std::make_unique<lsuv::Arena>(q->memory.data(), q->memory.size());
  REQUIRE(q->model.bind(*q->arena) == lsuv::Status::ok);
  return q;
}

// Quantised from `float_model` on `source`; REQUIREs success.
inline std::unique_ptr<BoundQuantized> quantized(lsuv::Model& float_model,
                                                 lsuv::BatchSource& source,
                                                 const lsuv::QuantizeOptions& options = {}) {
  auto q = configure_quantized(float_model);
  std::vector<unsigned char> scratch(lsuv::quantize_scratch_bytes(float_model, source) +
                                     lsuv::Arena::kAlignment);
  lsuv::Arena arena(scratch.data(), scratch.size());
  REQUIRE(lsuv::quantize(float_model, source, options, arena, q->model) == lsuv::Status::ok);
  REQUIRE(q->model.check_parameters() == lsuv::Status::ok);
  return q;
}

}  // namespace lsuv_test
