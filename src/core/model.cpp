#include "lsuv/model.hpp"

#include <cmath>
#include <cstring>
#include <limits>

#include "core/channel_moments.hpp"
#include "core/checked_math.hpp"
#include "kernels/dispatch.hpp"

namespace lsuv {
namespace {

// Per-dimension ceiling: keeps every per-image index well inside int32 arithmetic.
constexpr std::int32_t kMaxDimension = 1 << 20;

bool positive(std::int32_t a, std::int32_t b) {
  return a > 0 && b > 0;
}

// Elements of one image; false when the count does not fit in size_t (on 32-bit targets it
// may not, and ImageShape::elements() would wrap).
bool checked_elements(ImageShape shape, std::size_t* out) {
  return detail::checked_multiply(static_cast<std::size_t>(shape.height),
                                  static_cast<std::size_t>(shape.width), out) &&
         detail::checked_multiply(*out, static_cast<std::size_t>(shape.channels), out);
}

bool names_equal(const char* a, const char* b) {
  return std::strncmp(a, b, LayerSpec::kMaxNameLength + 1) == 0;
}

// Output length of a sliding window, or <= 0 when the window does not fit.
std::int64_t window_output(std::int32_t in, std::int32_t kernel, std::int32_t stride,
                           std::int32_t pad, std::int32_t dilation) {
  const std::int64_t span = static_cast<std::int64_t>(dilation) * (kernel - 1) + 1;
  const std::int64_t padded = static_cast<std::int64_t>(in) + 2 * static_cast<std::int64_t>(pad);
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

Status shape_layer(const LayerSpec& spec, ImageShape in, Layer* layer) {
  layer->spec = spec;
  layer->input = in;
  layer->feature_shape = in;
  ImageShape out = in;
  switch (spec.kind) {
    case LayerKind::conv2d: {
      if (!positive(spec.out_channels, spec.groups) || !positive(spec.kernel_h, spec.kernel_w) ||
          !positive(spec.stride_h, spec.stride_w) || !positive(spec.dilation_h, spec.dilation_w) ||
          spec.pad_h < 0 || spec.pad_w < 0 || spec.in_channels < 0)
        return Status::invalid_argument;
      if (spec.in_channels != 0 && spec.in_channels != in.channels) return Status::shape_mismatch;
      if (in.channels % spec.groups != 0 || spec.out_channels % spec.groups != 0)
        return Status::invalid_argument;
      if (spec.kernel_h > kMaxDimension || spec.kernel_w > kMaxDimension ||
          spec.out_channels > kMaxDimension || spec.pad_h > kMaxDimension ||
          spec.pad_w > kMaxDimension || spec.dilation_h > kMaxDimension ||
          spec.dilation_w > kMaxDimension)
        return Status::size_overflow;
      const std::int64_t h =
          window_output(in.height, spec.kernel_h, spec.stride_h, spec.pad_h, spec.dilation_h);
      const std::int64_t w =
          window_output(in.width, spec.kernel_w, spec.stride_w, spec.pad_w, spec.dilation_w);
      if (h <= 0 || w <= 0) return Status::shape_mismatch;
      if (h > kMaxDimension || w > kMaxDimension) return Status::size_overflow;
      out = {static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), spec.out_channels};
      // The fan-in numbers PyTorch's weight columns (Layer::fan_in, parameter_index): int32.
      std::size_t fan_in = 0;
      std::size_t count = 0;
      if (!detail::checked_multiply(static_cast<std::size_t>(spec.kernel_h),
                                    static_cast<std::size_t>(spec.kernel_w), &fan_in) ||
          !detail::checked_multiply(fan_in, static_cast<std::size_t>(in.channels / spec.groups),
                                    &fan_in) ||
          fan_in > static_cast<std::size_t>(INT32_MAX) ||
          !detail::checked_multiply(fan_in, static_cast<std::size_t>(spec.out_channels), &count))
        return Status::size_overflow;
      layer->weight_count = count;
      layer->bias_count = spec.bias ? static_cast<std::size_t>(spec.out_channels) : 0;
      break;
    }
    case LayerKind::linear: {
      if (spec.out_channels <= 0 || spec.in_channels < 0) return Status::invalid_argument;
      if (spec.out_channels > kMaxDimension) return Status::size_overflow;
      const std::size_t features = in.elements();
      if (spec.in_channels != 0 && static_cast<std::size_t>(spec.in_channels) != features)
        return Status::shape_mismatch;
      if (features > static_cast<std::size_t>(INT32_MAX)) return Status::size_overflow;
      out = {1, 1, spec.out_channels};
      std::size_t count = 0;
      if (!detail::checked_multiply(features, static_cast<std::size_t>(spec.out_channels), &count))
        return Status::size_overflow;
      layer->weight_count = count;
      layer->bias_count = spec.bias ? static_cast<std::size_t>(spec.out_channels) : 0;
      break;
    }
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d: {
      if (!positive(spec.kernel_h, spec.kernel_w) || !positive(spec.stride_h, spec.stride_w) ||
          spec.pad_h < 0 || spec.pad_w < 0)
        return Status::invalid_argument;
      // PyTorch's rule: padding at most half the window, so no window is all padding.
      if (spec.pad_h > spec.kernel_h / 2 || spec.pad_w > spec.kernel_w / 2)
        return Status::invalid_argument;
      const std::int64_t h = window_output(in.height, spec.kernel_h, spec.stride_h, spec.pad_h, 1);
      const std::int64_t w = window_output(in.width, spec.kernel_w, spec.stride_w, spec.pad_w, 1);
      if (h <= 0 || w <= 0) return Status::shape_mismatch;
      out = {static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), in.channels};
      break;
    }
    case LayerKind::adaptive_avg_pool2d:
      out = {1, 1, in.channels};
      break;
    case LayerKind::flatten:
      if (in.elements() > static_cast<std::size_t>(INT32_MAX)) return Status::size_overflow;
      out = {1, 1, static_cast<std::int32_t>(in.elements())};
      break;
    case LayerKind::relu:
      break;
    default:
      return Status::invalid_argument;
  }
  layer->output = out;
  return Status::ok;
}

kernels::Conv2dParams conv_params(const Layer& layer, std::int32_t batch) {
  const LayerSpec& s = layer.spec;
  const ImageShape in = layer.input;
  const ImageShape out = layer.output;
  return {batch,      in.height,    in.width,     in.channels, out.height,   out.width,
          out.channels, s.kernel_h, s.kernel_w,   s.stride_h,  s.stride_w,   s.pad_h,
          s.pad_w,    s.dilation_h, s.dilation_w, s.groups};
}

kernels::LinearParams linear_params(const Layer& layer, std::int32_t batch) {
  return {batch, static_cast<std::int32_t>(layer.input.elements()), layer.output.channels};
}

// Scratch of the layer's kernel at any level (0 for layers without one).
std::size_t kernel_scratch_bytes(const Layer& layer, std::int32_t batch) {
  if (layer.spec.kind == LayerKind::conv2d)
    return kernels::conv2d_scratch_bytes_any_level(conv_params(layer, batch));
  if (layer.spec.kind == LayerKind::linear)
    return kernels::linear_scratch_bytes_any_level(linear_params(layer, batch));
  return 0;
}

}  // namespace

