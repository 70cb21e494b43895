// How real ranges and real parameters become int8 codes, int32 biases and requantisation
// multipliers: shared by quantize() (from calibration statistics) and LSUV in fixed point (which
// moves them as it rescales a layer), so both follow one rule.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/layer.hpp"
#include "lsuv/quantized_model.hpp"

namespace lsuv::detail {

// 256 codes over [lo, hi] widened to include 0 (so real 0 is exactly a code); a range of
// (almost) no width gets scale 1.
QuantParams range_quant_params(double lo, double hi);
// The real range q represents: [scale * (-128 - zero_point), scale * (127 - zero_point)].
void quant_range(QuantParams q, double* lo, double* hi);
// The code of real value v in q, clamped to int8.
std::int32_t code_of(double v, QuantParams q);
// The codes a clamp op's range (ReLU, ReLU6, Hardtanh) takes in q.
void clamp_codes(const LayerSpec& clamp, QuantParams q, std::int32_t* lo, std::int32_t* hi);

// Output channel o of a conv2d or linear op whose input has scale input_scale: its int32 bias
// for the real bias real_bias (at scale input_scale * weight_scale[o], clamped to leave the
// accumulator its headroom) and its requantising multiplier and shift to output_quant.
void requantize_channel(QuantizedLayer& layer, std::size_t o, double input_scale, double real_bias);

// Add op `op`'s rescaling as TFLite's: its inputs (at their current parameters in `model`) to a
// common scale twice the largest, then the sum to its output_quant.
void rescale_add_inputs(QuantizedModel& model, std::int32_t op);

}  // namespace lsuv::detail
