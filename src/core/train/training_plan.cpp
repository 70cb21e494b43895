// Trainer::configure: which parameters train, which tensors a training step keeps and for how
// long, and where each lives in the region (the lifetime planner of plan.hpp over the step's
// timeline of 2n + 1 steps: forward ops 0..n-1, the loss at n, op i's backward at 2n - i).
#include <cstring>
#include <new>

#include "core/checked_math.hpp"
#include "core/ops/op.hpp"
#include "core/plan.hpp"
#include "core/train/gradient_target.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv {
namespace {

constexpr std::size_t kBlock = Arena::kAlignment;

bool tensor_bytes(ImageShape shape, std::int32_t batch, std::size_t* out) {
  std::size_t n = 0;
  if (!detail::checked_multiply(shape.elements(), static_cast<std::size_t>(batch), &n) ||
      !detail::checked_multiply(n, sizeof(float), &n) || n > SIZE_MAX - (kBlock - 1))
    return false;
  *out = (n + kBlock - 1) / kBlock * kBlock;
  return true;
}

bool round_block(std::size_t bytes, std::size_t* out) {
  if (bytes > SIZE_MAX - (kBlock - 1)) return false;
  *out = (bytes + kBlock - 1) / kBlock * kBlock;
  return true;
}

bool is_clamp(LayerKind kind) {
  return kind == LayerKind::relu || kind == LayerKind::relu6 || kind == LayerKind::hardtanh;
}

bool has_parameters_in(const Layer& layer) {
  return layer.weight_count > 0 || layer.bias_count > 0;
}

std::int32_t max_of(std::int32_t a, std::int32_t b) {
  return a > b ? a : b;
}

// Which parameters the selection lets train, before reachability.
Status select(const Model& model, const TrainableSelection& selection, TrainingOp* ops) {
  const std::int32_t n = model.layer_count();
  if (selection.last_layers < 0 || selection.frozen_count < 0 ||
      (selection.frozen_count > 0 && selection.frozen == nullptr))
    return Status::invalid_argument;
  for (std::int32_t f = 0; f < selection.frozen_count; ++f)
    if (model.find_layer(selection.frozen[f]) < 0) return Status::invalid_argument;
  std::int32_t from_end = 0;  // ops with parameters at or after i
  for (std::int32_t i = n - 1; i >= 0; --i) {
    const Layer& layer = model.layer(i);
    if (!has_parameters_in(layer)) continue;
    ++from_end;
    bool trains = selection.last_layers == 0 || from_end <= selection.last_layers;
    for (std::int32_t f = 0; f < selection.frozen_count; ++f)
      if (std::strncmp(selection.frozen[f], layer.spec.name, LayerSpec::kMaxNameLength + 1) == 0)
        trains = false;
    ops[i].trains_weights = trains && !selection.bias_only && layer.weight_count > 0;
    ops[i].trains_bias = trains && layer.bias_count > 0;
  }
  return Status::ok;
}

// Who needs what: parameters that cannot reach the loss do not train; an output's gradient is
// computed when it reaches the loss and something at or before it trains.
bool mark_gradients(const Model& model, TrainingOp* ops) {
  const std::int32_t n = model.layer_count();
  for (std::int32_t i = 0; i < n; ++i) ops[i].needs_gradient = i == n - 1;  // reaches the loss
  for (std::int32_t i = n - 1; i >= 0; --i) {
    if (!ops[i].needs_gradient) continue;
    const Layer& layer = model.layer(i);
    for (std::int32_t k = 0; k < layer.input_count; ++k)
      if (layer.inputs[k] >= 0) ops[layer.inputs[k]].needs_gradient = true;
  }
  bool any = false;
  for (std::int32_t i = 0; i < n; ++i) {
    TrainingOp& op = ops[i];
    const bool reaches = op.needs_gradient;
    op.trains_weights = op.trains_weights && reaches;
    op.trains_bias = op.trains_bias && reaches;
    bool upstream = op.trains_weights || op.trains_bias;
    const Layer& layer = model.layer(i);
    for (std::int32_t k = 0; k < layer.input_count; ++k)
      if (layer.inputs[k] >= 0 && ops[layer.inputs[k]].needs_gradient) upstream = true;
    op.needs_gradient = reaches && upstream;
    any = any || op.trains_weights || op.trains_bias;
  }
  return any;
}

// Ops reading op `from`'s output, counted once per input occurrence; *reader is the last.
std::int32_t readers_of(const Model& model, std::int32_t from, std::int32_t* reader) {
  std::int32_t count = 0;
  for (std::int32_t i = from + 1; i < model.layer_count(); ++i)
    for (std::int32_t k = 0; k < model.layer(i).input_count; ++k)
      if (model.layer(i).inputs[k] == from) {
        ++count;
        *reader = i;
      }
  return count;
}

// A clamp's backward runs in the backward of the op reading its output (a ClampGate), which then
// writes the clamp's input gradient, when that op is its only reader, reads it as its first
// input and can (ops::OpTraits::gates_input), and the clamp is its input's only reader: the
// gradient written is then the whole of that input's. The clamp's own gradient and its pass over
// it go. Returns the reader, or -1.
std::int32_t gate_reader(const Model& model, const TrainingOp* ops, std::int32_t clamp) {
  const Layer& layer = model.layer(clamp);
  const std::int32_t from = layer.inputs[0];
  std::int32_t reader = -1, other = -1;
  if (!is_clamp(layer.spec.kind) || !ops[clamp].needs_gradient || from < 0 ||
      !ops[from].needs_gradient || readers_of(model, from, &other) != 1 ||
      readers_of(model, clamp, &reader) != 1)
    return -1;
  const Layer& next = model.layer(reader);
  return ops::traits(next.spec.kind).gates_input && next.inputs[0] == clamp &&
                 ops[reader].needs_gradient
             ? reader
             : -1;
}

// Lifetimes, in-place storage and gradient write modes on the 2n + 1 step timeline.
void plan_lifetimes(const Model& model, TrainingOp* ops) {
  const std::int32_t n = model.layer_count();
  const auto backward_step = [n](std::int32_t i) { return 2 * n - i; };
  for (std::int32_t i = 0; i < n; ++i) {
    const std::int32_t reader = gate_reader(model, ops, i);
    ops[i].backward_folded = reader >= 0;
    if (reader >= 0) ops[reader].gates_input = true;
  }
  for (std::int32_t i = 0; i < n; ++i) {
    const Layer& layer = model.layer(i);
    ops[i].output_first = i;
    ops[i].output_last = i == n - 1 ? n : i;  // the loss reads the network's output
    ops[i].saves = 0;
    if (ops[i].needs_gradient && !ops[i].backward_folded)
      ops[i].saves = ops::traits(layer.spec.kind).saves(layer, ops[i].trains_weights);
    // A folded clamp has no gradient of its own; its reader's backward reads its output.
    if (ops[i].backward_folded) ops[i].gradient_bytes = 0;
  }
  // Forward and backward readers extend each output's life.
  for (std::int32_t i = 0; i < n; ++i) {
    TrainingOp& op = ops[i];
    if (op.saves & ops::kSavesOutput) op.output_last = max_of(op.output_last, backward_step(i));
    const Layer& layer = model.layer(i);
    for (std::int32_t k = 0; k < layer.input_count; ++k) {
      const std::int32_t from = layer.inputs[k];
      if (from < 0) continue;
      ops[from].output_last = max_of(ops[from].output_last, i);
      if (k == 0 && ((op.saves & ops::kSavesInput) || op.gates_input))
        ops[from].output_last = max_of(ops[from].output_last, backward_step(i));
    }
  }
  // A gradient lives from its first writer's step (the loss for the network's output, else the
  // latest reader, whose backward runs first) to the backward of the op that produced it. The
  // first writer assigns, the others accumulate; backward order is i from n - 1 down, inputs in
  // order within an op.
  constexpr std::int32_t kUnwritten = -1;
  for (std::int32_t i = 0; i < n; ++i) {
    ops[i].gradient_first = i == n - 1 ? n : kUnwritten;
    ops[i].gradient_last = ops[i].needs_gradient ? backward_step(i) : 0;
  }
  for (std::int32_t i = n - 1; i >= 0; --i) {
    if (!ops[i].needs_gradient || ops[i].backward_folded) continue;
    const Layer& layer = model.layer(i);
    for (std::int32_t k = 0; k < layer.input_count; ++k) {
      const std::int32_t from = gradient_target(model, ops, i, k);
      ops[i].accumulate[k] = 0;
      if (from < 0 || !ops[from].needs_gradient) continue;
      if (ops[from].gradient_first == kUnwritten)
        ops[from].gradient_first = backward_step(i);
      else
        ops[i].accumulate[k] = 1;
    }
  }
  for (std::int32_t i = 0; i < n; ++i)
    if (!ops[i].needs_gradient || ops[i].backward_folded)
      ops[i].gradient_first = ops[i].gradient_last = 0;
  // In place: an op that may writes over its first input when it is that input's last reader,
  // no backward step reads that input and the sizes agree (the network input is the caller's).
  for (std::int32_t i = 0; i < n; ++i) {
    const Layer& layer = model.layer(i);
    const std::int32_t from = layer.inputs[0];
    ops[i].in_place = ops::traits(layer.spec.kind).in_place && from >= 0 &&
                      ops[from].output_last == i && ops[from].output_bytes == ops[i].output_bytes;
  }
  // A chain of in-place ops is one block: its root lives until the chain's last use.
  for (std::int32_t i = n - 1; i >= 0; --i)
    if (ops[i].in_place) {
      TrainingOp& root = ops[model.layer(i).inputs[0]];
      root.output_last = max_of(root.output_last, ops[i].output_last);
    }
  // A clamp in place over the op just before it runs in that op's epilogue (its backward reads
  // the clamped output, which is what the storage holds).
  for (std::int32_t i = 0; i + 1 < n; ++i) {
    const Layer& next = model.layer(i + 1);
    const LayerKind kind = model.layer(i).spec.kind;
    ops[i].fuses_next = ops::traits(kind).epilogue &&
                        !(kind == LayerKind::add && model.layer(i).spec.relu) &&
                        ops[i + 1].in_place && next.inputs[0] == i && is_clamp(next.spec.kind);
  }
}

struct TrainingBlocks {
  TrainingOp* ops;
  std::int32_t count;
};

// Block k: op k / 4's output (none when in place), its gradient, its forward scratch, its
// backward scratch.
detail::PlanBlock training_block(void* context, std::int32_t k) {
  const TrainingBlocks& all = *static_cast<const TrainingBlocks*>(context);
  const std::int32_t i = k / 4;
  TrainingOp& op = all.ops[i];
  switch (k % 4) {
    case 0:
      if (op.in_place) return {};
      return {op.output_bytes, op.output_first, op.output_last, &op.output_offset};
    case 1:
      if (!op.needs_gradient || op.backward_folded) return {};
      return {op.gradient_bytes, op.gradient_first, op.gradient_last, &op.gradient_offset};
    case 2:
      return {op.scratch_bytes, i, i, &op.scratch_offset};
    default:
      if (!op.needs_gradient) return {};
      return {op.backward_scratch_bytes, 2 * all.count - i, 2 * all.count - i,
              &op.backward_scratch_offset};
  }
}

}  // namespace