std::int32_t Layer::fan_in() const {
  if (spec.kind == LayerKind::conv2d)
    return spec.kernel_h * spec.kernel_w * (input.channels / spec.groups);
  return static_cast<std::int32_t>(input.elements());
}

std::size_t Layer::parameter_index(std::int32_t out, std::int32_t column) const {
  const std::size_t outs = static_cast<std::size_t>(output.channels);
  if (spec.kind == LayerKind::conv2d) {
    // PyTorch column = (i * kh + ky) * kw + kx; ours [ky][kx][i][out].
    const std::int32_t window = spec.kernel_h * spec.kernel_w;
    const std::int32_t i = column / window;
    const std::int32_t ky = (column % window) / spec.kernel_w;
    const std::int32_t kx = column % spec.kernel_w;
    const std::size_t group_in = static_cast<std::size_t>(input.channels / spec.groups);
    return ((static_cast<std::size_t>(ky) * spec.kernel_w + kx) * group_in + i) * outs + out;
  }
  // Linear: PyTorch numbers features C x H x W; ours are H x W x C.
  const ImageShape& f = feature_shape;
  const std::int32_t plane = f.height * f.width;
  const std::int32_t c = column / plane;
  const std::int32_t y = (column % plane) / f.width;
  const std::int32_t x = column % f.width;
  const std::size_t feature = (static_cast<std::size_t>(y) * f.width + x) * f.channels + c;
  return feature * outs + out;
}

