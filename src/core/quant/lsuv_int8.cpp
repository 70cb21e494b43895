// LSUV in fixed point (lsuv/lsuv_int8.hpp).
#include "lsuv/lsuv_int8.hpp"

#include <cmath>
#include <cstring>

#include "core/lsuv_rules.hpp"
#include "core/ops/op.hpp"
#include "core/quant/quant_params.hpp"
#include "kernels/params.hpp"

namespace lsuv {
namespace {

bool is_clamp(LayerKind kind) {
  return kind == LayerKind::relu || kind == LayerKind::relu6 || kind == LayerKind::hardtanh;
}

bool selected(const QuantizedModel& model, const LsuvOptions& options, std::int32_t index) {
  return detail::lsuv_selected(model, options, index);
}

QuantParams input_quant_of(const QuantizedModel& model, std::int32_t op) {
  const std::int32_t from = model.layer(op).inputs[0];
  return from < 0 ? model.input_quant() : model.layer(from).output_quant;
}

std::size_t total_channels(const QuantizedModel& model) {
  std::size_t total = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    total += static_cast<std::size_t>(model.layer(i).channels);
  return total;
}

// Op `op`'s accumulator moments as real statistics, channel by channel.
void dequantize_moments(const QuantizedModel& model, std::int32_t op,
                        const kernels::ChannelMoments* moments, RunningStats* channels) {
  const QuantizedLayer& layer = model.layer(op);
  const double in = input_quant_of(model, op).scale;
  for (std::int32_t c = 0; c < layer.channels; ++c) {
    const double s = in * layer.weight_scale[c];
    channels[c] =
        RunningStats::from_moments(moments[c].count, moments[c].mean * s, moments[c].m2 * s * s);
  }
}

Status read_batch(BatchSource& source, std::int32_t b, float* images, std::int32_t* count) {
  LSUV_TRY(source.read(b, images, count));
  return *count < 1 || *count > source.max_batch_size() ? Status::invalid_argument : Status::ok;
}

bool is_add(const QuantizedModel& model, std::int32_t op) {
  return model.layer(op).spec.kind == LayerKind::add;
}

// The most channels one op's statistics take: a conv2d's or linear's outputs, an add's.
std::int32_t max_channels(const QuantizedModel& model) {
  std::int32_t widest = 1;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const QuantizedLayer& l = model.layer(i);
    const std::int32_t c = is_add(model, i) ? l.output.channels : l.channels;
    if (c > widest) widest = c;
  }
  return widest;
}

// Add op `op`'s real sum of its inputs over every batch: per channel into channel_stats, merged
// into *tensor.
Status measure_add(QuantizedModel& model, std::int32_t op, BatchSource& source, float* images,
                   RunningStats* channel_stats, RunningStats* tensor) {
  const std::int32_t channels = model.layer(op).output.channels;
  for (std::int32_t c = 0; c < channels; ++c) channel_stats[c].reset();
  for (std::int32_t b = 0; b < source.batch_count(); ++b) {
    std::int32_t n = 0;
    LSUV_TRY(read_batch(source, b, images, &n));
    LSUV_TRY(model.forward_add_sum(images, n, op, channel_stats));
  }
  tensor->reset();
  for (std::int32_t c = 0; c < channels; ++c) tensor->merge(channel_stats[c]);
  return Status::ok;
}

// Every conv2d and linear op's accumulator statistics over the source, per tensor, into stats
// (layer_count() entries; other ops reset), and every add's real sum (measure_add). moments: total_channels() entries, per_channel:
// max_channels(), images: one batch.
Status measure_all(QuantizedModel& model, BatchSource& source, float* images,
                   kernels::ChannelMoments* moments, RunningStats* per_channel,
                   RunningStats* stats) {
  const std::size_t channels = total_channels(model);
  for (std::size_t c = 0; c < channels; ++c) moments[c] = kernels::ChannelMoments();
  for (std::int32_t b = 0; b < source.batch_count(); ++b) {
    std::int32_t n = 0;
    LSUV_TRY(read_batch(source, b, images, &n));
    LSUV_TRY(model.forward_accumulators(images, n, 0, model.layer_count() - 1, moments));
  }
  const kernels::ChannelMoments* cursor = moments;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    stats[i].reset();
    const std::int32_t c = model.layer(i).channels;
    if (c == 0) continue;
    dequantize_moments(model, i, cursor, per_channel);
    for (std::int32_t k = 0; k < c; ++k) stats[i].merge(per_channel[k]);
    cursor += c;
  }
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (is_add(model, i))
      LSUV_TRY(measure_add(model, i, source, images, per_channel, &stats[i]));
  return Status::ok;
}

