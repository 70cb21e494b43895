#include "lsuv/model.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>

#include "core/channel_moments.hpp"
#include "core/checked_math.hpp"
#include "core/ops/op.hpp"
#include "core/plan.hpp"

namespace lsuv {
namespace {

constexpr std::size_t kBlock = Arena::kAlignment;  // every planned block starts on a cache line

bool round_up(std::size_t bytes, std::size_t* out) {
  if (bytes > SIZE_MAX - (kBlock - 1)) return false;
  *out = (bytes + kBlock - 1) / kBlock * kBlock;
  return true;
}

// Bytes of `batch` images of `shape` in float, rounded up to a block; false on overflow.
bool tensor_bytes(ImageShape shape, std::int32_t batch, std::size_t* out) {
  std::size_t n = 0;
  return detail::checked_multiply(static_cast<std::size_t>(shape.height),
                                  static_cast<std::size_t>(shape.width), &n) &&
         detail::checked_multiply(n, static_cast<std::size_t>(shape.channels), &n) &&
         detail::checked_multiply(n, static_cast<std::size_t>(batch), &n) &&
         detail::checked_multiply(n, sizeof(float), &n) && round_up(n, out);
}

bool names_equal(const char* a, const char* b) {
  return std::strncmp(a, b, LayerSpec::kMaxNameLength + 1) == 0;
}

bool is_clamp(LayerKind kind) {
  return kind == LayerKind::relu || kind == LayerKind::relu6 || kind == LayerKind::hardtanh;
}

Status refuse(ConfigureError* error, std::int32_t op, const char* name, Status status,
              const char* reason) {
  if (error != nullptr) {
    error->op = op;
    if (name != nullptr)
      std::snprintf(error->message, sizeof error->message, "%s: %s", name, reason);
    else
      std::snprintf(error->message, sizeof error->message, "%s", reason);
  }
  return status;
}

// The shape whose C x H x W order numbers the features of op `index`'s output in PyTorch:
// Flatten, the clamps, BatchNorm and Add keep the numbering of what they read.
ImageShape layout_shape(const Layer* layers, std::int32_t index, ImageShape network_input) {
  while (index >= 0) {
    const LayerKind kind = layers[index].spec.kind;
    if (kind != LayerKind::flatten && !is_clamp(kind) && kind != LayerKind::batch_norm2d &&
        kind != LayerKind::add)
      return layers[index].output;
    index = layers[index].inputs[0];
  }
  return network_input;
}

// Resolves op i's input names to op indices (the op before when it names none).
Status resolve_inputs(const LayerSpec* specs, std::int32_t i, Layer* layer, ops::ShapeError* why) {
  const LayerSpec& spec = specs[i];
  if (spec.input_count == 0) {
    layer->inputs[0] = i - 1;
    layer->input_count = 1;
    return Status::ok;
  }
  if (spec.input_count < 0 || spec.input_count > LayerSpec::kMaxInputs)
    return why->fail(Status::invalid_argument, "%d inputs", spec.input_count);
  for (std::int32_t k = 0; k < spec.input_count; ++k) {
    const char* name = spec.inputs[k];
    if (name[LayerSpec::kMaxNameLength] != '\0')
      return why->fail(Status::invalid_argument, "input %d has an unterminated name", k + 1);
    std::int32_t found = names_equal(name, "input") ? -1 : -2;
    for (std::int32_t j = 0; j < i && found == -2; ++j)
      if (names_equal(name, specs[j].name)) found = j;
    if (found == -2)
      return why->fail(Status::invalid_argument, "input '%s' names no earlier op", name);
    layer->inputs[k] = found;
  }
  layer->input_count = spec.input_count;
  return Status::ok;
}

}  // namespace

Status Model::configure(const LayerSpec* specs, std::int32_t count, ImageShape input,
                        std::int32_t max_batch, Arena& graph, ConfigureError* error) {
  if (error != nullptr) *error = ConfigureError();
  if (specs == nullptr || count <= 0)
    return refuse(error, -1, nullptr, Status::invalid_argument, "a network needs at least one op");
  if (max_batch <= 0)
    return refuse(error, -1, nullptr, Status::invalid_argument, "max_batch must be positive");
  if (input.height <= 0 || input.width <= 0 || input.channels <= 0)
    return refuse(error, -1, nullptr, Status::invalid_argument, "the input shape must be positive");
  if (input.height > ops::kMaxDimension || input.width > ops::kMaxDimension ||
      input.channels > ops::kMaxDimension || max_batch > ops::kMaxDimension)
    return refuse(error, -1, nullptr, Status::size_overflow, "input or batch above 2^20");
  std::size_t input_bytes = 0;
  if (!tensor_bytes(input, max_batch, &input_bytes))
    return refuse(error, -1, nullptr, Status::size_overflow, "the input does not fit in memory");
  if (graph.measuring())
    return refuse(error, -1, nullptr, Status::invalid_argument, "the graph arena has no buffer");

  const Arena::Mark mark = graph.mark();
  Layer* layers = graph.allocate<Layer>(static_cast<std::size_t>(count));
  if (layers == nullptr) {
    const Status status = graph.status();
    graph.rewind(mark);
    return refuse(error, -1, nullptr, status, "the graph arena is smaller than graph_bytes()");
  }
  const auto fail = [&](std::int32_t op, Status status, const char* reason) {
    graph.rewind(mark);
    return refuse(error, op, op >= 0 ? specs[op].name : nullptr, status, reason);
  };

  std::size_t largest = input_bytes;
  std::size_t total = 0;
  for (std::int32_t i = 0; i < count; ++i) {
    const LayerSpec& spec = specs[i];
    Layer* layer = new (&layers[i]) Layer();
    layer->spec = spec;
    ops::ShapeError why;
    if (static_cast<std::uint8_t>(spec.kind) > static_cast<std::uint8_t>(LayerKind::hardtanh))
      return fail(-1, Status::invalid_argument, "an op of unknown kind");
    if (spec.name[0] == '\0' || spec.name[LayerSpec::kMaxNameLength] != '\0') {
      std::snprintf(why.text, sizeof why.text, "op %d has an empty or unterminated name", i);
      return fail(-1, Status::invalid_argument, why.text);
    }
    for (std::int32_t j = 0; j < i; ++j)
      if (names_equal(spec.name, specs[j].name))
        return fail(i, Status::invalid_argument, "a second op of this name");
    if (names_equal(spec.name, "input"))
      return fail(i, Status::invalid_argument, "'input' names the network input");
    Status status = resolve_inputs(specs, i, layer, &why);
    if (status != Status::ok) return fail(i, status, why.text);
    const ops::OpTraits& traits = ops::traits(spec.kind);
    if (layer->input_count < traits.min_inputs || layer->input_count > traits.max_inputs) {
      std::snprintf(why.text, sizeof why.text, "%s takes %d to %d inputs, %d given",
                    layer_kind_name(spec.kind), traits.min_inputs, traits.max_inputs,
                    layer->input_count);
      return fail(i, Status::invalid_argument, why.text);
    }
    ImageShape shapes[LayerSpec::kMaxInputs];
    for (std::int32_t k = 0; k < layer->input_count; ++k) {
      const std::int32_t from = layer->inputs[k];
      shapes[k] = from < 0 ? input : layers[from].output;
      if (from >= 0) layers[from].last_use = i;
    }
    layer->input = shapes[0];
    layer->feature_shape = layout_shape(layers, layer->inputs[0], input);
    if (spec.kind != LayerKind::linear) layer->feature_shape = layer->input;
    status = traits.shape(spec, shapes, layer->input_count, layer, &why);
    if (status != Status::ok) return fail(i, status, why.text);
    if (!tensor_bytes(layer->output, max_batch, &layer->output_bytes))
      return fail(i, Status::size_overflow, "the output does not fit in memory");
    layer->last_use = i;
    if (layer->output_bytes > largest) largest = layer->output_bytes;
    if (traits.scratch_bytes != nullptr &&
        !round_up(traits.scratch_bytes(*layer, max_batch), &layer->scratch_bytes))
      return fail(i, Status::size_overflow, "the kernel scratch does not fit in memory");
    if (__builtin_add_overflow(total, layer->output_bytes, &total) ||
        __builtin_add_overflow(total, layer->scratch_bytes, &total))
      return fail(i, Status::size_overflow, "the activations do not fit in memory");
  }
  layers[count - 1].last_use = count;  // the network's output outlives every op
  // An op that allows it writes over its first input when it is that input's last reader (and
  // the input is not the network's, which belongs to the caller).
  for (std::int32_t i = 0; i < count; ++i) {
    Layer& layer = layers[i];
    const std::int32_t from = layer.inputs[0];
    layer.in_place = ops::traits(layer.spec.kind).in_place && from >= 0 &&
                     layers[from].last_use == i && layers[from].output_bytes == layer.output_bytes;
  }
  const detail::PlanResult plan = detail::plan_activations(layers, count);

  Model candidate;
  candidate.layers_ = layers;
  candidate.count_ = count;
  candidate.input_ = input;
  candidate.max_batch_ = max_batch;
  candidate.activation_bytes_ = plan.peak;
  candidate.lower_bound_bytes_ = plan.lower_bound;
  // For comparison only: saturates rather than refusing a plan that fits.
  if (!detail::checked_multiply(largest, 2, &candidate.ping_pong_bytes_))
    candidate.ping_pong_bytes_ = SIZE_MAX;
  candidate.configured_ = true;
  Arena measure;
  if (candidate.take_memory(measure, false, &candidate.parameter_bytes_) != Status::ok)
    return fail(-1, Status::size_overflow, "parameters and activations do not fit in memory");
  *this = candidate;
  return Status::ok;
}

// Parameters op by op, then the activation region, then one moment sink per channel of the
// widest op (for run()'s statistics). The same allocations measure, check and commit; only
// `commit` writes the pointers into the records. *parameter_bytes (when given) receives the
// arena's use after the parameters.
Status Model::take_memory(Arena& arena, bool commit, std::size_t* parameter_bytes) {
  std::int32_t widest = 1;
  for (std::int32_t i = 0; i < count_; ++i) {
    Layer& layer = layers_[i];
    float* weights = layer.weight_count > 0 ? arena.allocate<float>(layer.weight_count) : nullptr;
    float* bias = layer.bias_count > 0 ? arena.allocate<float>(layer.bias_count) : nullptr;
    float* running_mean = nullptr;
    float* running_var = nullptr;
    std::int64_t* batches_tracked = nullptr;
    if (layer.spec.kind == LayerKind::batch_norm2d) {
      running_mean = arena.allocate<float>(layer.weight_count);
      running_var = arena.allocate<float>(layer.weight_count);
      batches_tracked = arena.allocate<std::int64_t>(1);
    }
    if (commit) {
      layer.weights = weights;
      layer.bias = bias;
      layer.running_mean = running_mean;
      layer.running_var = running_var;
      layer.batches_tracked = batches_tracked;
    }
    if (layer.output.channels > widest) widest = layer.output.channels;
  }
  if (parameter_bytes != nullptr) *parameter_bytes = arena.used();
  unsigned char* activations = static_cast<unsigned char*>(arena.allocate_bytes(activation_bytes_));
  auto* moments = arena.allocate<kernels::ChannelMoments>(static_cast<std::size_t>(widest));
  if (commit) {
    activations_ = activations;
    moments_ = moments;
  }
  return arena.status();
}

std::size_t Model::required_bytes() const {
  if (!configured_) return 0;
  Arena measure;
  Model copy = *this;  // take_memory is not const, though it writes nothing without commit
  (void)copy.take_memory(measure, false, nullptr);
  return measure.used();
}

MemoryPlan Model::memory_plan() const {
  MemoryPlan plan;
  if (!configured_) return plan;
  plan.parameter_bytes = parameter_bytes_;
  plan.activation_bytes = activation_bytes_;
  plan.lower_bound_bytes = lower_bound_bytes_;
  plan.ping_pong_bytes = ping_pong_bytes_;
  return plan;
}

Status Model::bind(Arena& arena) {
  if (!configured_ || arena.measuring()) return Status::invalid_argument;
  const Arena::Mark start = arena.mark();
  // A trial with the same allocations first: on failure nothing in the records has changed.
  const Status trial = take_memory(arena, false, nullptr);
  arena.rewind(start);
  if (trial != Status::ok) return trial;
  (void)take_memory(arena, true, nullptr);
  for (std::int32_t i = 0; i < count_; ++i) {
    Layer& layer = layers_[i];
    if (layer.weights != nullptr) std::memset(layer.weights, 0, layer.weight_count * sizeof(float));
    if (layer.bias != nullptr) std::memset(layer.bias, 0, layer.bias_count * sizeof(float));
    if (layer.spec.kind == LayerKind::batch_norm2d) {
      for (std::size_t c = 0; c < layer.weight_count; ++c) {
        layer.weights[c] = 1.0f;
        layer.running_mean[c] = 0.0f;
        layer.running_var[c] = 1.0f;
      }
      *layer.batches_tracked = 0;
    }
  }
  output_batch_ = 0;
  bound_ = true;
  return Status::ok;
}

namespace {

// The float arrays of one op's state in snapshot order, and their lengths.
std::int32_t state_arrays(const Layer& layer, float** arrays, std::size_t* lengths) {
  const std::size_t channels = layer.spec.kind == LayerKind::batch_norm2d ? layer.weight_count : 0;
  float* all[4] = {layer.weights, layer.bias, layer.running_mean, layer.running_var};
  const std::size_t counts[4] = {layer.weight_count, layer.bias_count, channels, channels};
  std::int32_t n = 0;
  for (int k = 0; k < 4; ++k) {
    if (counts[k] == 0) continue;
    arrays[n] = all[k];
    lengths[n++] = counts[k];
  }
  return n;
}

}  // namespace

std::size_t Model::parameter_count() const {
  std::size_t total = 0;
  for (std::int32_t i = 0; i < count_; ++i) {
    float* arrays[4];
    std::size_t lengths[4];
    const std::int32_t n = state_arrays(layers_[i], arrays, lengths);
    for (std::int32_t k = 0; k < n; ++k) total += lengths[k];
  }
  return total;
}

Status Model::copy_parameters_to(float* destination, std::size_t count) const {
  if (!bound_) return Status::not_bound;
  if (destination == nullptr || count != parameter_count()) return Status::invalid_argument;
  for (std::int32_t i = 0; i < count_; ++i) {
    float* arrays[4];
    std::size_t lengths[4];
    const std::int32_t n = state_arrays(layers_[i], arrays, lengths);
    for (std::int32_t k = 0; k < n; ++k) {
      std::memcpy(destination, arrays[k], lengths[k] * sizeof(float));
      destination += lengths[k];
    }
  }
  return Status::ok;
}

Status Model::copy_parameters_from(const float* source, std::size_t count) {
  if (!bound_) return Status::not_bound;
  if (source == nullptr || count != parameter_count()) return Status::invalid_argument;
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(source[i])) return Status::non_finite;
  for (std::int32_t i = 0; i < count_; ++i) {
    float* arrays[4];
    std::size_t lengths[4];
    const std::int32_t n = state_arrays(layers_[i], arrays, lengths);
    for (std::int32_t k = 0; k < n; ++k) {
      std::memcpy(arrays[k], source, lengths[k] * sizeof(float));
      source += lengths[k];
    }
  }
  return Status::ok;
}