Status Model::configure(const LayerSpec* layers, std::int32_t count, ImageShape input,
                        std::int32_t max_batch) {
  if (layers == nullptr || count <= 0 || max_batch <= 0) return Status::invalid_argument;
  if (count > kMaxLayers) return Status::too_many_layers;
  if (input.height <= 0 || input.width <= 0 || input.channels <= 0) return Status::invalid_argument;
  if (input.height > kMaxDimension || input.width > kMaxDimension ||
      input.channels > kMaxDimension || max_batch > kMaxDimension)
    return Status::size_overflow;

  std::size_t largest = 0;
  if (!checked_elements(input, &largest)) return Status::size_overflow;

  Model candidate;  // committed only when the whole plan is valid
  ImageShape shape = input;
  ImageShape torch_shape = input;  // the shape PyTorch would see: Flatten leaves it spatial
  for (std::int32_t i = 0; i < count; ++i) {
    const LayerSpec& spec = layers[i];
    if (spec.name[0] == '\0' || spec.name[LayerSpec::kMaxNameLength] != '\0')
      return Status::invalid_argument;
    for (std::int32_t j = 0; j < i; ++j)
      if (names_equal(spec.name, layers[j].name)) return Status::invalid_argument;
    LSUV_TRY(shape_layer(spec, shape, &candidate.layers_[i]));
    if (spec.kind == LayerKind::linear) candidate.layers_[i].feature_shape = torch_shape;
    shape = candidate.layers_[i].output;
    if (spec.kind != LayerKind::flatten && spec.kind != LayerKind::relu) torch_shape = shape;
    std::size_t elements = 0;
    if (!checked_elements(shape, &elements)) return Status::size_overflow;
    if (elements > largest) largest = elements;
  }
  std::size_t capacity = 0;
  std::size_t bytes = 0;
  if (!detail::checked_multiply(largest, static_cast<std::size_t>(max_batch), &capacity) ||
      !detail::checked_multiply(capacity, sizeof(float), &bytes))
    return Status::size_overflow;

  // Commit only a plan that also fits in size_t as a whole; a failed configure leaves the model
  // (configured, bound or neither) as it was.
  candidate.count_ = count;
  candidate.input_ = input;
  candidate.max_batch_ = max_batch;
  candidate.activation_capacity_ = capacity;
  for (std::int32_t i = 0; i < count; ++i) {
    const Layer& layer = candidate.layers_[i];
    const std::size_t scratch = kernel_scratch_bytes(layer, max_batch);
    if (scratch > candidate.kernel_scratch_bytes_) candidate.kernel_scratch_bytes_ = scratch;
    if (layer.output.channels > candidate.max_channels_)
      candidate.max_channels_ = layer.output.channels;
  }
  candidate.configured_ = true;
  Arena measure;
  if (candidate.plan(measure) != Status::ok) return Status::size_overflow;
  *this = candidate;
  return Status::ok;
}

Status Model::plan(Arena& arena) {
  for (std::int32_t i = 0; i < count_; ++i) {
    Layer& layer = layers_[i];
    layer.weights = layer.weight_count > 0 ? arena.allocate<float>(layer.weight_count) : nullptr;
    layer.bias = layer.bias_count > 0 ? arena.allocate<float>(layer.bias_count) : nullptr;
  }
  activations_[0] = arena.allocate<float>(activation_capacity_);
  activations_[1] = arena.allocate<float>(activation_capacity_);
  static_assert(Arena::kAlignment % kernels::kScratchAlignment == 0, "kernel scratch alignment");
  kernel_scratch_ =
      kernel_scratch_bytes_ > 0 ? arena.allocate_bytes(kernel_scratch_bytes_) : nullptr;
  moments_ = arena.allocate<kernels::ChannelMoments>(static_cast<std::size_t>(max_channels_));
  return arena.status();
}

std::size_t Model::required_bytes() const {
  if (!configured_) return 0;
  Arena measure;
  Model copy = *this;  // plan() writes pointers; measure on a copy
  (void)copy.plan(measure);
  return measure.used();
}