Status check_source(const QuantizedModel& model, const BatchSource& source) {
  if (source.batch_count() < 1 || source.max_batch_size() < 1) return Status::invalid_argument;
  if (source.image_shape() != model.input_shape() || source.max_batch_size() > model.max_batch())
    return Status::shape_mismatch;
  return Status::ok;
}

// What LSUV may change of every op: its output's parameters and codes, an add's rescaling, and
// (conv2d and linear) the per-channel bias, weight scale, multiplier and shift; never the int8
// weights.
struct OpState {
  QuantParams quant;
  std::int32_t output_min, output_max;
  std::int32_t add_multiplier[LayerSpec::kMaxInputs], add_shift[LayerSpec::kMaxInputs];
  std::int32_t add_output_multiplier, add_output_shift;

  explicit OpState(const QuantizedLayer& l)
      : quant(l.output_quant),
        output_min(l.output_min),
        output_max(l.output_max),
        add_output_multiplier(l.add_output_multiplier),
        add_output_shift(l.add_output_shift) {
    std::memcpy(add_multiplier, l.add_multiplier, sizeof add_multiplier);
    std::memcpy(add_shift, l.add_shift, sizeof add_shift);
  }
  void restore(QuantizedLayer& l) const {
    l.output_quant = quant;
    l.output_min = output_min;
    l.output_max = output_max;
    std::memcpy(l.add_multiplier, add_multiplier, sizeof add_multiplier);
    std::memcpy(l.add_shift, add_shift, sizeof add_shift);
    l.add_output_multiplier = add_output_multiplier;
    l.add_output_shift = add_output_shift;
  }
};

struct Snapshot {
  OpState* ops = nullptr;
  std::int32_t* bias = nullptr;
  float* weight_scale = nullptr;
  std::int32_t* multiplier = nullptr;
  std::int32_t* shift = nullptr;

  void carve(const QuantizedModel& model, Arena& arena) {
    const std::size_t channels = total_channels(model);
    ops = arena.allocate<OpState>(static_cast<std::size_t>(model.layer_count()));
    bias = arena.allocate<std::int32_t>(channels);
    weight_scale = arena.allocate<float>(channels);
    multiplier = arena.allocate<std::int32_t>(channels);
    shift = arena.allocate<std::int32_t>(channels);
  }
  // Channel arrays of op `op` start at offset(op).
  std::size_t offset(const QuantizedModel& model, std::int32_t op) const {
    std::size_t at = 0;
    for (std::int32_t i = 0; i < op; ++i) at += static_cast<std::size_t>(model.layer(i).channels);
    return at;
  }
  void save(const QuantizedModel& model) {
    std::size_t at = 0;
    for (std::int32_t i = 0; i < model.layer_count(); ++i) {
      const QuantizedLayer& l = model.layer(i);
      ops[i] = OpState(l);
      const std::size_t c = static_cast<std::size_t>(l.channels);
      if (c == 0) continue;
      std::memcpy(bias + at, l.bias, c * sizeof(std::int32_t));
      std::memcpy(weight_scale + at, l.weight_scale, c * sizeof(float));
      std::memcpy(multiplier + at, l.multiplier, c * sizeof(std::int32_t));
      std::memcpy(shift + at, l.shift, c * sizeof(std::int32_t));
      at += c;
    }
  }
  void restore_op(QuantizedModel& model, std::int32_t op, std::size_t at) const {
    QuantizedLayer& l = model.mutable_layer(op);
    ops[op].restore(l);
    const std::size_t c = static_cast<std::size_t>(l.channels);
    if (c == 0) return;
    std::memcpy(l.bias, bias + at, c * sizeof(std::int32_t));
    std::memcpy(l.weight_scale, weight_scale + at, c * sizeof(float));
    std::memcpy(l.multiplier, multiplier + at, c * sizeof(std::int32_t));
    std::memcpy(l.shift, shift + at, c * sizeof(std::int32_t));
  }
  void restore(QuantizedModel& model) const {
    std::size_t at = 0;
    for (std::int32_t i = 0; i < model.layer_count(); ++i) {
      restore_op(model, i, at);
      at += static_cast<std::size_t>(model.layer(i).channels);
    }
  }
};

