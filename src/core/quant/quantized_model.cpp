#include "lsuv/quantized_model.hpp"

#include <cmath>
#include <cstring>
#include <new>

#include "core/checked_math.hpp"
#include "core/plan.hpp"
#include "kernels/fixed_point.hpp"
#include "kernels/i8_dispatch.hpp"

namespace lsuv {
namespace {

constexpr std::size_t kBlock = Arena::kAlignment;

bool round_up(std::size_t bytes, std::size_t* out) {
  if (bytes > SIZE_MAX - (kBlock - 1)) return false;
  *out = (bytes + kBlock - 1) / kBlock * kBlock;
  return true;
}

bool int8_bytes(ImageShape shape, std::int32_t batch, std::size_t* out) {
  std::size_t n = 0;
  return detail::checked_multiply(shape.elements(), static_cast<std::size_t>(batch), &n) &&
         round_up(n, out);
}

bool is_clamp(LayerKind kind) {
  return kind == LayerKind::relu || kind == LayerKind::relu6 || kind == LayerKind::hardtanh;
}

// Ops whose int8 output may overwrite their first input.
bool may_work_in_place(LayerKind kind) {
  return is_clamp(kind) || kind == LayerKind::flatten || kind == LayerKind::add;
}

kernels::Conv2dParams conv_params(const QuantizedLayer& layer, std::int32_t batch) {
  const LayerSpec& s = layer.spec;
  const ImageShape in = layer.input;
  const ImageShape out = layer.output;
  return {batch,        in.height,    in.width,     in.channels, out.height, out.width,
          out.channels, s.kernel_h,   s.kernel_w,   s.stride_h,  s.stride_w, s.pad_h,
          s.pad_w,      s.dilation_h, s.dilation_w, s.groups};
}

kernels::LinearParams linear_params(const QuantizedLayer& layer, std::int32_t batch) {
  return {batch, static_cast<std::int32_t>(layer.input.elements()), layer.output.channels};
}

kernels::Pool2dParams pool_params(const QuantizedLayer& layer, std::int32_t batch) {
  const LayerSpec& s = layer.spec;
  const ImageShape in = layer.input;
  const ImageShape out = layer.output;
  return {batch,      in.height,  in.width,   in.channels, out.height, out.width,
          s.kernel_h, s.kernel_w, s.stride_h, s.stride_w,  s.pad_h,    s.pad_w};
}

std::size_t scratch_for(const QuantizedLayer& layer, std::int32_t batch) {
  if (layer.spec.kind == LayerKind::conv2d)
    return kernels::conv2d_scratch_bytes_i8_any_level(conv_params(layer, batch));
  if (layer.spec.kind == LayerKind::linear)
    return kernels::linear_scratch_bytes_i8_any_level(linear_params(layer, batch));
  return 0;
}

struct Blocks {
  QuantizedLayer* layers;
  std::int32_t count;
  std::size_t input_bytes;
  std::int32_t input_last_use;
  std::size_t* input_offset;
};

std::int32_t block_end(const QuantizedLayer* layers, std::int32_t count, std::int32_t root) {
  std::int32_t tail = root;
  for (;;) {
    const std::int32_t next = layers[tail].last_use;
    if (next >= count || !layers[next].in_place || layers[next].inputs[0] != tail) break;
    tail = next;
  }
  return layers[tail].last_use;
}

// Block 0: the quantised network input; then per op its output (none in place) and scratch.
detail::PlanBlock block_at(void* context, std::int32_t k) {
  const Blocks& all = *static_cast<const Blocks*>(context);
  if (k == 0) return {all.input_bytes, 0, all.input_last_use, all.input_offset};
  const std::int32_t op = (k - 1) / 2;
  QuantizedLayer& layer = all.layers[op];
  if ((k - 1) % 2 == 1) return {layer.scratch_bytes, op, op, &layer.scratch_offset};
  if (layer.in_place) return {};
  return {layer.output_bytes, op, block_end(all.layers, all.count, op), &layer.output_offset};
}

bool valid_zero_point(std::int32_t z) {
  return z >= -128 && z <= 127;
}
bool valid_quant(QuantParams q) {
  return std::isfinite(q.scale) && q.scale > 0.0f && valid_zero_point(q.zero_point);
}
bool valid_multiplier(std::int32_t m, std::int32_t shift) {
  return (m == 0 || m >= (std::int32_t{1} << 30)) && shift >= -31 && shift <= 30;
}

}  // namespace

Status QuantizedModel::configure(const Model& model, Arena& graph) {
  const std::int32_t count = model.layer_count();
  if (count <= 0 || model.max_batch() <= 0 || graph.measuring()) return Status::invalid_argument;
  for (std::int32_t i = 0; i < count; ++i)
    if (model.layer(i).spec.kind == LayerKind::batch_norm2d) return Status::unsupported;
  const Arena::Mark mark = graph.mark();
  QuantizedLayer* layers = graph.allocate<QuantizedLayer>(static_cast<std::size_t>(count));
  if (layers == nullptr) {
    const Status status = graph.status();
    graph.rewind(mark);
    return status;
  }
  const std::int32_t max_batch = model.max_batch();
  std::int32_t input_last_use = 0;
  for (std::int32_t i = 0; i < count; ++i) {
    const Layer& from = model.layer(i);
    QuantizedLayer* layer = new (&layers[i]) QuantizedLayer();
    layer->spec = from.spec;
    layer->input_count = from.input_count;
    for (std::int32_t k = 0; k < from.input_count; ++k) {
      layer->inputs[k] = from.inputs[k];
      if (from.inputs[k] < 0) input_last_use = i;
    }
    layer->input = from.input;
    layer->output = from.output;
    layer->last_use = from.last_use;
    if (has_parameters(from.spec.kind)) {
      layer->weight_count = from.weight_count;
      layer->channels = from.output.channels;
    }
    if (!int8_bytes(layer->output, max_batch, &layer->output_bytes) ||
        !round_up(scratch_for(*layer, max_batch), &layer->scratch_bytes)) {
      graph.rewind(mark);
      return Status::size_overflow;
    }
  }
  // A clamp right after the conv2d, linear or add it alone reads is applied by that op's kernel.
  for (std::int32_t i = 0; i < count; ++i) {
    QuantizedLayer& layer = layers[i];
    const std::int32_t from = layer.inputs[0];
    layer.in_place = may_work_in_place(layer.spec.kind) && from >= 0 &&
                     layers[from].last_use == i && layers[from].output_bytes == layer.output_bytes;
    const LayerKind producer = from >= 0 ? layers[from].spec.kind : LayerKind::relu;
    layer.fused = is_clamp(layer.spec.kind) && layer.in_place && from == i - 1 &&
                  (has_parameters(producer) || producer == LayerKind::add);
  }
  QuantizedModel candidate;
  candidate.layers_ = layers;
  candidate.count_ = count;
  candidate.input_ = model.input_shape();
  candidate.max_batch_ = max_batch;
  if (!int8_bytes(candidate.input_, max_batch, &candidate.input_bytes_)) {
    graph.rewind(mark);
    return Status::size_overflow;
  }
  Blocks blocks = {layers, count, candidate.input_bytes_, input_last_use, &candidate.input_offset_};
  const detail::PlanResult plan = detail::plan_blocks({1 + 2 * count, block_at, &blocks});
  for (std::int32_t i = 0; i < count; ++i)
    if (layers[i].in_place) layers[i].output_offset = layers[layers[i].inputs[0]].output_offset;
  candidate.activation_bytes_ = plan.peak;
  candidate.lower_bound_bytes_ = plan.lower_bound;
  candidate.configured_ = true;
  Arena measure;
  if (candidate.take_memory(measure, false, &candidate.parameter_bytes_) != Status::ok) {
    graph.rewind(mark);
    return Status::size_overflow;
  }
  *this = candidate;
  return Status::ok;
}

Status QuantizedModel::take_memory(Arena& arena, bool commit, std::size_t* parameter_bytes) {
  for (std::int32_t i = 0; i < count_; ++i) {
    QuantizedLayer& layer = layers_[i];
    if (layer.channels == 0) continue;
    const std::size_t c = static_cast<std::size_t>(layer.channels);
    std::int8_t* weights = arena.allocate<std::int8_t>(layer.weight_count);
    std::int32_t* bias = arena.allocate<std::int32_t>(c);
    float* weight_scale = arena.allocate<float>(c);
    std::int32_t* multiplier = arena.allocate<std::int32_t>(c);
    std::int32_t* shift = arena.allocate<std::int32_t>(c);
    if (commit) {
      layer.weights = weights;
      layer.bias = bias;
      layer.weight_scale = weight_scale;
      layer.multiplier = multiplier;
      layer.shift = shift;
    }
  }
  if (parameter_bytes != nullptr) *parameter_bytes = arena.used();
  unsigned char* activations = static_cast<unsigned char*>(arena.allocate_bytes(activation_bytes_));
  if (commit) activations_ = activations;
  return arena.status();
}

std::size_t QuantizedModel::required_bytes() const {
  if (!configured_) return 0;
  Arena measure;
  QuantizedModel copy = *this;
  (void)copy.take_memory(measure, false, nullptr);
  return measure.used();
}

MemoryPlan QuantizedModel::memory_plan() const {
  MemoryPlan plan;
  if (!configured_) return plan;
  plan.parameter_bytes = parameter_bytes_;
  plan.activation_bytes = activation_bytes_;
  plan.lower_bound_bytes = lower_bound_bytes_;
  plan.ping_pong_bytes = 0;
  return plan;
}

Status QuantizedModel::bind(Arena& arena) {
  if (!configured_ || arena.measuring()) return Status::invalid_argument;
  const Arena::Mark start = arena.mark();
  const Status trial = take_memory(arena, false, nullptr);
  arena.rewind(start);
  if (trial != Status::ok) return trial;
  (void)take_memory(arena, true, nullptr);
  for (std::int32_t i = 0; i < count_; ++i) {
    QuantizedLayer& layer = layers_[i];
    if (layer.channels == 0) continue;
    const std::size_t c = static_cast<std::size_t>(layer.channels);
    std::memset(layer.weights, 0, layer.weight_count);
    for (std::size_t o = 0; o < c; ++o) {
      layer.bias[o] = 0;
      layer.weight_scale[o] = 1.0f;
      layer.multiplier[o] = 0;
      layer.shift[o] = 0;
    }
  }
  output_batch_ = 0;
  bound_ = true;
  return Status::ok;
}

const std::int8_t* QuantizedModel::tensor(std::int32_t index,
                                          const std::int8_t* network_input) const {
  if (index < 0) return network_input;
  return reinterpret_cast<const std::int8_t*>(activations_ + layers_[index].output_offset);
}

void QuantizedModel::run_ops(const std::int8_t* network_input, std::int32_t batch,
                             const Measured& measured) {
  const kernels::I8Kernels& k = kernels::i8_kernels();
  kernels::ChannelMoments* moments = measured.moments;
  for (std::int32_t i = 0; i <= measured.last; ++i) {
    const QuantizedLayer& layer = layers_[i];
    if (layer.fused) continue;
    const std::int8_t* in = tensor(layer.inputs[0], network_input);
    const std::int32_t in_zero = layer.inputs[0] < 0
                                     ? input_quant_.zero_point
                                     : layers_[layer.inputs[0]].output_quant.zero_point;
    auto* out = reinterpret_cast<std::int8_t*>(activations_ + layer.output_offset);
    void* scratch = layer.scratch_bytes > 0 ? activations_ + layer.scratch_offset : nullptr;
    const std::size_t elements = static_cast<std::size_t>(batch) * layer.output.elements();
    kernels::I8Epilogue epilogue;
    epilogue.multiplier = layer.multiplier;
    epilogue.shift = layer.shift;
    epilogue.output_zero_point = layer.output_quant.zero_point;
    epilogue.output_min = layer.output_min;
    epilogue.output_max = layer.output_max;
    if (moments != nullptr && i >= measured.first && layer.channels > 0) {
      epilogue.accumulator_moments = moments;
      moments += layer.channels;
    }
    switch (layer.spec.kind) {
      case LayerKind::conv2d:
        k.conv2d(conv_params(layer, batch), in, in_zero, layer.weights, layer.bias, out, epilogue,
                 scratch);
        break;
      case LayerKind::linear:
        k.linear(linear_params(layer, batch), in, in_zero, layer.weights, layer.bias, out, epilogue,
                 scratch);
        break;
      case LayerKind::relu:
      case LayerKind::relu6:
      case LayerKind::hardtanh:
        k.clamp(elements, in, out, layer.output_min, layer.output_max);
        break;
      case LayerKind::max_pool2d:
        k.max_pool2d(pool_params(layer, batch), in, out);
        break;
      case LayerKind::avg_pool2d:
        k.avg_pool2d(pool_params(layer, batch), in, in_zero, out);
        break;
      case LayerKind::adaptive_avg_pool2d:
        k.global_avg_pool(batch, layer.input.height * layer.input.width, layer.input.channels, in,
                          out);
        break;
      case LayerKind::flatten:
        if (out != in) std::memcpy(out, in, elements);
        break;
      case LayerKind::add: {
        kernels::AddI8Params a;
        a.count = layer.input_count;
        a.left_shift = layer.add_left_shift;
        const std::int8_t* inputs[LayerSpec::kMaxInputs] = {};
        for (std::int32_t n = 0; n < layer.input_count; ++n) {
          const std::int32_t from = layer.inputs[n];
          inputs[n] = tensor(from, network_input);
          a.input_zero_point[n] =
              from < 0 ? input_quant_.zero_point : layers_[from].output_quant.zero_point;
          a.input_multiplier[n] = layer.add_multiplier[n];
          a.input_shift[n] = layer.add_shift[n];
        }
        a.output_multiplier = layer.add_output_multiplier;
        a.output_shift = layer.add_output_shift;
        a.output_zero_point = layer.output_quant.zero_point;
        a.output_min = layer.output_min;
        a.output_max = layer.output_max;
        k.add(elements, inputs, a, out);
        break;
      }
      case LayerKind::batch_norm2d:
        break;  // configure() refuses it
    }
  }
  output_batch_ = measured.last == count_ - 1 ? batch : 0;
}

Status QuantizedModel::quantize_input(const float* input, std::int32_t batch,
                                      const std::int8_t** quantized) {
  if (!bound_) return Status::not_bound;
  if (input == nullptr || batch <= 0 || batch > max_batch_) return Status::invalid_argument;
  auto* q = reinterpret_cast<std::int8_t*>(activations_ + input_offset_);
  const std::size_t n = static_cast<std::size_t>(batch) * input_.elements();
  const float inverse = 1.0f / input_quant_.scale;
  const float zero = static_cast<float>(input_quant_.zero_point);
  for (std::size_t i = 0; i < n; ++i) {
    float v = input[i] * inverse + zero;
    if (!(v == v)) v = zero;
    v = v < -128.0f ? -128.0f : (v > 127.0f ? 127.0f : v);
    // floor(v + 0.5) without a call to floor (SSE2 has no rounding instruction): truncation,
    // one less where it went up (below zero). Equal to std::floor for every float v in
    // [-128, 127] (all 2,248,015,873 checked).
    const float w = v + 0.5f;
    const std::int32_t t = static_cast<std::int32_t>(w);
    q[i] = static_cast<std::int8_t>(t - (static_cast<float>(t) > w ? 1 : 0));
  }
  *quantized = q;
  return Status::ok;
}

Status QuantizedModel::forward(const float* input, std::int32_t batch) {
  const std::int8_t* q = nullptr;
  LSUV_TRY(quantize_input(input, batch, &q));
  run_ops(q, batch, {count_ - 1, count_, nullptr});
  return Status::ok;
}

Status QuantizedModel::forward(const std::int8_t* input, std::int32_t batch) {
  if (!bound_) return Status::not_bound;
  if (input == nullptr || batch <= 0 || batch > max_batch_) return Status::invalid_argument;
  run_ops(input, batch, {count_ - 1, count_, nullptr});
  return Status::ok;
}

Status QuantizedModel::forward_accumulators(const float* input, std::int32_t batch,
                                            std::int32_t first, std::int32_t last,
                                            kernels::ChannelMoments* moments) {
  if (first < 0 || first > last || last >= count_ || moments == nullptr)
    return Status::invalid_argument;
  const std::int8_t* q = nullptr;
  LSUV_TRY(quantize_input(input, batch, &q));
  run_ops(q, batch, {last, first, moments});
  return Status::ok;
}

Status QuantizedModel::forward_add_sum(const float* input, std::int32_t batch, std::int32_t op,
                                       RunningStats* channel_stats) {
  if (op < 0 || op >= count_ || layers_[op].spec.kind != LayerKind::add ||
      channel_stats == nullptr)
    return Status::invalid_argument;
  const std::int8_t* q = nullptr;
  LSUV_TRY(quantize_input(input, batch, &q));
  run_ops(q, batch, {op - 1, count_, nullptr});
  const QuantizedLayer& layer = layers_[op];
  const std::int8_t* codes[LayerSpec::kMaxInputs] = {};
  QuantParams quant[LayerSpec::kMaxInputs];
  for (std::int32_t k = 0; k < layer.input_count; ++k) {
    const std::int32_t from = layer.inputs[k];
    codes[k] = tensor(from, q);
    quant[k] = from < 0 ? input_quant_ : layers_[from].output_quant;
  }
  const std::size_t channels = static_cast<std::size_t>(layer.output.channels);
  const std::size_t elements = static_cast<std::size_t>(batch) * layer.output.elements();
  for (std::size_t e = 0; e < elements; ++e) {
    double sum = 0.0;
    for (std::int32_t k = 0; k < layer.input_count; ++k)
      sum += static_cast<double>(quant[k].scale) * (codes[k][e] - quant[k].zero_point);
    channel_stats[e % channels].add(sum);
  }
  return Status::ok;
}

BasicTensorView<const std::int8_t> QuantizedModel::output() const {
  if (!bound_ || output_batch_ == 0) return {};
  const std::int32_t last = count_ - 1;
  return {reinterpret_cast<const std::int8_t*>(activations_ + layers_[last].output_offset),
          output_batch_, layers_[last].output};
}

QuantParams QuantizedModel::output_quant() const {
  return count_ > 0 ? layers_[count_ - 1].output_quant : input_quant_;
}

Status QuantizedModel::dequantize_output(float* destination, std::size_t count) const {
  if (!bound_) return Status::not_bound;
  const BasicTensorView<const std::int8_t> out = output();
  if (out.data == nullptr || destination == nullptr || count != out.elements())
    return Status::invalid_argument;
  const QuantParams q = output_quant();
  for (std::size_t i = 0; i < count; ++i)
    destination[i] = q.scale * static_cast<float>(out.data[i] - q.zero_point);
  return Status::ok;
}

Status QuantizedModel::check_parameters() const {
  if (!bound_) return Status::not_bound;
  if (!valid_quant(input_quant_)) return Status::bad_format;
  for (std::int32_t i = 0; i < count_; ++i) {
    const QuantizedLayer& layer = layers_[i];
    if (!valid_quant(layer.output_quant) || layer.output_min < -128 ||
        layer.output_min > layer.output_max || layer.output_max > 127)
      return Status::bad_format;
    const std::int32_t from = layer.inputs[0];
    const QuantParams in = from < 0 ? input_quant_ : layers_[from].output_quant;
    const LayerKind kind = layer.spec.kind;
    // Ops that keep their input's codes must share its scale and zero point.
    const bool keeps = kind == LayerKind::max_pool2d || kind == LayerKind::avg_pool2d ||
                       kind == LayerKind::adaptive_avg_pool2d || kind == LayerKind::flatten ||
                       (is_clamp(kind) && !layer.fused);
    if (keeps &&
        (in.scale != layer.output_quant.scale || in.zero_point != layer.output_quant.zero_point))
      return Status::bad_format;
    if (layer.fused && (layers_[from].output_quant.scale != layer.output_quant.scale ||
                        layers_[from].output_quant.zero_point != layer.output_quant.zero_point))
      return Status::bad_format;
    if (kind == LayerKind::add) {
      if (layer.add_left_shift < 0 || layer.add_left_shift > 20 ||
          !valid_multiplier(layer.add_output_multiplier, layer.add_output_shift))
        return Status::bad_format;
      for (std::int32_t n = 0; n < layer.input_count; ++n)
        if (!valid_multiplier(layer.add_multiplier[n], layer.add_shift[n]) ||
            layer.add_shift[n] > 0)
          return Status::bad_format;
    }
    if (layer.channels == 0) continue;
    const std::int64_t taps = static_cast<std::int64_t>(layer.weight_count / layer.channels);
    const std::int64_t headroom = taps * 128 * 255;
    for (std::int32_t o = 0; o < layer.channels; ++o) {
      const std::int64_t b = layer.bias[o];
      if (!valid_multiplier(layer.multiplier[o], layer.shift[o]) ||
          !std::isfinite(layer.weight_scale[o]) || !(layer.weight_scale[o] > 0.0f) ||
          headroom > kernels::kInt32Max || b > kernels::kInt32Max - headroom ||
          b < kernels::kInt32Min + headroom)
        return Status::bad_format;
    }
  }
  return Status::ok;
}

}  // namespace lsuv
