// quantize(): a float model's parameters and calibration statistics into a QuantizedModel.
#include <cmath>
#include <new>

#include "core/ops/op.hpp"
#include "core/quant/quant_params.hpp"
#include "kernels/fixed_point.hpp"
#include "lsuv/quantized_model.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv {
namespace {

// One tensor's calibration statistics: its range and moments over every batch.
struct TensorRange {
  float min = INFINITY;
  float max = -INFINITY;
  RunningStats stats;
  bool finite = true;

  void add(const float* data, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      const float v = data[i];
      if (!std::isfinite(v)) {
        finite = false;
        return;
      }
      min = v < min ? v : min;
      max = v > max ? v : max;
    }
    stats.add(data, n);
  }
};

// Entry 0 is the network input, entry i + 1 op i's output.
class RangeObserver final : public LayerObserver {
 public:
  explicit RangeObserver(TensorRange* ranges) : ranges_(ranges) {}
  void observe(std::int32_t index, const Layer&, ConstTensorView output) override {
    ranges_[index + 1].add(output.data, output.elements());
  }

 private:
  TensorRange* ranges_;
};

QuantParams params_for(const TensorRange& r, const QuantizeOptions& options) {
  double lo = r.min, hi = r.max;
  if (options.range == QuantizeOptions::Range::mean_std) {
    const double spread = options.std_multiple * std::sqrt(r.stats.variance());
    lo = std::fmax(lo, r.stats.mean() - spread);
    hi = std::fmin(hi, r.stats.mean() + spread);
  }
  return detail::range_quant_params(lo, hi);
}

bool same_network(const Model& model, const QuantizedModel& q) {
  if (q.layer_count() != model.layer_count() || q.input_shape() != model.input_shape() ||
      q.max_batch() != model.max_batch())
    return false;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& a = model.layer(i);
    const QuantizedLayer& b = q.layer(i);
    if (a.spec.kind != b.spec.kind || a.output != b.output || a.input_count != b.input_count ||
        a.weight_count != b.weight_count)
      return false;
    for (std::int32_t k = 0; k < a.input_count; ++k)
      if (a.inputs[k] != b.inputs[k]) return false;
  }
  return true;
}

bool finite_parameters(const Model& model) {
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& l = model.layer(i);
    for (std::size_t w = 0; w < l.weight_count; ++w)
      if (!std::isfinite(l.weights[w])) return false;
    for (std::size_t b = 0; b < l.bias_count; ++b)
      if (!std::isfinite(l.bias[b])) return false;
  }
  return true;
}

// Weights symmetric per output channel (the innermost index of both kernel layouts), bias at
// input_scale * weight_scale, multipliers input_scale * weight_scale / output_scale.
void quantize_weights(const Layer& from, QuantParams in, QuantizedLayer& to) {
  const std::size_t c = static_cast<std::size_t>(to.channels);
  for (std::size_t o = 0; o < c; ++o) to.weight_scale[o] = 0.0f;
  for (std::size_t w = 0; w < from.weight_count; ++w) {
    const float a = std::fabs(from.weights[w]);
    if (a > to.weight_scale[w % c]) to.weight_scale[w % c] = a;
  }
  for (std::size_t o = 0; o < c; ++o)
    to.weight_scale[o] = to.weight_scale[o] > 0.0f ? to.weight_scale[o] / 127.0f : 1.0f;
  for (std::size_t w = 0; w < from.weight_count; ++w)
    to.weights[w] = static_cast<std::int8_t>(std::round(from.weights[w] / to.weight_scale[w % c]));
  for (std::size_t o = 0; o < c; ++o)
    detail::requantize_channel(to, o, in.scale, from.bias != nullptr ? from.bias[o] : 0.0);
}

}  // namespace

std::size_t quantize_scratch_bytes(const Model& model, const BatchSource& calibration) {
  Arena measure;
  (void)measure.allocate<TensorRange>(static_cast<std::size_t>(model.layer_count()) + 1);
  (void)measure.allocate<float>(static_cast<std::size_t>(calibration.max_batch_size()) *
                                calibration.image_shape().elements());
  return measure.used();
}