struct Workspace {
  float* images = nullptr;
  kernels::ChannelMoments* moments = nullptr;  // every conv2d / linear op's channels
  RunningStats* calibrated = nullptr;          // per op: its statistics as the call found it
  RunningStats* channel_stats = nullptr;
  double* scale = nullptr;
  double* shift = nullptr;
  Snapshot start;   // the model as the call found it
  Snapshot before;  // the model before the layer being normalised
};



Status carve(const QuantizedModel& model, const BatchSource& source, Arena& arena, Workspace* ws) {
  const std::size_t widest = static_cast<std::size_t>(max_channels(model));
  ws->images = arena.allocate<float>(static_cast<std::size_t>(source.max_batch_size()) *
                                     model.input_shape().elements());
  ws->moments = arena.allocate<kernels::ChannelMoments>(total_channels(model) + 1);
  ws->calibrated = arena.allocate<RunningStats>(static_cast<std::size_t>(model.layer_count()));
  ws->channel_stats = arena.allocate<RunningStats>(widest);
  ws->scale = arena.allocate<double>(widest);
  ws->shift = arena.allocate<double>(widest);
  ws->start.carve(model, arena);
  ws->before.carve(model, arena);
  return arena.status();
}

class Int8LsuvRun {
 public:
  Int8LsuvRun(QuantizedModel& model, BatchSource& source, const LsuvOptions& options, Workspace& ws,
              LsuvReport& report)
      : model_(model), source_(source), options_(options), ws_(ws), report_(report) {}

  Status run();

 private:
  detail::LsuvLayerStats layer_stats(std::int32_t op, RunningStats* tensor) const {
    return {tensor, ws_.channel_stats, model_.layer(op).channels};
  }
  Status pass(std::int32_t op, RunningStats* tensor);
  Status rescale(std::int32_t op, const RunningStats& tensor);
  bool moved_range(std::int32_t op, const RunningStats& tensor, double* lo, double* hi) const;
  void follow_inputs(std::int32_t op, const RunningStats& tensor);
  void follow_add(std::int32_t op, const RunningStats& tensor);
  void set_output_range(std::int32_t op, double lo, double hi);
  void follow_input_scales(std::int32_t op);
  LsuvLayerReport* entry_of(std::int32_t op);
  Status report_adds();

  QuantizedModel& model_;
  BatchSource& source_;
  const LsuvOptions& options_;
  Workspace& ws_;
  LsuvReport& report_;
  LsuvLayerReport scratch_entry_;
  std::int64_t images_ = 0;
};

// The op's accumulators over every batch: channel statistics in ws_.channel_stats, merged into
// *tensor. The moments continue from batch to batch (as one batch holding them all).
Status Int8LsuvRun::pass(std::int32_t op, RunningStats* tensor) {
  const std::int32_t channels = model_.layer(op).channels;
  for (std::int32_t c = 0; c < channels; ++c) ws_.moments[c] = kernels::ChannelMoments();
  images_ = 0;
  for (std::int32_t b = 0; b < source_.batch_count(); ++b) {
    std::int32_t n = 0;
    LSUV_TRY(read_batch(source_, b, ws_.images, &n));
    LSUV_TRY(model_.forward_accumulators(ws_.images, n, op, op, ws_.moments));
    images_ += n;
  }
  dequantize_moments(model_, op, ws_.moments, ws_.channel_stats);
  tensor->reset();
  for (std::int32_t c = 0; c < channels; ++c) tensor->merge(ws_.channel_stats[c]);
  return Status::ok;
}

// The op's output range for its input as it is now: the range it was quantised with, for the
// statistics it had then (ws_.calibrated), moved to the mean and scaled to the std it has now
// (`tensor`), as an earlier op's rescale has moved and scaled its input. Without that its range
// would stay that of the activations before LSUV and clip (or waste) the codes. A constant
// output keeps its range.
bool Int8LsuvRun::moved_range(std::int32_t op, const RunningStats& tensor, double* lo,
                              double* hi) const {
  const RunningStats& then = ws_.calibrated[op];
  if (detail::lsuv_is_constant(then) || detail::lsuv_is_constant(tensor)) return false;
  detail::quant_range(model_.layer(op).output_quant, lo, hi);
  const double ratio = tensor.stddev() / then.stddev();
  *lo = tensor.mean() + ratio * (*lo - then.mean());
  *hi = tensor.mean() + ratio * (*hi - then.mean());
  return true;
}

