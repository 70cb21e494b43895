#include "lsuv/fold.hpp"

#include <cmath>
#include <cstring>

#include "lsuv/lsuv_initialize.hpp"

namespace lsuv {
namespace {

// Whether op `index` is a BatchNorm2d folded into the op before it.
bool folded(const Model& model, std::int32_t index) {
  const std::int32_t layer = lsuv_measured_layer(model, index);
  return layer >= 0 && layer != index;
}

// The per-channel factor a = gamma / sqrt(running_var + eps), in double.
double factor(const Layer& bn, std::int32_t c) {
  return bn.weights[c] / std::sqrt(static_cast<double>(bn.running_var[c]) + bn.spec.eps);
}

}  // namespace

std::int32_t folded_layer_count(const Model& model) {
  std::int32_t count = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (!folded(model, i)) ++count;
  return count;
}

Status fold_batch_norm_specs(const Model& model, LayerSpec* out, std::int32_t capacity) {
  if (out == nullptr || capacity < folded_layer_count(model)) return Status::invalid_argument;
  std::int32_t n = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    if (folded(model, i)) {
      out[n - 1].bias = true;
      continue;
    }
    LayerSpec spec = model.layer(i).spec;
    for (std::int32_t k = 0; k < spec.input_count; ++k) {
      const std::int32_t from = model.find_layer(spec.inputs[k]);
      if (from >= 0 && folded(model, from))
        std::memcpy(spec.inputs[k], model.layer(from - 1).spec.name, sizeof spec.inputs[k]);
    }
    out[n++] = spec;
  }
  return Status::ok;
}

Status fold_batch_norm_parameters(const Model& from, Model& to) {
  if (!from.bound() || !to.bound()) return Status::not_bound;
  if (to.layer_count() != folded_layer_count(from)) return Status::shape_mismatch;
  // Check everything first: shapes, then that every folded value is finite.
  for (std::int32_t i = 0, j = 0; i < from.layer_count(); ++i) {
    if (folded(from, i)) continue;
    const Layer& a = from.layer(i);
    const Layer& b = to.layer(j++);
    const bool gains_bias = i + 1 < from.layer_count() && folded(from, i + 1);
    if (a.spec.kind != b.spec.kind || a.output != b.output || a.weight_count != b.weight_count ||
        (gains_bias ? b.bias_count != static_cast<std::size_t>(a.output.channels)
                    : b.bias_count != a.bias_count))
      return Status::shape_mismatch;
    if (!gains_bias) continue;
    const Layer& bn = from.layer(i + 1);
    const std::size_t outs = static_cast<std::size_t>(a.output.channels);
    for (std::size_t k = 0; k < a.weight_count; ++k)
      if (!std::isfinite(a.weights[k] * factor(bn, static_cast<std::int32_t>(k % outs))))
        return Status::non_finite;
    for (std::size_t c = 0; c < outs; ++c) {
      const double s = factor(bn, static_cast<std::int32_t>(c));
      const double bias = a.bias != nullptr ? a.bias[c] : 0.0;
      if (!std::isfinite(static_cast<float>((bias - bn.running_mean[c]) * s + bn.bias[c])))
        return Status::non_finite;
    }
  }
  for (std::int32_t i = 0, j = 0; i < from.layer_count(); ++i) {
    if (folded(from, i)) continue;
    const Layer& a = from.layer(i);
    const Layer& b = to.layer(j++);
    float* arrays_from[4] = {a.weights, a.bias, a.running_mean, a.running_var};
    float* arrays_to[4] = {b.weights, b.bias, b.running_mean, b.running_var};
    const std::size_t counts[4] = {a.weight_count, a.bias_count,
                                   a.running_mean != nullptr ? a.weight_count : 0,
                                   a.running_var != nullptr ? a.weight_count : 0};
    for (int k = 0; k < 4; ++k)
      if (counts[k] > 0) std::memcpy(arrays_to[k], arrays_from[k], counts[k] * sizeof(float));
    if (a.batches_tracked != nullptr) *b.batches_tracked = *a.batches_tracked;
    if (!(i + 1 < from.layer_count() && folded(from, i + 1))) continue;
    const Layer& bn = from.layer(i + 1);
    const std::size_t outs = static_cast<std::size_t>(a.output.channels);
    for (std::size_t k = 0; k < a.weight_count; ++k)
      b.weights[k] =
          static_cast<float>(a.weights[k] * factor(bn, static_cast<std::int32_t>(k % outs)));
    for (std::size_t c = 0; c < outs; ++c) {
      const double s = factor(bn, static_cast<std::int32_t>(c));
      const double bias = a.bias != nullptr ? a.bias[c] : 0.0;
      b.bias[c] = static_cast<float>((bias - bn.running_mean[c]) * s + bn.bias[c]);
    }
  }
  return Status::ok;
}

}  // namespace lsuv
