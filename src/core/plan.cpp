#include "core/plan.hpp"

namespace lsuv::detail {
namespace {

constexpr std::size_t kUnplaced = SIZE_MAX;

bool share_a_step(const PlanBlock& a, const PlanBlock& b) {
  return a.first <= b.last && b.first <= a.last;
}

// The orders blocks are placed in: largest first; by the step that produces them (then
// largest); longest-lived first; largest bytes x lifetime first; by the step that frees them,
// latest first (then largest). Each is a good plan for some graphs.
constexpr int kOrders = 5;

bool placed_before(const PlanBlock& a, const PlanBlock& b, int order) {
  const std::int64_t life_a = a.last - a.first + 1, life_b = b.last - b.first + 1;
  switch (order) {
    case 0:
      return a.bytes > b.bytes;
    case 1:
      return a.first < b.first || (a.first == b.first && a.bytes > b.bytes);
    case 2:
      return life_a > life_b || (life_a == life_b && a.bytes > b.bytes);
    case 4:
      return a.last > b.last || (a.last == b.last && a.bytes > b.bytes);
    default:
      return static_cast<long double>(a.bytes) * life_a >
             static_cast<long double>(b.bytes) * life_b;
  }
}

// Places every block in `order`, each at the lowest offset clear of every placed block it shares
// a step with; returns the bytes of the region.
std::size_t place(const PlanBlocks& blocks, int order) {
  for (std::int32_t k = 0; k < blocks.count; ++k) {
    const PlanBlock b = blocks.at(blocks.context, k);
    if (b.offset != nullptr) *b.offset = b.bytes > 0 ? kUnplaced : 0;
  }
  std::size_t peak = 0;
  for (;;) {
    std::int32_t pick = -1;
    PlanBlock chosen;
    for (std::int32_t k = 0; k < blocks.count; ++k) {
      const PlanBlock b = blocks.at(blocks.context, k);
      if (b.bytes > 0 && *b.offset == kUnplaced && (pick < 0 || placed_before(b, chosen, order))) {
        pick = k;
        chosen = b;
      }
    }
    if (pick < 0) break;
    std::size_t at = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (std::int32_t k = 0; k < blocks.count; ++k) {
        const PlanBlock b = blocks.at(blocks.context, k);
        if (b.bytes == 0 || *b.offset == kUnplaced || !share_a_step(b, chosen)) continue;
        if (at < *b.offset + b.bytes && *b.offset < at + chosen.bytes) {
          at = *b.offset + b.bytes;
          moved = true;
        }
      }
    }
    *chosen.offset = at;
    if (at + chosen.bytes > peak) peak = at + chosen.bytes;
  }
  return peak;
}

// The last op that uses op `root`'s storage: the last use of the final op in its chain of
// in-place successors. An op works in place only when it is the last reader of its input, so
// that successor, if any, is the op at the input's last use.
std::int32_t block_end(const Layer* layers, std::int32_t count, std::int32_t root) {
  std::int32_t tail = root;
  for (;;) {
    const std::int32_t next = layers[tail].last_use;
    if (next >= count || !layers[next].in_place || layers[next].inputs[0] != tail) break;
    tail = next;
  }
  return layers[tail].last_use;
}

struct LayerBlocks {
  Layer* layers;
  std::int32_t count;
};

// Block k: op k / 2's output (even k; none when it works in place) or its scratch (odd k).
PlanBlock layer_block(void* context, std::int32_t k) {
  const LayerBlocks& all = *static_cast<const LayerBlocks*>(context);
  const std::int32_t op = k / 2;
  Layer& layer = all.layers[op];
  if (k % 2 == 1) return {layer.scratch_bytes, op, op, &layer.scratch_offset};
  if (layer.in_place) return {};
  return {layer.output_bytes, op, block_end(all.layers, all.count, op), &layer.output_offset};
}

}  // namespace

PlanResult plan_blocks(const PlanBlocks& blocks) {
  int best = 0;
  std::size_t best_peak = SIZE_MAX;
  for (int order = 0; order < kOrders; ++order) {
    const std::size_t peak = place(blocks, order);
    if (peak < best_peak) {
      best_peak = peak;
      best = order;
    }
  }
  PlanResult result;
  result.peak = place(blocks, best);
  std::int32_t steps = 0;
  for (std::int32_t k = 0; k < blocks.count; ++k) {
    const PlanBlock b = blocks.at(blocks.context, k);
    if (b.bytes > 0 && b.last + 1 > steps) steps = b.last + 1;
  }
  for (std::int32_t step = 0; step < steps; ++step) {
    std::size_t alive = 0;
    for (std::int32_t k = 0; k < blocks.count; ++k) {
      const PlanBlock b = blocks.at(blocks.context, k);
      if (b.bytes > 0 && b.first <= step && step <= b.last) alive += b.bytes;
    }
    if (alive > result.lower_bound) result.lower_bound = alive;
  }
  return result;
}

PlanResult plan_activations(Layer* layers, std::int32_t count) {
  LayerBlocks all = {layers, count};
  const PlanResult result = plan_blocks({2 * count, layer_block, &all});
  for (std::int32_t i = 0; i < count; ++i)
    if (layers[i].in_place) layers[i].output_offset = layers[layers[i].inputs[0]].output_offset;
  return result;
}

}  // namespace lsuv::detail
