// Trainer: on-device fine-tuning of a Model with SGD, in memory planned up front.
//
//   lsuv::TrainOptions options;                       // softmax cross-entropy, all parameters
//   options.sgd.momentum = 0.9f;
//   options.max_batch = 64;
//   alignas(lsuv::Arena::kAlignment) static unsigned char records[lsuv::Trainer::plan_bytes(10)];
//   lsuv::Arena plan(records, sizeof records);
//   lsuv::Trainer trainer;
//   LSUV_TRY(trainer.configure(model, options, plan));  // model configured (and bound later)
//   // trainer.training_bytes() is exact for a buffer aligned to Arena::kAlignment.
//   LSUV_TRY(trainer.bind(arena));
//   lsuv::TrainStepReport report;
//   LSUV_TRY(trainer.train_step(images, labels, 64, lsuv::learning_rate_at(schedule, step),
//                               &report));              // no heap allocation, ever
//
// A step is the forward pass, the loss, the backward pass through the graph and one SGD step
// (lsuv/sgd.hpp) over the parameters that train. Memory: a gradient for every parameter tensor
// that trains and a velocity for it when momentum > 0, both kept for the whole run, and one
// region planned over the step's timeline (forward ops 0..n-1, the loss at n, op i's backward at
// 2n - i): each op's output lives until the last forward op or backward step that reads it (a
// conv2d or linear reads its input only when its weights train, a clamp and an Add with a ReLU
// read their own output, max pooling reads its input, batch norm its input only when gamma
// trains), each activation gradient from the backward step that first writes it to the backward
// of the op that produced it, each kernel's scratch for its step only. Frozen layers and ops whose
// inputs need no gradient (nothing before them trains) keep nothing and get no gradient, so
// freezing shrinks training_bytes().
//
// BatchNorm2d trains as in eval mode: gamma and beta train, the running statistics stay as they
// are and normalise the batch (small device batches make noisy batch statistics). Parameters
// that cannot reach the loss (an op nothing reads) do not train, as PyTorch leaves their
// gradient None and SGD skips them.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/arena.hpp"
#include "lsuv/layer.hpp"
#include "lsuv/model.hpp"
#include "lsuv/sgd.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

enum class LossKind : std::uint8_t {
  // torch.nn.CrossEntropyLoss (mean) on int32 labels; the output must be one vector per image.
  softmax_cross_entropy,
  // torch.nn.MSELoss (mean) against float targets of the output's shape (NHWC).
  mse,
};

// Which parameters train; by default all. The rules combine: an op trains only when no rule
// excludes it.
struct TrainableSelection {
  // Names of ops whose parameters stay as they are (an unknown name is invalid_argument).
  const char* const* frozen = nullptr;
  std::int32_t frozen_count = 0;
  // > 0: only the last k ops with parameters (conv2d, linear, batch_norm2d) train.
  std::int32_t last_layers = 0;
  // Only biases train: conv2d and linear bias, batch_norm2d beta.
  bool bias_only = false;
};

struct TrainOptions {
  LossKind loss = LossKind::softmax_cross_entropy;
  SgdOptions sgd;
  TrainableSelection trainable;
  std::int32_t max_batch = 0;  // largest training batch; 0: the model's max_batch()
};

// The plan of one op in a training step (set by configure; the offsets are into the region).
struct TrainingOp {
  bool trains_weights = false;  // conv2d / linear weights, batch_norm2d gamma
  bool trains_bias = false;     // conv2d / linear bias, batch_norm2d beta
  bool needs_gradient = false;  // its output's gradient is computed (its backward runs)
  bool fuses_next = false;      // the next op is a clamp run in this op's epilogue
  // A clamp whose backward runs in its reader's (a kernels::ClampGate); the reader gates_input
  // and writes the clamp's input gradient. The clamp then has no gradient buffer.
  bool backward_folded = false;
  bool gates_input = false;
  bool in_place = false;   // the output shares its first input's storage
  std::uint8_t saves = 0;  // what its backward reads of the forward (input 1, output 2)
  // Per input: whether its backward step assigns (the first writer) or accumulates into that
  // input's gradient (kernels::GradWrite).
  std::uint8_t accumulate[LayerSpec::kMaxInputs] = {};
  std::int32_t output_first = 0, output_last = 0;  // steps the output's storage is alive
  std::int32_t gradient_first = 0, gradient_last = 0;
  std::size_t output_bytes = 0, output_offset = 0;
  std::size_t gradient_bytes = 0, gradient_offset = 0;
  std::size_t scratch_bytes = 0, scratch_offset = 0;                    // forward, step i
  std::size_t backward_scratch_bytes = 0, backward_scratch_offset = 0;  // step 2n - i
  float* weight_gradient = nullptr;                                     // set by bind
  float* bias_gradient = nullptr;
  float* weight_velocity = nullptr;
  float* bias_velocity = nullptr;
};