void Int8LsuvRun::follow_inputs(std::int32_t op, const RunningStats& tensor) {
  double lo = 0.0, hi = 0.0;
  if (!moved_range(op, tensor, &lo, &hi)) return;
  QuantizedLayer& layer = model_.mutable_layer(op);
  const double in = input_quant_of(model_, op).scale;
  set_output_range(op, lo, hi);
  for (std::int32_t o = 0; o < layer.channels; ++o)
    detail::requantize_channel(layer, static_cast<std::size_t>(o), in,
                               static_cast<double>(layer.bias[o]) * in * layer.weight_scale[o]);
  follow_input_scales(op);
}

// The same for an add, whose statistics are the real sum of its inputs (measure_add): its range
// follows them, and its input rescaling follows its inputs' scales and its own.
void Int8LsuvRun::follow_add(std::int32_t op, const RunningStats& tensor) {
  double lo = 0.0, hi = 0.0;
  if (moved_range(op, tensor, &lo, &hi)) set_output_range(op, lo, hi);
  detail::rescale_add_inputs(model_, op);
  follow_input_scales(op);
}

// Channel o's real output y becomes a_o y + b_o: a_o multiplies its weight scale, the real bias
// becomes the float LSUV's (seed variant: (bias - mean) a_o + target_mean; paper: unchanged),
// and the output range follows.
Status Int8LsuvRun::rescale(std::int32_t op, const RunningStats& tensor) {
  RunningStats copy = tensor;
  detail::lsuv_rescale_factors(options_, layer_stats(op, &copy), ws_.scale, ws_.shift);
  QuantizedLayer& layer = model_.mutable_layer(op);
  const double in = input_quant_of(model_, op).scale;
  double old_lo = 0.0, old_hi = 0.0;
  detail::quant_range(layer.output_quant, &old_lo, &old_hi);
  double lo = INFINITY, hi = -INFINITY;
  // ws_.shift becomes the real bias each channel ends with.
  for (std::int32_t o = 0; o < layer.channels; ++o) {
    const double a = ws_.scale[o];
    const double bias = layer.bias[o] * in * layer.weight_scale[o];
    const bool constant = a == 1.0 && ws_.shift[o] == 0.0;
    double new_bias = bias;
    if (!constant && options_.variant == LsuvVariant::seed && layer.spec.bias)
      new_bias = (bias - ws_.shift[o]) * a + options_.target_mean;
    const float weight_scale = static_cast<float>(layer.weight_scale[o] * a);
    if (!std::isfinite(weight_scale) || !(weight_scale > 0.0f) || !std::isfinite(new_bias))
      return Status::non_finite;
    const double b = new_bias - a * bias;
    lo = std::fmin(lo, a * old_lo + b);
    hi = std::fmax(hi, a * old_hi + b);
    ws_.shift[o] = new_bias;
  }
  if (!std::isfinite(lo) || !std::isfinite(hi) || hi - lo > 1e30) return Status::non_finite;
  for (std::int32_t o = 0; o < layer.channels; ++o)
    layer.weight_scale[o] = static_cast<float>(layer.weight_scale[o] * ws_.scale[o]);
  set_output_range(op, lo, hi);
  for (std::int32_t o = 0; o < layer.channels; ++o)
    detail::requantize_channel(layer, static_cast<std::size_t>(o), in, ws_.shift[o]);
  follow_input_scales(op);
  return Status::ok;
}

// The op's output parameters for real range [lo, hi], cut to the range of a clamp fused into it
// and to an add's own ReLU.
void Int8LsuvRun::set_output_range(std::int32_t op, double lo, double hi) {
  QuantizedLayer& layer = model_.mutable_layer(op);
  const bool fused = op + 1 < model_.layer_count() && model_.layer(op + 1).fused;
  const bool add_relu = layer.spec.kind == LayerKind::add && layer.spec.relu;
  float clamp_lo = -INFINITY, clamp_hi = INFINITY;
  if (fused) (void)ops::clamp_range(model_.layer(op + 1).spec, &clamp_lo, &clamp_hi);
  lo = std::fmax(lo, static_cast<double>(clamp_lo));
  hi = std::fmin(hi, static_cast<double>(clamp_hi));
  if (add_relu) lo = std::fmax(lo, 0.0);
  layer.output_quant = detail::range_quant_params(lo, hi < lo ? lo : hi);
  layer.output_min = -128;
  layer.output_max = 127;
  if (fused)
    detail::clamp_codes(model_.layer(op + 1).spec, layer.output_quant, &layer.output_min,
                        &layer.output_max);
  if (add_relu && layer.output_min < layer.output_quant.zero_point)
    layer.output_min = layer.output_quant.zero_point;
}