Status Model::bind(Arena& arena) {
  if (!configured_) return Status::invalid_argument;
  const Arena::Mark start = arena.mark();
  Model candidate = *this;
  const Status status = candidate.plan(arena);
  if (status != Status::ok || arena.measuring()) {
    arena.rewind(start);
    return status != Status::ok ? status : Status::invalid_argument;
  }
  *this = candidate;
  for (std::int32_t i = 0; i < count_; ++i) {
    Layer& layer = layers_[i];
    if (layer.weights != nullptr) std::memset(layer.weights, 0, layer.weight_count * sizeof(float));
    if (layer.bias != nullptr) std::memset(layer.bias, 0, layer.bias_count * sizeof(float));
  }
  bound_ = true;
  return Status::ok;
}

std::size_t Model::parameter_count() const {
  std::size_t total = 0;
  for (std::int32_t i = 0; i < count_; ++i)
    total += layers_[i].weight_count + layers_[i].bias_count;
  return total;
}

Status Model::copy_parameters_to(float* destination, std::size_t count) const {
  if (!bound_) return Status::not_bound;
  if (destination == nullptr || count != parameter_count()) return Status::invalid_argument;
  for (std::int32_t i = 0; i < count_; ++i) {
    const Layer& layer = layers_[i];
    if (layer.weight_count > 0)
      std::memcpy(destination, layer.weights, layer.weight_count * sizeof(float));
    destination += layer.weight_count;
    if (layer.bias_count > 0)
      std::memcpy(destination, layer.bias, layer.bias_count * sizeof(float));
    destination += layer.bias_count;
  }
  return Status::ok;
}

Status Model::copy_parameters_from(const float* source, std::size_t count) {
  if (!bound_) return Status::not_bound;
  if (source == nullptr || count != parameter_count()) return Status::invalid_argument;
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(source[i])) return Status::non_finite;
  for (std::int32_t i = 0; i < count_; ++i) {
    const Layer& layer = layers_[i];
    if (layer.weight_count > 0)
      std::memcpy(layer.weights, source, layer.weight_count * sizeof(float));
    source += layer.weight_count;
    if (layer.bias_count > 0) std::memcpy(layer.bias, source, layer.bias_count * sizeof(float));
    source += layer.bias_count;
  }
  return Status::ok;
}

std::int32_t Model::find_layer(const char* name) const {
  for (std::int32_t i = 0; i < count_; ++i)
    if (names_equal(layers_[i].spec.name, name)) return i;
  return -1;
}

Status Model::run_layer(std::int32_t index, ConstTensorView input, TensorView output) const {
  return run_layer_staged(index, input, output, false, nullptr);
}

Status Model::run_layer_with_statistics(std::int32_t index, ConstTensorView input,
                                        TensorView output, RunningStats* channel_stats) const {
  if (channel_stats == nullptr) return Status::invalid_argument;
  return run_layer_staged(index, input, output, false, channel_stats);
}

