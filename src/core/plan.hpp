// The lifetime planner: gives every block (a tensor, a gradient, a kernel's scratch) an offset in
// one region so that no two blocks alive at the same step overlap. The inference plan's steps
// are the ops; a training plan's steps are the forward ops, the loss and the backward ops.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/model.hpp"

namespace lsuv::detail {

struct PlanResult {
  std::size_t peak = 0;         // bytes of the region
  std::size_t lower_bound = 0;  // the largest sum of bytes alive at one step
};

// One block: `bytes` (0: nothing to place) alive from step `first` to step `last` inclusive; the
// planner writes its offset through `offset`.
struct PlanBlock {
  std::size_t bytes = 0;
  std::int32_t first = 0, last = 0;
  std::size_t* offset = nullptr;
};

// The blocks to place, reached by index (so a plan needs no memory beyond its records): block k
// of `count` is at(context, k), the same block every time it is asked for.
struct PlanBlocks {
  std::int32_t count = 0;
  PlanBlock (*at)(void* context, std::int32_t k) = nullptr;
  void* context = nullptr;
};

// Places the blocks one by one, each at the lowest offset clear of every placed block it shares
// a step with, in four orders (largest first, by first step, longest-lived first, largest
// bytes x lifetime first); the smallest plan is kept and written. O(count^3) in the worst case.
PlanResult plan_blocks(const PlanBlocks& blocks);

// The inference plan. Reads each op's output_bytes, last_use, in_place and scratch_bytes and sets
// output_offset and scratch_offset. A block (an output with the in-place outputs that share it,
// or one op's scratch) is alive from the op that produces it to the last op that uses it,
// inclusive.
PlanResult plan_activations(Layer* layers, std::int32_t count);

}  // namespace lsuv::detail
