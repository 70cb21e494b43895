#include "core/plan.hpp"

namespace lsuv::detail {
namespace {

constexpr std::size_t kUnplaced = SIZE_MAX;

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

struct Block {
  std::size_t bytes = 0;
  std::int32_t first = 0, last = 0;
  std::size_t* offset = nullptr;
};

// Block k: op k / 2's output (even k; none when it works in place) or its scratch (odd k).
Block block(Layer* layers, std::int32_t count, std::int32_t k) {
  const std::int32_t op = k / 2;
  Layer& layer = layers[op];
  if (k % 2 == 1) return {layer.scratch_bytes, op, op, &layer.scratch_offset};
  if (layer.in_place) return {};
  return {layer.output_bytes, op, block_end(layers, count, op), &layer.output_offset};
}

bool share_an_op(const Block& a, const Block& b) {
  return a.first <= b.last && b.first <= a.last;
}

// The orders blocks are placed in: largest first; by the op that produces them (then largest);
// longest-lived first; largest bytes x lifetime first. Each is a good plan for some graphs.
constexpr int kOrders = 4;

bool placed_before(const Block& a, const Block& b, int order) {
  const std::int64_t life_a = a.last - a.first + 1, life_b = b.last - b.first + 1;
  switch (order) {
    case 0:
      return a.bytes > b.bytes;
    case 1:
      return a.first < b.first || (a.first == b.first && a.bytes > b.bytes);
    case 2:
      return life_a > life_b || (life_a == life_b && a.bytes > b.bytes);
    default:
      return static_cast<long double>(a.bytes) * life_a >
             static_cast<long double>(b.bytes) * life_b;
  }
}

// Places every block in `order`, each at the lowest offset clear of every placed block it shares
// an op with; returns the bytes of the region.
std::size_t place(Layer* layers, std::int32_t count, int order) {
  const std::int32_t blocks = 2 * count;
  for (std::int32_t k = 0; k < blocks; ++k) {
    const Block b = block(layers, count, k);
    if (b.offset != nullptr) *b.offset = b.bytes > 0 ? kUnplaced : 0;
  }
  std::size_t peak = 0;
  for (;;) {
    std::int32_t pick = -1;
    Block chosen;
    for (std::int32_t k = 0; k < blocks; ++k) {
      const Block b = block(layers, count, k);
      if (b.bytes > 0 && *b.offset == kUnplaced && (pick < 0 || placed_before(b, chosen, order))) {
        pick = k;
        chosen = b;
      }
    }
    if (pick < 0) break;
    std::size_t at = 0;
    for (bool moved = true; moved;) {
      moved = false;
      for (std::int32_t k = 0; k < blocks; ++k) {
        const Block b = block(layers, count, k);
        if (b.bytes == 0 || *b.offset == kUnplaced || !share_an_op(b, chosen)) continue;
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

}  // namespace

PlanResult plan_activations(Layer* layers, std::int32_t count) {
  int best = 0;
  std::size_t best_peak = SIZE_MAX;
  for (int order = 0; order < kOrders; ++order) {
    const std::size_t peak = place(layers, count, order);
    if (peak < best_peak) {
      best_peak = peak;
      best = order;
    }
  }
  PlanResult result;
  result.peak = place(layers, count, best);
  const std::int32_t blocks = 2 * count;
  for (std::int32_t i = 0; i < count; ++i)
    if (layers[i].in_place) layers[i].output_offset = layers[layers[i].inputs[0]].output_offset;
  for (std::int32_t step = 0; step < count; ++step) {
    std::size_t alive = 0;
    for (std::int32_t k = 0; k < blocks; ++k) {
      const Block b = block(layers, count, k);
      if (b.bytes > 0 && b.first <= step && step <= b.last) alive += b.bytes;
    }
    if (alive > result.lower_bound) result.lower_bound = alive;
  }
  return result;
}

}  // namespace lsuv::detail