Status Model::run_layer_staged(std::int32_t index, ConstTensorView input, TensorView output,
                               bool relu, RunningStats* channel_stats) const {
  if (!bound_) return Status::not_bound;
  if (index < 0 || index >= count_ || input.data == nullptr || output.data == nullptr)
    return Status::invalid_argument;
  const Layer& layer = layers_[index];
  if (input.batch <= 0 || input.batch > max_batch_ || input.batch != output.batch)
    return Status::invalid_argument;
  if (input.shape.elements() != layer.input.elements() ||
      output.shape.elements() != layer.output.elements())
    return Status::shape_mismatch;
  const kernels::F32Kernels& k = kernels::f32_kernels();
  kernels::F32Epilogue epilogue;
  if (relu) epilogue.clamp_min = 0.0f;
  const std::size_t channels = static_cast<std::size_t>(layer.output.channels);
  if (channel_stats != nullptr) {
    for (std::size_t c = 0; c < channels; ++c) moments_[c] = {};
    epilogue.moments = moments_;
  }
  const LayerSpec& s = layer.spec;
  const ImageShape in = layer.input;
  const ImageShape out = layer.output;
  bool moments_done = false;  // the kernel's epilogue filled moments_
  switch (s.kind) {
    case LayerKind::conv2d:
      k.conv2d(conv_params(layer, input.batch), input.data, layer.weights, layer.bias,
               output.data, epilogue, kernel_scratch_);
      moments_done = true;
      break;
    case LayerKind::linear:
      k.linear(linear_params(layer, input.batch), input.data, layer.weights, layer.bias,
               output.data, epilogue, kernel_scratch_);
      moments_done = true;
      break;
    case LayerKind::relu:
      k.clamp(input.elements(), input.data, output.data, 0.0f,
              std::numeric_limits<float>::infinity());
      break;
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d: {
      const kernels::Pool2dParams p = {input.batch, in.height,  in.width,   in.channels,
                                       out.height,  out.width,  s.kernel_h, s.kernel_w,
                                       s.stride_h,  s.stride_w, s.pad_h,    s.pad_w};
      if (s.kind == LayerKind::max_pool2d)
        k.max_pool2d(p, input.data, output.data);
      else
        k.avg_pool2d(p, input.data, output.data);
      break;
    }
    case LayerKind::adaptive_avg_pool2d:
      k.global_avg_pool(input.batch, in.height * in.width, in.channels, input.data, output.data);
      break;
    case LayerKind::flatten:
      if (output.data != input.data)
        std::memmove(output.data, input.data, input.elements() * sizeof(float));
      break;
    case LayerKind::add:
    case LayerKind::batch_norm2d:
    case LayerKind::relu6:
    case LayerKind::hardtanh:
      return Status::invalid_argument;  // refused by configure()
  }
  if (channel_stats != nullptr) {
    if (!moments_done)
      k.add_channel_moments(output.data,
                            static_cast<std::size_t>(output.batch) * out.height * out.width,
                            channels, moments_);
    merge_moments(moments_, channels, channel_stats);
  }
  return Status::ok;
}

Status Model::run_range(std::int32_t first, std::int32_t last, ConstTensorView input,
                        LayerObserver* observer, RunningStats* first_layer_stats) {
  if (!bound_) return Status::not_bound;
  if (first < 0 || last > count_ || first > last || input.data == nullptr)
    return Status::invalid_argument;
  if (input.batch <= 0 || input.batch > max_batch_) return Status::invalid_argument;
  ConstTensorView current = input;
  for (std::int32_t i = first; i < last; ++i) {
    const Layer& layer = layers_[i];
    const LayerKind kind = layer.spec.kind;
    // ReLU and Flatten work in place when their input is already one of our buffers.
    const bool ours = current.data == activations_[0] || current.data == activations_[1];
    float* target = activations_[0];
    if (ours && (kind == LayerKind::relu || kind == LayerKind::flatten))
      target = const_cast<float*>(current.data);
    else if (current.data == activations_[0])
      target = activations_[1];
    const TensorView out = {target, current.batch, layer.output};
    // Nobody can see the output between a conv2d or linear layer and the ReLU after it, unless
    // an observer watches.
    const bool fuse_relu = observer == nullptr && i + 1 < last &&
                           (kind == LayerKind::conv2d || kind == LayerKind::linear) &&
                           layers_[i + 1].spec.kind == LayerKind::relu;
    LSUV_TRY(
        run_layer_staged(i, current, out, fuse_relu, i == first ? first_layer_stats : nullptr));
    current = {target, current.batch, layer.output};
    if (observer != nullptr) observer->observe(i, layer, current);
    if (fuse_relu) ++i;
  }
  output_ = current;
  return Status::ok;
}

Status Model::forward(const float* input, std::int32_t batch) {
  return run_range(0, count_, {input, batch, input_}, nullptr, nullptr);
}

Status Model::forward(const float* input, std::int32_t batch, LayerObserver& observer) {
  return run_range(0, count_, {input, batch, input_}, &observer, nullptr);
}

Status Model::forward_range(std::int32_t first, std::int32_t last, ConstTensorView input,
                            ConstTensorView* result) {
  return forward_range(first, last, input, result, nullptr);
}

Status Model::forward_range(std::int32_t first, std::int32_t last, ConstTensorView input,
                            ConstTensorView* result, RunningStats* first_layer_stats) {
  if (result == nullptr) return Status::invalid_argument;
  if (bound_ && first >= 0 && first < count_ &&
      input.shape.elements() != layers_[first].input.elements())
    return Status::shape_mismatch;
  LSUV_TRY(run_range(first, last, input, nullptr, first_layer_stats));
  *result = output_;
  return Status::ok;
}

}  // namespace lsuv