// After op `op`'s output scale moved: every later op takes its input's new scale. Ops that keep
// their input's codes take its parameters; conv2d and linear keep their real bias and weights
// (from ws_.before, so repeated rescales do not round them again) under the new input scale; an
// add keeps its output parameters and rescales its inputs.
void Int8LsuvRun::follow_input_scales(std::int32_t op) {
  std::size_t at = ws_.before.offset(model_, op + 1);
  for (std::int32_t i = op + 1; i < model_.layer_count(); ++i) {
    QuantizedLayer& layer = model_.mutable_layer(i);
    const std::int32_t from = layer.inputs[0];
    const QuantParams in = input_quant_of(model_, i);
    const QuantParams old_in = from < 0 ? model_.input_quant() : ws_.before.ops[from].quant;
    if (layer.channels > 0) {
      ws_.before.restore_op(model_, i, at);
      if (in.scale != old_in.scale)
        for (std::int32_t o = 0; o < layer.channels; ++o)
          detail::requantize_channel(
              layer, static_cast<std::size_t>(o), in.scale,
              static_cast<double>(layer.bias[o]) * old_in.scale * layer.weight_scale[o]);
      at += static_cast<std::size_t>(layer.channels);
    } else if (layer.fused) {
      layer.output_quant = in;
      layer.output_min = model_.layer(from).output_min;
      layer.output_max = model_.layer(from).output_max;
    } else if (is_add(model_, i)) {
      detail::rescale_add_inputs(model_, i);
    } else {
      layer.output_quant = in;
      if (is_clamp(layer.spec.kind))
        detail::clamp_codes(layer.spec, in, &layer.output_min, &layer.output_max);
    }
  }
}

LsuvLayerReport* Int8LsuvRun::entry_of(std::int32_t op) {
  return detail::lsuv_entry_of(report_, op, &scratch_entry_);
}

// Each add's pre-activation output (the sum of its inputs) with the final parameters, as the
// float LSUV reports it (status measured).
Status Int8LsuvRun::report_adds() {
  for (std::int32_t i = 0; i < model_.layer_count(); ++i) {
    if (!is_add(model_, i)) continue;
    RunningStats tensor;
    LSUV_TRY(measure_add(model_, i, source_, ws_.images, ws_.channel_stats, &tensor));
    LsuvLayerReport* entry = entry_of(i);
    detail::lsuv_report_after({&tensor, ws_.channel_stats, model_.layer(i).output.channels},
                              entry);
    entry->status = LsuvLayerStatus::measured;
  }
  return Status::ok;
}

Status Int8LsuvRun::run() {
  report_.batches = source_.batch_count();
  if (report_.capacity > 0) {
    for (std::int32_t i = 0; i < model_.layer_count(); ++i) {
      if (!selected(model_, options_, i) && !is_add(model_, i)) continue;
      report_.layers[report_.count] = LsuvLayerReport();
      report_.layers[report_.count++].layer_index = i;
    }
  }
  ws_.start.save(model_);
  Status status =
      measure_all(model_, source_, ws_.images, ws_.moments, ws_.channel_stats, ws_.calibrated);
  // Whether an op before has changed: from there on every conv2d and linear op's output range
  // follows its input (follow_inputs), selected or not.
  bool moved = false;
  for (std::int32_t i = 0; status == Status::ok && i < model_.layer_count(); ++i) {
    RunningStats tensor;
    if (is_add(model_, i)) {
      if (!moved) continue;
      ws_.before.save(model_);
      status = measure_add(model_, i, source_, ws_.images, ws_.channel_stats, &tensor);
      if (status == Status::ok) follow_add(i, tensor);
      continue;
    }
    if (model_.layer(i).channels == 0) continue;
    if (!selected(model_, options_, i)) {
      if (!moved) continue;
      ws_.before.save(model_);
      status = pass(i, &tensor);
      if (status == Status::ok) follow_inputs(i, tensor);
      continue;
    }
    ws_.before.save(model_);
    LsuvLayerReport& entry = *entry_of(i);
    bool first = true;
    status = detail::lsuv_normalise_layer(
        options_, layer_stats(i, &tensor),
        [&](bool, RunningStats* stats) {
          LSUV_TRY(pass(i, stats));
          if (first && moved) follow_inputs(i, *stats);
          first = false;
          return Status::ok;
        },
        [&](const RunningStats& stats) { return rescale(i, stats); }, &entry);
    moved = true;
    if (status != Status::ok) break;
    if (entry.status == LsuvLayerStatus::zero_variance ||
        entry.status == LsuvLayerStatus::non_finite) {
      ws_.before.restore(model_);  // untouched, whatever the rescale had begun
      if (!options_.skip_unnormalisable_layers)
        status = entry.status == LsuvLayerStatus::zero_variance ? Status::zero_variance
                                                                : Status::non_finite;
    }
  }
  if (status == Status::ok) status = report_adds();
  if (status == Status::ok) status = model_.check_parameters();
  if (status != Status::ok) {
    ws_.start.restore(model_);
    return status;
  }
  report_.images = images_;
  return Status::ok;
}