// Bytes of a training plan, each part as Trainer::bind takes it.
struct TrainingMemory {
  std::size_t parameter_bytes = 0;     // the model's own (Model::bind), for the total
  std::size_t gradient_bytes = 0;      // one gradient per parameter tensor that trains
  std::size_t velocity_bytes = 0;      // the same again when momentum > 0
  std::size_t region_bytes = 0;        // saved activations, activation gradients and scratch
  std::size_t region_lower_bound = 0;  // the largest sum of those alive at one step
  std::size_t trainable_values = 0;    // parameters (floats) that train
};

struct TrainStepReport {
  float loss = 0.0f;            // of the batch, before the update
  std::int32_t correct = 0;     // cross-entropy: images whose largest logit is their label
  double gradient_norm = 0.0;   // of all gradients together, before clipping
  float gradient_scale = 1.0f;  // what clipping multiplied them by
};

class Trainer {
 public:
  // Bytes configure() takes from its `plan` arena for a model of `op_count` ops (exact for a
  // buffer aligned to Arena::kAlignment).
  static constexpr std::size_t plan_bytes(std::int32_t op_count) {
    return op_count <= 0 ? 0
                         : rounded(static_cast<std::size_t>(op_count) * sizeof(TrainingOp)) +
                               2 * static_cast<std::size_t>(op_count) * sizeof(SgdTensor);
  }

  // Plans training of a configured `model` (which must stay configured the same, and be bound
  // before a step). Errors: invalid_argument (the model is not configured, an option is out of
  // range or names no op, nothing trains), shape_mismatch (cross-entropy on an output that is
  // not one vector per image), size_overflow, arena_too_small (plan holds less than
  // plan_bytes()). On failure the trainer is as it was and plan is rewound.
  Status configure(Model& model, const TrainOptions& options, Arena& plan);

  // Exact bytes bind() takes from an arena whose buffer is aligned to Arena::kAlignment:
  // gradients, velocities and the region (memory() has the parts).
  std::size_t training_bytes() const;
  TrainingMemory memory() const;
  // Takes the memory from `arena`; gradients and velocities start at zero. On failure
  // (arena_too_small, size_overflow, invalid_argument when not configured) the trainer is as it
  // was and the arena is rewound.
  Status bind(Arena& arena);

  // The forward pass, the loss and the backward pass on `batch` NHWC images: afterwards every
  // parameter that trains has its gradient (weight_gradient, bias_gradient); no parameter
  // changes. labels: `batch` ints in [0, classes) for cross-entropy; targets: batch x the
  // output's elements for MSE. Errors: not_bound (trainer or model), invalid_argument (a null
  // pointer, batch outside 1..max_batch, a label out of range, the other loss's call),
  // non_finite (the loss or a gradient is NaN or Inf).
  Status compute_gradients(const float* input, const std::int32_t* labels, std::int32_t batch,
                           TrainStepReport* report);
  Status compute_gradients(const float* input, const float* targets, std::int32_t batch,
                           TrainStepReport* report);
  // compute_gradients, then one SGD step with `learning_rate` (>= 0, finite). On any error no
  // parameter and no velocity changes. report may be null.
  Status train_step(const float* input, const std::int32_t* labels, std::int32_t batch,
                    float learning_rate, TrainStepReport* report);
  Status train_step(const float* input, const float* targets, std::int32_t batch,
                    float learning_rate, TrainStepReport* report);

  bool bound() const { return bound_; }
  std::int32_t max_batch() const { return max_batch_; }
  std::int32_t op_count() const { return count_; }
  // The plan of op `index` (0 <= index < op_count()).
  const TrainingOp& op(std::int32_t index) const { return ops_[index]; }
  // Gradients of op `index`'s parameters from the last compute_gradients or train_step, in the
  // parameters' layout; null when they do not train or before bind.
  const float* weight_gradient(std::int32_t index) const;
  const float* bias_gradient(std::int32_t index) const;

 private:
  static constexpr std::size_t rounded(std::size_t bytes) {
    return (bytes + Arena::kAlignment - 1) / Arena::kAlignment * Arena::kAlignment;
  }
  Status take_memory(Arena& arena, bool commit);
  Status check_step(const float* input, const void* targets, std::int32_t batch,
                    LossKind loss) const;
  Status run_step(const float* input, const std::int32_t* labels, const float* targets,
                  std::int32_t batch, TrainStepReport* report);
  Status update(float learning_rate, TrainStepReport* report);
  float* region_at(std::size_t offset) const;

  Model* model_ = nullptr;
  TrainingOp* ops_ = nullptr;
  SgdTensor* sgd_tensors_ = nullptr;
  std::int32_t count_ = 0;
  std::int32_t max_batch_ = 0;
  LossKind loss_ = LossKind::softmax_cross_entropy;
  SgdOptions sgd_;
  std::size_t region_bytes_ = 0;
  std::size_t region_lower_bound_ = 0;
  unsigned char* region_ = nullptr;
  bool configured_ = false;
  bool bound_ = false;
};

}  // namespace lsuv
