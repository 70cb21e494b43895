// The lifetime planner: gives every tensor and every kernel's scratch an offset in one
// activation region so that no two that are alive at the same op overlap.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/model.hpp"

namespace lsuv::detail {

struct PlanResult {
  std::size_t peak = 0;         // bytes of the region
  std::size_t lower_bound = 0;  // the largest sum of bytes alive at one op
};

// Reads each op's output_bytes, last_use, in_place and scratch_bytes and sets output_offset and
// scratch_offset. A block (an output with the in-place outputs that share it, or one op's
// scratch) is alive from the op that produces it to the last op that uses it, inclusive.
// Blocks are placed one by one, each at the lowest offset clear of every placed block it shares
// an op with, in four orders (largest first, by producer, longest-lived first, largest
// bytes x lifetime first); the smallest plan is kept. No memory beyond the records; O(n^3) in
// the worst case for n ops.
PlanResult plan_activations(Layer* layers, std::int32_t count);

}  // namespace lsuv::detail
