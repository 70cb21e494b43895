// QuantizedModel: a float Model's graph run in int8 fixed point (DESIGN.md, "Fixed point").
//
//   lsuv::QuantizedModel q;
//   LSUV_TRY(q.configure(float_model, graph));       // the same ops; int8 tensors planned
//   LSUV_TRY(q.bind(arena));                         // q.required_bytes() is exact
//   LSUV_TRY(lsuv::quantize(float_model, calibration, {}, scratch, q));
//   LSUV_TRY(q.forward(images, batch));              // no heap allocation, ever
//   q.dequantize_output(logits, count);
//
// Each tensor is int8 asymmetric per tensor, real = scale * (q - zero_point); conv2d and linear
// weights are int8 symmetric per output channel (in the float Layer's kernel layout), their bias
// int32 at scale input_scale * weight_scale[o], and each output channel requantises with an
// integer multiplier and shift (kernels/fixed_point.hpp). A clamp (ReLU, ReLU6, Hardtanh) that
// is the only reader of the conv2d, linear or add before it is *fused*: its range is that op's
// output range and forward skips it. Pooling, Flatten and unfused clamps keep their input's
// scale and zero point; Add rescales its inputs as TFLite does. BatchNorm2d must be folded first
// (lsuv/fold.hpp): a model with one is unsupported.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/arena.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/layer.hpp"
#include "lsuv/model.hpp"
#include "lsuv/running_stats.hpp"
#include "lsuv/status.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv {
namespace kernels {
struct ChannelMoments;
}

// real = scale * (q - zero_point); scale > 0 and finite, zero_point in [-128, 127].
struct QuantParams {
  float scale = 1.0f;
  std::int32_t zero_point = 0;
};

struct QuantizedLayer {
  LayerSpec spec;
  std::int32_t inputs[LayerSpec::kMaxInputs] = {-1, -1, -1, -1};  // -1: the network input
  std::int32_t input_count = 1;
  ImageShape input;   // per image, of the first input
  ImageShape output;  // per image

  // conv2d and linear (null otherwise): weights in the float Layer's layout, and per output
  // channel the bias (zero when the float op has none), the weight scale and the requantising
  // multiplier (Q0.31) and shift.
  std::int8_t* weights = nullptr;
  std::int32_t* bias = nullptr;
  float* weight_scale = nullptr;
  std::int32_t* multiplier = nullptr;
  std::int32_t* shift = nullptr;
  std::size_t weight_count = 0;
  std::int32_t channels = 0;  // entries of bias, weight_scale, multiplier and shift

  QuantParams output_quant;
  // The codes the output is clamped to: a fused clamp's range for conv2d, linear and add, the
  // op's own range for a clamp; all of int8 otherwise.
  std::int32_t output_min = -128;
  std::int32_t output_max = 127;
  // add: each input's multiplier and shift (<= 0) to the common scale and the sum's multiplier
  // and shift to the output scale, after a left shift of the centred inputs (TFLite's scheme).
  std::int32_t add_left_shift = 20;
  std::int32_t add_multiplier[LayerSpec::kMaxInputs] = {};
  std::int32_t add_shift[LayerSpec::kMaxInputs] = {};
  std::int32_t add_output_multiplier = 0;
  std::int32_t add_output_shift = 0;
  bool fused = false;  // a clamp its producer applies; forward skips it

  // The plan (set by configure), in bytes for max_batch images.
  std::size_t output_offset = 0;
  std::size_t output_bytes = 0;
  std::size_t scratch_offset = 0;
  std::size_t scratch_bytes = 0;
  std::int32_t last_use = 0;
  bool in_place = false;
};

class QuantizedModel {
 public:
  static constexpr std::size_t graph_bytes(std::int32_t count) {
    return count <= 0 ? 0
                      : (static_cast<std::size_t>(count) * sizeof(QuantizedLayer) +
                         Arena::kAlignment - 1) /
                            Arena::kAlignment * Arena::kAlignment;
  }

  // The network of a configured float model (bound or not), for the same input shape and
  // max_batch: its op records go into `graph`, which must outlive their use. Errors:
  // invalid_argument (float model not configured, graph without buffer), unsupported (a
  // BatchNorm2d: fold it first), arena_too_small, size_overflow. On failure the model is as it
  // was and graph is rewound. On success the model is configured and unbound.
  Status configure(const Model& float_model, Arena& graph);

  // Exact bytes bind() takes from an arena aligned to Arena::kAlignment: parameters, then the
  // activation region (the int8 network input, every op's output and scratch).
  std::size_t required_bytes() const;
  MemoryPlan memory_plan() const;
  // Parameters start as zero weights and bias, multipliers 0 (every output its zero point).
  // Errors as Model::bind; on failure the model is as it was and the arena rewound.
  Status bind(Arena& arena);
  bool bound() const { return bound_; }