std::int32_t Model::find_layer(const char* name) const {
  if (name == nullptr) return -1;
  for (std::int32_t i = 0; i < count_; ++i)
    if (names_equal(layers_[i].spec.name, name)) return i;
  return -1;
}

TensorView Model::tensor(std::int32_t index, std::int32_t batch) const {
  if (index < 0 || index >= count_) return {};
  const Layer& layer = layers_[index];
  float* data = bound_ ? reinterpret_cast<float*>(activations_ + layer.output_offset) : nullptr;
  return {data, batch, layer.output};
}

ConstTensorView Model::output() const {
  if (!bound_ || output_batch_ == 0) return {};
  const TensorView view = tensor(count_ - 1, output_batch_);
  return {view.data, view.batch, view.shape};
}

bool Model::read_from(std::int32_t index, std::int32_t step) const {
  if (index < 0) {
    for (std::int32_t i = step < 0 ? 0 : step; i < count_; ++i)
      for (std::int32_t k = 0; k < layers_[i].input_count; ++k)
        if (layers_[i].inputs[k] < 0) return true;
    return false;
  }
  return index < step && index < count_ && layers_[index].last_use >= step && step < count_;
}

Status Model::run_ops(std::int32_t first, std::int32_t last, const float* network_input,
                      std::int32_t batch, LayerObserver* observer, RunningStats* first_stats) {
  const kernels::F32Kernels& k = kernels::f32_kernels();
  for (std::int32_t i = first; i < last; ++i) {
    const Layer& layer = layers_[i];
    const ops::OpTraits& traits = ops::traits(layer.spec.kind);
    const float* inputs[LayerSpec::kMaxInputs] = {};
    for (std::int32_t n = 0; n < layer.input_count; ++n) {
      const std::int32_t from = layer.inputs[n];
      inputs[n] = from < 0 ? network_input : tensor(from, batch).data;
    }
    float* output = tensor(i, batch).data;
    void* scratch = layer.scratch_bytes > 0 ? activations_ + layer.scratch_offset : nullptr;
    kernels::F32Epilogue epilogue;
    const bool measure = i == first && first_stats != nullptr;
    const std::int32_t channels = layer.output.channels;
    if (measure) {
      for (std::int32_t c = 0; c < channels; ++c) moments_[c] = kernels::ChannelMoments();
      if (traits.epilogue) epilogue.moments = moments_;
    }
    // Nobody sees the output between an op and a clamp right after it that works in place over
    // it (so is its only reader), unless an observer watches.
    const bool fuse = observer == nullptr && i + 1 < last && traits.epilogue &&
                      !(layer.spec.kind == LayerKind::add && layer.spec.relu) &&
                      layers_[i + 1].in_place && layers_[i + 1].inputs[0] == i &&
                      is_clamp(layers_[i + 1].spec.kind);
    if (fuse) (void)ops::clamp_range(layers_[i + 1].spec, &epilogue.clamp_min, &epilogue.clamp_max);
    traits.run({layer, k, inputs, output, batch, scratch, epilogue});
    if (measure) {
      const std::size_t rows = static_cast<std::size_t>(batch) * layer.output.height *
                               static_cast<std::size_t>(layer.output.width);
      if (!traits.epilogue)
        k.add_channel_moments(output, rows, static_cast<std::size_t>(channels), moments_);
      merge_moments(moments_, static_cast<std::size_t>(channels), first_stats);
    }
    if (observer != nullptr) observer->observe(i, layer, {output, batch, layer.output});
    if (fuse) ++i;
  }
  output_batch_ = batch;
  return Status::ok;
}

Status Model::run(std::int32_t first, std::int32_t last, const float* network_input,
                  std::int32_t batch, RunningStats* first_stats) {
  if (!bound_) return Status::not_bound;
  if (first < 0 || last > count_ || first > last || batch <= 0 || batch > max_batch_)
    return Status::invalid_argument;
  if (network_input == nullptr) {
    for (std::int32_t i = first; i < last; ++i)
      for (std::int32_t n = 0; n < layers_[i].input_count; ++n)
        if (layers_[i].inputs[n] < 0) return Status::invalid_argument;
  }
  return run_ops(first, last, network_input, batch, nullptr, first_stats);
}

Status Model::forward(const float* input, std::int32_t batch) {
  if (!bound_) return Status::not_bound;
  if (input == nullptr || batch <= 0 || batch > max_batch_) return Status::invalid_argument;
  return run_ops(0, count_, input, batch, nullptr, nullptr);
}

Status Model::forward(const float* input, std::int32_t batch, LayerObserver& observer) {
  if (!bound_) return Status::not_bound;
  if (input == nullptr || batch <= 0 || batch > max_batch_) return Status::invalid_argument;
  return run_ops(0, count_, input, batch, &observer, nullptr);
}

}  // namespace lsuv
