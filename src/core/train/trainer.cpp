// Trainer: memory, and the training step (forward keeping what backward reads, the loss, the
// backward pass in reverse op order, SGD).
#include <cmath>
#include <cstring>

#include "core/ops/op.hpp"
#include "core/train/gradient_target.hpp"
#include "kernels/backward_dispatch.hpp"
#include "kernels/loss_ref.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv {

// A gradient per trained tensor, a velocity beside it when momentum > 0, then the region. The
// same allocations measure, check and commit; only `commit` writes the pointers.
Status Trainer::take_memory(Arena& arena, bool commit) {
  const bool momentum = sgd_.momentum != 0.0f;
  for (std::int32_t i = 0; i < count_; ++i) {
    const Layer& layer = model_->layer(i);
    TrainingOp& op = ops_[i];
    float* weight_gradient =
        op.trains_weights ? arena.allocate<float>(layer.weight_count) : nullptr;
    float* weight_velocity =
        op.trains_weights && momentum ? arena.allocate<float>(layer.weight_count) : nullptr;
    float* bias_gradient = op.trains_bias ? arena.allocate<float>(layer.bias_count) : nullptr;
    float* bias_velocity =
        op.trains_bias && momentum ? arena.allocate<float>(layer.bias_count) : nullptr;
    if (commit) {
      op.weight_gradient = weight_gradient;
      op.weight_velocity = weight_velocity;
      op.bias_gradient = bias_gradient;
      op.bias_velocity = bias_velocity;
    }
  }
  unsigned char* region = static_cast<unsigned char*>(arena.allocate_bytes(region_bytes_));
  if (commit) region_ = region;
  return arena.status();
}

std::size_t Trainer::training_bytes() const {
  if (!configured_) return 0;
  Arena measure;
  Trainer copy = *this;  // take_memory writes nothing without commit
  (void)copy.take_memory(measure, false);
  return measure.used();
}

TrainingMemory Trainer::memory() const {
  TrainingMemory memory;
  if (!configured_) return memory;
  const std::size_t copies = sgd_.momentum != 0.0f ? 2 : 1;
  for (std::int32_t i = 0; i < count_; ++i) {
    const Layer& layer = model_->layer(i);
    const std::size_t values = (ops_[i].trains_weights ? layer.weight_count : 0) +
                               (ops_[i].trains_bias ? layer.bias_count : 0);
    memory.trainable_values += values;
  }
  memory.parameter_bytes = model_->memory_plan().parameter_bytes;
  memory.region_bytes = region_bytes_;
  memory.region_lower_bound = region_lower_bound_;
  const std::size_t state = training_bytes() - region_bytes_;
  memory.gradient_bytes = state / copies;
  memory.velocity_bytes = state - memory.gradient_bytes;
  return memory;
}

Status Trainer::bind(Arena& arena) {
  if (!configured_ || arena.measuring()) return Status::invalid_argument;
  const Arena::Mark start = arena.mark();
  const Status trial = take_memory(arena, false);
  arena.rewind(start);
  if (trial != Status::ok) return trial;
  (void)take_memory(arena, true);
  for (std::int32_t i = 0; i < count_; ++i) {
    const Layer& layer = model_->layer(i);
    const TrainingOp& op = ops_[i];
    float* const zeroed[4] = {op.weight_gradient, op.weight_velocity, op.bias_gradient,
                              op.bias_velocity};
    const std::size_t counts[4] = {layer.weight_count, layer.weight_count, layer.bias_count,
                                   layer.bias_count};
    for (int k = 0; k < 4; ++k)
      if (zeroed[k] != nullptr) std::memset(zeroed[k], 0, counts[k] * sizeof(float));
  }
  bound_ = true;
  return Status::ok;
}

const float* Trainer::weight_gradient(std::int32_t index) const {
  return index >= 0 && index < count_ ? ops_[index].weight_gradient : nullptr;
}

const float* Trainer::bias_gradient(std::int32_t index) const {
  return index >= 0 && index < count_ ? ops_[index].bias_gradient : nullptr;
}

float* Trainer::region_at(std::size_t offset) const {
  return reinterpret_cast<float*>(region_ + offset);
}

Status Trainer::check_step(const float* input, const void* targets, std::int32_t batch,
                           LossKind loss) const {
  if (!bound_ || !model_->bound()) return Status::not_bound;
  if (input == nullptr || targets == nullptr || batch <= 0 || batch > max_batch_ || loss != loss_)
    return Status::invalid_argument;
  if (loss == LossKind::softmax_cross_entropy) {
    const std::int32_t classes = model_->output_shape().channels;
    const std::int32_t* labels = static_cast<const std::int32_t*>(targets);
    for (std::int32_t b = 0; b < batch; ++b)
      if (labels[b] < 0 || labels[b] >= classes) return Status::invalid_argument;
  }
  return Status::ok;
}