Status quantize(Model& model, BatchSource& calibration, const QuantizeOptions& options,
                Arena& scratch, QuantizedModel& out) {
  if (!model.bound() || !out.bound()) return Status::not_bound;
  if (!same_network(model, out) || calibration.image_shape() != model.input_shape() ||
      calibration.max_batch_size() < 1 || calibration.max_batch_size() > model.max_batch() ||
      calibration.batch_count() < 1 || options.max_batches < 0 || !(options.std_multiple > 0.0) ||
      !std::isfinite(options.std_multiple))
    return Status::invalid_argument;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& l = model.layer(i);
    if (l.spec.kind == LayerKind::batch_norm2d) return Status::unsupported;
    if (has_parameters(l.spec.kind) &&
        static_cast<double>(l.weight_count / l.output.channels) * 128.0 * 255.0 >=
            static_cast<double>(kernels::kInt32Max) / 2)
      return Status::unsupported;
  }
  if (!finite_parameters(model)) return Status::non_finite;

  const Arena::Mark mark = scratch.mark();
  const std::int32_t count = model.layer_count();
  TensorRange* ranges = scratch.allocate<TensorRange>(static_cast<std::size_t>(count) + 1);
  float* images = scratch.allocate<float>(static_cast<std::size_t>(calibration.max_batch_size()) *
                                          calibration.image_shape().elements());
  if (ranges == nullptr || images == nullptr) {
    const Status status =
        scratch.status() == Status::ok ? Status::arena_too_small : scratch.status();
    scratch.rewind(mark);
    return status;
  }
  for (std::int32_t i = 0; i <= count; ++i) new (&ranges[i]) TensorRange();
  RangeObserver observer(ranges);
  std::int32_t batches = calibration.batch_count();
  if (options.max_batches > 0 && options.max_batches < batches) batches = options.max_batches;
  Status status = Status::ok;
  for (std::int32_t b = 0; b < batches && status == Status::ok; ++b) {
    std::int32_t n = 0;
    status = calibration.read(b, images, &n);
    if (status != Status::ok) break;
    ranges[0].add(images, static_cast<std::size_t>(n) * model.input_shape().elements());
    status = model.forward(images, n, observer);
  }
  for (std::int32_t i = 0; i <= count && status == Status::ok; ++i)
    if (!ranges[i].finite) status = Status::non_finite;
  if (status != Status::ok) {
    scratch.rewind(mark);
    return status;
  }

  out.set_input_quant(params_for(ranges[0], options));
  const auto quant_of = [&](std::int32_t index) {
    return index < 0 ? out.input_quant() : out.layer(index).output_quant;
  };
  for (std::int32_t i = 0; i < count; ++i) {
    const Layer& from = model.layer(i);
    QuantizedLayer& to = out.mutable_layer(i);
    const LayerKind kind = from.spec.kind;
    const QuantParams in = quant_of(from.inputs[0]);
    to.output_min = -128;
    to.output_max = 127;
    if (has_parameters(kind) || kind == LayerKind::add) {
      // With a fused clamp after it, the op's output range is the clamp's.
      const bool fused = i + 1 < count && out.layer(i + 1).fused;
      to.output_quant = params_for(ranges[fused ? i + 2 : i + 1], options);
      if (fused)
        detail::clamp_codes(model.layer(i + 1).spec, to.output_quant, &to.output_min,
                            &to.output_max);
      if (kind == LayerKind::add && from.spec.relu && to.output_min < to.output_quant.zero_point)
        to.output_min = to.output_quant.zero_point;
      if (has_parameters(kind)) {
        quantize_weights(from, in, to);
      } else {
        detail::rescale_add_inputs(out, i);
      }
    } else if (to.fused) {
      to.output_quant = in;
      to.output_min = out.layer(i - 1).output_min;
      to.output_max = out.layer(i - 1).output_max;
    } else {
      to.output_quant = in;
      float lo = 0.0f, hi = 0.0f;
      if (ops::clamp_range(from.spec, &lo, &hi))
        detail::clamp_codes(from.spec, in, &to.output_min, &to.output_max);
    }
  }
  scratch.rewind(mark);
  return Status::ok;
}

}  // namespace lsuv
