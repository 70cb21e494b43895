#include "core/quant/quant_params.hpp"

#include <cmath>

#include "core/ops/op.hpp"
#include "kernels/fixed_point.hpp"

namespace lsuv::detail {

QuantParams range_quant_params(double lo, double hi) {
  lo = std::fmin(lo, 0.0);
  hi = std::fmax(hi, 0.0);
  QuantParams q;
  const double scale = (hi - lo) / 255.0;
  // A constant-zero tensor: any scale represents it; keep codes meaningful for 1 unit.
  q.scale = scale > 1e-30 ? static_cast<float>(scale) : 1.0f;
  const double zero = std::round(-128.0 - lo / q.scale);
  q.zero_point = static_cast<std::int32_t>(zero < -128.0 ? -128.0 : (zero > 127.0 ? 127.0 : zero));
  return q;
}

void quant_range(QuantParams q, double* lo, double* hi) {
  *lo = static_cast<double>(q.scale) * (-128 - q.zero_point);
  *hi = static_cast<double>(q.scale) * (127 - q.zero_point);
}

std::int32_t code_of(double v, QuantParams q) {
  const double c = std::round(v / q.scale) + q.zero_point;
  return static_cast<std::int32_t>(c < -128.0 ? -128.0 : (c > 127.0 ? 127.0 : c));
}

void clamp_codes(const LayerSpec& clamp, QuantParams q, std::int32_t* lo, std::int32_t* hi) {
  float a = 0.0f, b = 0.0f;
  (void)ops::clamp_range(clamp, &a, &b);
  *lo = std::isfinite(a) ? code_of(a, q) : -128;
  *hi = std::isfinite(b) ? code_of(b, q) : 127;
}

void requantize_channel(QuantizedLayer& layer, std::size_t o, double input_scale,
                        double real_bias) {
  const std::size_t c = static_cast<std::size_t>(layer.channels);
  const double headroom = static_cast<double>(layer.weight_count / c) * 128.0 * 255.0;
  const double bias_limit = static_cast<double>(kernels::kInt32Max) - headroom;
  const double accumulator_scale = input_scale * layer.weight_scale[o];
  const double b = std::round(real_bias / accumulator_scale);
  layer.bias[o] =
      static_cast<std::int32_t>(b > bias_limit ? bias_limit : (b < -bias_limit ? -bias_limit : b));
  const kernels::QuantizedMultiplier m =
      kernels::quantize_multiplier(accumulator_scale / layer.output_quant.scale);
  layer.multiplier[o] = m.multiplier;
  layer.shift[o] = m.shift;
}

void rescale_add_inputs(QuantizedModel& model, std::int32_t op) {
  QuantizedLayer& to = model.mutable_layer(op);
  double scales[LayerSpec::kMaxInputs] = {};
  double largest = 0.0;
  for (std::int32_t k = 0; k < to.input_count; ++k) {
    const std::int32_t from = to.inputs[k];
    scales[k] = from < 0 ? model.input_quant().scale : model.layer(from).output_quant.scale;
    largest = scales[k] > largest ? scales[k] : largest;
  }
  const double common = 2.0 * largest;
  to.add_left_shift = 20;
  for (std::int32_t k = 0; k < to.input_count; ++k) {
    const kernels::QuantizedMultiplier m = kernels::quantize_multiplier(scales[k] / common);
    to.add_multiplier[k] = m.multiplier;
    to.add_shift[k] = m.shift;
  }
  const kernels::QuantizedMultiplier m = kernels::quantize_multiplier(
      common / (static_cast<double>(1 << to.add_left_shift) * to.output_quant.scale));
  to.add_output_multiplier = m.multiplier;
  to.add_output_shift = m.shift;
}

}  // namespace lsuv::detail
