// Where op `op`'s backward writes the gradient of its input `input`: that input's producer, or,
// when the input is a clamp whose backward the op runs (TrainingOp::gates_input), the clamp's
// input's producer. Negative for the network's input.
#pragma once

#include <cstdint>

#include "lsuv/model.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv {

inline std::int32_t gradient_target(const Model& model, const TrainingOp* ops, std::int32_t op,
                                    std::int32_t input) {
  const std::int32_t from = model.layer(op).inputs[input];
  return input == 0 && ops[op].gates_input ? model.layer(from).inputs[0] : from;
}

}  // namespace lsuv