Status Trainer::configure(Model& model, const TrainOptions& options, Arena& plan) {
  const std::int32_t n = model.layer_count();
  if (n <= 0 || model.max_batch() <= 0) return Status::invalid_argument;
  LSUV_TRY(sgd_check(options.sgd));
  if (options.loss != LossKind::softmax_cross_entropy && options.loss != LossKind::mse)
    return Status::invalid_argument;
  if (options.max_batch < 0 || options.max_batch > ops::kMaxDimension)
    return Status::invalid_argument;
  const std::int32_t max_batch = options.max_batch == 0 ? model.max_batch() : options.max_batch;
  const ImageShape output = model.output_shape();
  if (options.loss == LossKind::softmax_cross_entropy && (output.height != 1 || output.width != 1))
    return Status::shape_mismatch;
  if (plan.measuring()) return Status::invalid_argument;

  const Arena::Mark mark = plan.mark();
  TrainingOp* ops = plan.allocate<TrainingOp>(static_cast<std::size_t>(n));
  SgdTensor* tensors = plan.allocate<SgdTensor>(2 * static_cast<std::size_t>(n));
  if (ops == nullptr || tensors == nullptr) {
    const Status status = plan.status();
    plan.rewind(mark);
    return status;
  }
  const auto fail = [&](Status status) {
    plan.rewind(mark);
    return status;
  };
  for (std::int32_t i = 0; i < n; ++i) new (&ops[i]) TrainingOp();
  if (select(model, options.trainable, ops) != Status::ok) return fail(Status::invalid_argument);
  if (!mark_gradients(model, ops)) return fail(Status::invalid_argument);
  for (std::int32_t i = 0; i < n; ++i) {
    const Layer& layer = model.layer(i);
    const ops::OpTraits& traits = ops::traits(layer.spec.kind);
    TrainingOp& op = ops[i];
    if (!tensor_bytes(layer.output, max_batch, &op.output_bytes))
      return fail(Status::size_overflow);
    if (op.needs_gradient) op.gradient_bytes = op.output_bytes;
    if (traits.scratch_bytes != nullptr &&
        !round_block(traits.scratch_bytes(layer, max_batch), &op.scratch_bytes))
      return fail(Status::size_overflow);
    if (op.needs_gradient && traits.backward_scratch_bytes != nullptr &&
        !round_block(traits.backward_scratch_bytes(layer, max_batch), &op.backward_scratch_bytes))
      return fail(Status::size_overflow);
  }
  plan_lifetimes(model, ops);
  TrainingBlocks blocks = {ops, n};
  const detail::PlanResult result = detail::plan_blocks({4 * n, training_block, &blocks});
  for (std::int32_t i = 0; i < n; ++i)
    if (ops[i].in_place) ops[i].output_offset = ops[model.layer(i).inputs[0]].output_offset;

  Trainer candidate;
  candidate.model_ = &model;
  candidate.ops_ = ops;
  candidate.sgd_tensors_ = tensors;
  candidate.count_ = n;
  candidate.max_batch_ = max_batch;
  candidate.loss_ = options.loss;
  candidate.sgd_ = options.sgd;
  candidate.region_bytes_ = result.peak;
  candidate.region_lower_bound_ = result.lower_bound;
  candidate.configured_ = true;
  Arena measure;
  if (candidate.take_memory(measure, false) != Status::ok) return fail(Status::size_overflow);
  *this = candidate;
  return Status::ok;
}

}  // namespace lsuv