Status validate(const QuantizedModel& model, const BatchSource& source,
                const LsuvOptions& options) {
  if (!model.bound()) return Status::not_bound;
  if (!detail::lsuv_options_valid(options)) return Status::invalid_argument;
  if (lsuv_report_size(model, options) < 0) return Status::invalid_argument;
  if (options.orthonormal_preinit || options.cache == LsuvCache::always) return Status::unsupported;
  return check_source(model, source);
}

}  // namespace

std::int32_t lsuv_report_size(const QuantizedModel& model, const LsuvOptions& options) {
  if (!detail::lsuv_selection_valid(model, options)) return -1;
  std::int32_t entries = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (selected(model, options, i) || is_add(model, i)) ++entries;
  return entries;
}

std::size_t lsuv_scratch_bytes(const QuantizedModel& model, const BatchSource& source,
                               const LsuvOptions& options) {
  if (validate(model, source, options) != Status::ok) return 0;
  Arena measure;
  Workspace ws;
  return carve(model, source, measure, &ws) == Status::ok ? measure.used() : 0;
}

Status lsuv_initialize(QuantizedModel& model, BatchSource& source, const LsuvOptions& options,
                       Arena& scratch, LsuvReport* report) {
  LsuvReport local;
  LsuvReport* out = nullptr;
  LSUV_TRY(detail::lsuv_start_report(validate(model, source, options), report, &local,
                                     lsuv_report_size(model, options), scratch, &out));
  const Arena::Mark start = scratch.mark();
  Workspace ws;
  Status status = carve(model, source, scratch, &ws);
  if (status == Status::ok) status = Int8LsuvRun(model, source, options, ws, *out).run();
  scratch.rewind(start);
  return status;
}

std::size_t accumulator_statistics_scratch_bytes(const QuantizedModel& model,
                                                 const BatchSource& source) {
  Arena measure;
  (void)measure.allocate<float>(static_cast<std::size_t>(source.max_batch_size()) *
                                model.input_shape().elements());
  (void)measure.allocate<kernels::ChannelMoments>(total_channels(model) + 1);
  (void)measure.allocate<RunningStats>(static_cast<std::size_t>(max_channels(model)));
  return measure.used();
}

Status accumulator_statistics(QuantizedModel& model, BatchSource& source, Arena& scratch,
                              RunningStats* stats) {
  if (!model.bound()) return Status::not_bound;
  if (stats == nullptr || scratch.measuring()) return Status::invalid_argument;
  LSUV_TRY(check_source(model, source));
  const Arena::Mark mark = scratch.mark();
  float* images = scratch.allocate<float>(static_cast<std::size_t>(source.max_batch_size()) *
                                          model.input_shape().elements());
  auto* moments = scratch.allocate<kernels::ChannelMoments>(total_channels(model) + 1);
  auto* per_channel = scratch.allocate<RunningStats>(static_cast<std::size_t>(max_channels(model)));
  Status status = scratch.status();
  if (status == Status::ok)
    status = measure_all(model, source, images, moments, per_channel, stats);
  scratch.rewind(mark);
  return status;
}

}  // namespace lsuv