Status Trainer::run_step(const float* input, const std::int32_t* labels, const float* targets,
                         std::int32_t batch, TrainStepReport* report) {
  const kernels::F32Kernels& k = kernels::f32_kernels();
  const std::int32_t n = count_;
  const auto output_of = [&](std::int32_t from) -> const float* {
    return from < 0 ? input : region_at(ops_[from].output_offset);
  };
  for (std::int32_t i = 0; i < n; ++i) {
    const Layer& layer = model_->layer(i);
    const TrainingOp& op = ops_[i];
    const float* inputs[LayerSpec::kMaxInputs] = {};
    for (std::int32_t m = 0; m < layer.input_count; ++m) inputs[m] = output_of(layer.inputs[m]);
    kernels::F32Epilogue epilogue;
    if (op.fuses_next)
      (void)ops::clamp_range(model_->layer(i + 1).spec, &epilogue.clamp_min, &epilogue.clamp_max);
    void* scratch = op.scratch_bytes > 0 ? region_ + op.scratch_offset : nullptr;
    ops::traits(layer.spec.kind)
        .run({layer, k, inputs, region_at(op.output_offset), batch, scratch, epilogue});
    if (op.fuses_next) ++i;
  }

  const Layer& last = model_->layer(n - 1);
  const float* prediction = region_at(ops_[n - 1].output_offset);
  float* loss_gradient = region_at(ops_[n - 1].gradient_offset);
  TrainStepReport result;
  if (loss_ == LossKind::softmax_cross_entropy) {
    const std::int32_t classes = last.output.channels;
    result.loss =
        kernels::softmax_cross_entropy_f32_ref(batch, classes, prediction, labels, loss_gradient);
    for (std::int32_t b = 0; b < batch; ++b) {
      const float* row = prediction + static_cast<std::size_t>(b) * classes;
      std::int32_t best = 0;
      for (std::int32_t j = 1; j < classes; ++j)
        if (row[j] > row[best]) best = j;
      result.correct += best == labels[b] ? 1 : 0;
    }
  } else {
    result.loss =
        kernels::mse_loss_f32_ref(static_cast<std::size_t>(batch) * last.output.elements(),
                                  prediction, targets, loss_gradient);
  }
  if (!std::isfinite(result.loss)) return Status::non_finite;

  const kernels::F32BackwardKernels& b = kernels::f32_backward_kernels();
  for (std::int32_t i = n - 1; i >= 0; --i) {
    const TrainingOp& op = ops_[i];
    if (!op.needs_gradient || op.backward_folded) continue;
    const Layer& layer = model_->layer(i);
    float* grad_inputs[LayerSpec::kMaxInputs] = {};
    kernels::GradWrite modes[LayerSpec::kMaxInputs] = {};
    for (std::int32_t m = 0; m < layer.input_count; ++m) {
      const std::int32_t from = gradient_target(*model_, ops_, i, m);
      if (from >= 0 && ops_[from].needs_gradient)
        grad_inputs[m] = region_at(ops_[from].gradient_offset);
      modes[m] = op.accumulate[m] ? kernels::GradWrite::accumulate : kernels::GradWrite::assign;
    }
    const float* saved_input = (op.saves & ops::kSavesInput) ? output_of(layer.inputs[0]) : nullptr;
    const float* saved_output =
        (op.saves & ops::kSavesOutput) ? region_at(op.output_offset) : nullptr;
    void* scratch = op.backward_scratch_bytes > 0 ? region_ + op.backward_scratch_offset : nullptr;
    kernels::ClampGate gate = {};
    if (op.gates_input) {
      const std::int32_t clamp = layer.inputs[0];
      gate.output = region_at(ops_[clamp].output_offset);
      (void)ops::clamp_range(model_->layer(clamp).spec, &gate.lo, &gate.hi);
    }
    ops::traits(layer.spec.kind)
        .backward({layer, b, batch, saved_input, saved_output, region_at(op.gradient_offset),
                   grad_inputs, modes, op.trains_weights ? op.weight_gradient : nullptr,
                   op.trains_bias ? op.bias_gradient : nullptr, scratch,
                   op.gates_input ? &gate : nullptr});
  }
  if (report != nullptr) *report = result;
  return Status::ok;
}

Status Trainer::update(float learning_rate, TrainStepReport* report) {
  std::size_t count = 0;
  for (std::int32_t i = 0; i < count_; ++i) {
    const Layer& layer = model_->layer(i);
    const TrainingOp& op = ops_[i];
    if (op.trains_weights)
      sgd_tensors_[count++] = {layer.weights, op.weight_gradient, op.weight_velocity,
                               layer.weight_count};
    if (op.trains_bias)
      sgd_tensors_[count++] = {layer.bias, op.bias_gradient, op.bias_velocity, layer.bias_count};
  }
  SgdStepReport sgd;
  LSUV_TRY(sgd_step(sgd_, learning_rate, sgd_tensors_, count, &sgd));
  if (report != nullptr) {
    report->gradient_norm = sgd.gradient_norm;
    report->gradient_scale = sgd.gradient_scale;
  }
  return Status::ok;
}

Status Trainer::compute_gradients(const float* input, const std::int32_t* labels,
                                  std::int32_t batch, TrainStepReport* report) {
  LSUV_TRY(check_step(input, labels, batch, LossKind::softmax_cross_entropy));
  return run_step(input, labels, nullptr, batch, report);
}

Status Trainer::compute_gradients(const float* input, const float* targets, std::int32_t batch,
                                  TrainStepReport* report) {
  LSUV_TRY(check_step(input, targets, batch, LossKind::mse));
  return run_step(input, nullptr, targets, batch, report);
}

Status Trainer::train_step(const float* input, const std::int32_t* labels, std::int32_t batch,
                           float learning_rate, TrainStepReport* report) {
  if (!std::isfinite(learning_rate) || learning_rate < 0.0f) return Status::invalid_argument;
  TrainStepReport result;
  LSUV_TRY(compute_gradients(input, labels, batch, &result));
  LSUV_TRY(update(learning_rate, &result));
  if (report != nullptr) *report = result;
  return Status::ok;
}

Status Trainer::train_step(const float* input, const float* targets, std::int32_t batch,
                           float learning_rate, TrainStepReport* report) {
  if (!std::isfinite(learning_rate) || learning_rate < 0.0f) return Status::invalid_argument;
  TrainStepReport result;
  LSUV_TRY(compute_gradients(input, targets, batch, &result));
  LSUV_TRY(update(learning_rate, &result));
  if (report != nullptr) *report = result;
  return Status::ok;
}

}  // namespace lsuv