  // Quantises `batch` NHWC float images with input_quant() (NaN reads as 0) and runs the ops.
  // Errors: not_bound, invalid_argument (batch outside 1..max_batch, null input).
  Status forward(const float* input, std::int32_t batch);
  // The same from images already quantised with input_quant().
  Status forward(const std::int8_t* input, std::int32_t batch);
  // LSUV's and statistics' pass: forward over ops 0..last only, merging the int32 accumulators
  // (bias included, before requantisation) of every conv2d and linear op in [first, last] into
  // `moments`, each such op's output channels in turn (kernels/i8_params.hpp says how; dequantise
  // channel o with input scale * weight_scale[o]). Errors as forward, and invalid_argument
  // (first and last not 0 <= first <= last < layer_count(), null moments). output() is empty
  // after it unless last is the last op.
  Status forward_accumulators(const float* input, std::int32_t batch, std::int32_t first,
                              std::int32_t last, kernels::ChannelMoments* moments);
  // LSUV's pass over an add: forward over the ops before `op` (an add op), then the real sum of
  // its dequantised inputs, element by element (its pre-activation output: before its
  // requantisation and any clamp), added to channel_stats (one per output channel). Each input's
  // term scale * (q - zero_point) is exact in double, so is their sum at any practical ratio of
  // scales: the same bits at every CPU level and on every architecture. Errors as forward, and
  // invalid_argument (op not an add, null stats). output() is empty after it.
  Status forward_add_sum(const float* input, std::int32_t batch, std::int32_t op,
                         RunningStats* channel_stats);
  BasicTensorView<const std::int8_t> output() const;
  QuantParams output_quant() const;
  // The output of the last forward as floats: count must be its element count.
  // Errors: not_bound, invalid_argument (no forward yet, null, wrong count).
  Status dequantize_output(float* destination, std::size_t count) const;

  // Checks every parameter against the kernels' contracts (scales positive and finite, zero
  // points and clamp codes in int8, multipliers in [2^30, 2^31) or 0, shifts in [-31, 30] and
  // <= 0 where TFLite's add needs it, bias within the accumulator headroom): bad_format when one
  // is outside, not_bound before bind. quantize() always passes; a file reader calls it.
  Status check_parameters() const;

  std::int32_t layer_count() const { return count_; }
  const QuantizedLayer& layer(std::int32_t index) const { return layers_[index]; }
  // For quantize() and file readers: scales, codes and the parameter arrays' contents may be
  // written; shapes and the plan must not change. check_parameters() says whether they hold.
  QuantizedLayer& mutable_layer(std::int32_t index) { return layers_[index]; }
  QuantParams input_quant() const { return input_quant_; }
  void set_input_quant(QuantParams q) { input_quant_ = q; }
  ImageShape input_shape() const { return input_; }
  ImageShape output_shape() const { return count_ > 0 ? layers_[count_ - 1].output : input_; }
  std::int32_t max_batch() const { return max_batch_; }

 private:
  Status take_memory(Arena& arena, bool commit, std::size_t* parameter_bytes);
  const std::int8_t* tensor(std::int32_t index, const std::int8_t* network_input) const;
  Status quantize_input(const float* input, std::int32_t batch, const std::int8_t** quantized);
  // Ops 0..last run; those from `first` on merge their accumulators into moments (null: none).
  struct Measured {
    std::int32_t last, first;
    kernels::ChannelMoments* moments;
  };
  void run_ops(const std::int8_t* network_input, std::int32_t batch, const Measured& measured);

  QuantizedLayer* layers_ = nullptr;
  std::int32_t count_ = 0;
  ImageShape input_;
  std::int32_t max_batch_ = 0;
  QuantParams input_quant_;
  std::size_t input_offset_ = 0;
  std::size_t input_bytes_ = 0;
  std::size_t parameter_bytes_ = 0;
  std::size_t activation_bytes_ = 0;
  std::size_t lower_bound_bytes_ = 0;
  unsigned char* activations_ = nullptr;
  std::int32_t output_batch_ = 0;
  bool configured_ = false;
  bool bound_ = false;
};

// How activation ranges come from the calibration statistics (per tensor, streamed with
// RunningStats over every batch): the observed [min, max], or mean -+ std_multiple * std
// clipped to [min, max] (robust to a few outliers). Either range is widened to include 0, so
// real 0 (padding, ReLU) is exactly a code. On the trained seed model k = 10 kept the float
// model's test accuracy to 0.1 point where min/max lost 0.6 and k = 4 (clipping too) 1.1.
struct QuantizeOptions {
  enum class Range : std::uint8_t { min_max, mean_std };
  Range range = Range::min_max;
  double std_multiple = 10.0;
  std::int32_t max_batches = 0;  // calibration batches read, 0: all of the source
};

// Bytes quantize() takes from its scratch arena (exact for an aligned buffer).
std::size_t quantize_scratch_bytes(const Model& float_model, const BatchSource& calibration);

// Fills `out` (configured from `float_model` and bound) from the float model's parameters and
// the statistics of every tensor over the calibration batches: activation scales and zero
// points, per-channel int8 weights, int32 bias, multipliers and shifts, fused clamp codes, Add
// rescaling. Errors: not_bound, invalid_argument (out not configured from this network,
// calibration images of another shape or larger batches than the model's, no batches, bad
// options), unsupported (a BatchNorm2d, a fan-in whose accumulator could overflow int32),
// non_finite (NaN or Inf in a calibration tensor or a weight), arena_too_small (scratch); the
// float model's parameters are untouched, `out` is unchanged on error.
Status quantize(Model& float_model, BatchSource& calibration, const QuantizeOptions& options,
                Arena& scratch, QuantizedModel& out);

}  // namespace lsuv
