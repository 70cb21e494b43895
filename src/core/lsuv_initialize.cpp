#include "lsuv/lsuv_initialize.hpp"

#include <cmath>
#include <cstring>

#include "core/checked_math.hpp"
#include "lsuv/init.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv {

const char* lsuv_variant_name(LsuvVariant variant) {
  switch (variant) {
    case LsuvVariant::seed:
      return "seed";
    case LsuvVariant::paper:
      return "paper";
  }
  return "unknown";
}

const char* lsuv_layer_status_name(LsuvLayerStatus status) {
  switch (status) {
    case LsuvLayerStatus::converged:
      return "converged";
    case LsuvLayerStatus::max_iterations:
      return "max_iterations";
    case LsuvLayerStatus::zero_variance:
      return "zero_variance";
    case LsuvLayerStatus::non_finite:
      return "non_finite";
    case LsuvLayerStatus::not_run:
      return "not_run";
  }
  return "unknown";
}

namespace {

bool selected(const Model& model, const LsuvOptions& options, std::int32_t index) {
  return has_parameters(model.layer(index).spec.kind) && index < 32 &&
         ((options.layer_mask >> index) & 1u) != 0;
}

// A spread this small against the values' magnitude is float rounding, not signal: a layer
// (or channel) whose weights produce no more than that cannot be rescaled to unit variance.
bool negligible(double spread, double mean, double variance) {
  return !(spread >= 1e-12) || spread <= 1e-6 * std::sqrt(mean * mean + variance);
}

bool is_constant(const RunningStats& s) {
  return negligible(s.stddev(), s.mean(), s.sample_variance());
}

bool valid(const LsuvOptions& o) {
  if (o.variant != LsuvVariant::seed && o.variant != LsuvVariant::paper) return false;
  if (o.cache != LsuvCache::automatic && o.cache != LsuvCache::always &&
      o.cache != LsuvCache::never)
    return false;
  return std::isfinite(o.target_mean) && std::isfinite(o.target_std) && o.target_std > 0.0 &&
         std::isfinite(o.tolerance) && o.tolerance > 0.0 && o.max_iterations >= 1 &&
         o.max_iterations <= 1000;
}

// Everything a run needs, carved from the scratch arena (or measured with a measuring arena).
struct Workspace {
  float* backup = nullptr;               // every selected layer's parameters, to restore on failure
  float* batch = nullptr;                // one source batch (recompute mode)
  float* cache[2] = {nullptr, nullptr};  // cached layer inputs, one slot per batch
  std::int32_t* counts = nullptr;        // images in each batch
  RunningStats* channel_stats = nullptr;
  double* scale = nullptr;  // per output channel
  double* shift = nullptr;
  std::size_t slot_floats = 0;  // floats in one cache slot
  std::int32_t batches = 0;
  bool cached = false;
};

std::size_t parameter_floats(const Model& model, const LsuvOptions& options) {
  std::size_t total = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (selected(model, options, i))
      total += model.layer(i).weight_count + model.layer(i).bias_count;
  return total;
}

Status carve(const Model& model, const BatchSource& source, const LsuvOptions& options,
             bool with_cache, Arena& arena, Workspace* ws) {
  std::int32_t max_channels = 1;
  // The cache first holds the model's input (fill_cache), then selected layers' inputs.
  std::size_t max_input = model.input_shape().elements();
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    if (!selected(model, options, i)) continue;
    if (layer.output.channels > max_channels) max_channels = layer.output.channels;
    if (layer.input.elements() > max_input) max_input = layer.input.elements();
  }
  ws->batches = source.batch_count();
  ws->cached = with_cache;
  ws->backup = arena.allocate<float>(parameter_floats(model, options));
  // Recomputing reads one source batch at a time; the cache reads batches into its own slots.
  if (!with_cache)
    ws->batch = arena.allocate<float>(static_cast<std::size_t>(source.max_batch_size()) *
                                      model.input_shape().elements());
  ws->counts = arena.allocate<std::int32_t>(static_cast<std::size_t>(ws->batches));
  ws->channel_stats = arena.allocate<RunningStats>(static_cast<std::size_t>(max_channels));
  ws->scale = arena.allocate<double>(static_cast<std::size_t>(max_channels));
  ws->shift = arena.allocate<double>(static_cast<std::size_t>(max_channels));
  if (with_cache) {
    std::size_t slot = 0;
    std::size_t all = 0;
    if (!detail::checked_multiply(max_input, static_cast<std::size_t>(source.max_batch_size()),
                                  &slot) ||
        !detail::checked_multiply(slot, static_cast<std::size_t>(ws->batches), &all))
      return Status::size_overflow;
    ws->slot_floats = slot;
    ws->cache[0] = arena.allocate<float>(all);
    ws->cache[1] = arena.allocate<float>(all);
  }
  if (options.orthonormal_preinit) {
    // Taken and given back for each layer during the run; checked here so that a run never
    // fails half-way for want of it.
    const Arena::Mark mark = arena.mark();
    (void)arena.allocate_bytes(initialize_scratch_bytes(model, Initializer::orthonormal));
    const Status status = arena.status();
    if (!arena.measuring()) arena.rewind(mark);
    return status;
  }
  return arena.status();
}

class LsuvRun {
 public:
  LsuvRun(Model& model, BatchSource& source, const LsuvOptions& options, Workspace& ws,
          Arena& scratch, LsuvReport& report)
      : model_(model),
        source_(source),
        options_(options),
        ws_(ws),
        scratch_(scratch),
        report_(report) {}

  Status run();

 private:
  Status read_batch(std::int32_t b, float* images);
  Status fill_cache();
  Status advance_cache(std::int32_t to);
  Status input_of(std::int32_t layer, std::int32_t b, ConstTensorView* input);
  Status pass(std::int32_t layer, std::int32_t next, RunningStats* tensor_stats);
  Status normalise(std::int32_t layer, std::int32_t next, LsuvLayerReport* entry);
  LsuvLayerStatus check(std::int32_t layer, const RunningStats& stats) const;
  bool on_target(std::int32_t layer, const RunningStats& tensor_stats) const;
  Status rescale(std::int32_t layer, const RunningStats& tensor_stats);
  // Saves (save = true) or restores the parameters of layer `only`, or of all selected layers
  // when only < 0, to or from ws_.backup.
  void copy_parameters(std::int32_t only, bool save);

  Model& model_;
  BatchSource& source_;
  const LsuvOptions& options_;
  Workspace& ws_;
  Arena& scratch_;
  LsuvReport& report_;
  std::int32_t cache_at_ = 0;  // layer whose input the cache holds
  std::int32_t current_ = 0;   // which cache buffer holds it
};

Status LsuvRun::read_batch(std::int32_t b, float* images) {
  std::int32_t count = 0;
  LSUV_TRY(source_.read(b, images, &count));
  if (count < 1 || count > source_.max_batch_size()) return Status::invalid_argument;
  ws_.counts[b] = count;
  return Status::ok;
}

Status LsuvRun::fill_cache() {
  for (std::int32_t b = 0; b < ws_.batches; ++b)
    LSUV_TRY(read_batch(b, ws_.cache[current_] + static_cast<std::size_t>(b) * ws_.slot_floats));
  cache_at_ = 0;
  return Status::ok;
}

// Moves the cache from the input of layer cache_at_ to the input of layer `to`.
Status LsuvRun::advance_cache(std::int32_t to) {
  if (cache_at_ == to) return Status::ok;
  const ImageShape from_shape = model_.layer(cache_at_).input;
  for (std::int32_t b = 0; b < ws_.batches; ++b) {
    const std::size_t offset = static_cast<std::size_t>(b) * ws_.slot_floats;
    ConstTensorView out;
    LSUV_TRY(model_.forward_range(cache_at_, to,
                                  {ws_.cache[current_] + offset, ws_.counts[b], from_shape}, &out));
    std::memcpy(ws_.cache[1 - current_] + offset, out.data, out.elements() * sizeof(float));
  }
  current_ = 1 - current_;
  cache_at_ = to;
  return Status::ok;
}

Status LsuvRun::input_of(std::int32_t layer, std::int32_t b, ConstTensorView* input) {
  const ImageShape shape = model_.layer(layer).input;
  if (ws_.cached) {
    const float* data = ws_.cache[current_] + static_cast<std::size_t>(b) * ws_.slot_floats;
    *input = {data, ws_.counts[b], shape};
    return Status::ok;
  }
  LSUV_TRY(read_batch(b, ws_.batch));
  const ConstTensorView images = {ws_.batch, ws_.counts[b], model_.input_shape()};
  if (layer == 0) {
    *input = images;
    return Status::ok;
  }
  return model_.forward_range(0, layer, images, input);
}

// Runs `layer` over every calibration batch and accumulates its output's statistics per channel
// (ws_.channel_stats) and per tensor. With the cache and next > layer, also carries every batch
// on to the input of layer `next` so the following layer starts from there.
Status LsuvRun::pass(std::int32_t layer, std::int32_t next, RunningStats* tensor_stats) {
  const ImageShape out_shape = model_.layer(layer).output;
  const std::int32_t channels = out_shape.channels;
  for (std::int32_t c = 0; c < channels; ++c) ws_.channel_stats[c].reset();
  const bool carry = ws_.cached && next > layer;
  for (std::int32_t b = 0; b < ws_.batches; ++b) {
    ConstTensorView input;
    LSUV_TRY(input_of(layer, b, &input));
    ConstTensorView out;
    // The statistics are accumulated while the layer stores its output (Model::forward_range).
    LSUV_TRY(model_.forward_range(layer, layer + 1, input, &out, ws_.channel_stats));
    if (carry) {
      if (next > layer + 1) LSUV_TRY(model_.forward_range(layer + 1, next, out, &out));
      std::memcpy(ws_.cache[1 - current_] + static_cast<std::size_t>(b) * ws_.slot_floats, out.data,
                  out.elements() * sizeof(float));
    }
  }
  if (carry) {
    current_ = 1 - current_;
    cache_at_ = next;
  }
  tensor_stats->reset();
  for (std::int32_t c = 0; c < channels; ++c) tensor_stats->merge(ws_.channel_stats[c]);
  return Status::ok;
}

// Zero variance means the weights have no effect on the spread: every channel is constant
// (then the tensor's spread, if any, is only the biases differing between channels).
LsuvLayerStatus LsuvRun::check(std::int32_t layer, const RunningStats& stats) const {
  if (!std::isfinite(stats.mean()) || !std::isfinite(stats.m2()))
    return LsuvLayerStatus::non_finite;
  double within = 0.0;
  for (std::int32_t c = 0; c < model_.layer(layer).output.channels; ++c)
    within += ws_.channel_stats[c].m2();
  const double n = static_cast<double>(stats.count());
  const double within_std = n > 1 ? std::sqrt(within / (n - 1)) : 0.0;
  if (negligible(within_std, stats.mean(), stats.sample_variance()))
    return LsuvLayerStatus::zero_variance;
  return LsuvLayerStatus::converged;
}

// Whether the layer's output variance is within tolerance of the target: of the whole tensor,
// or of every non-constant channel in per-channel mode.
bool LsuvRun::on_target(std::int32_t layer, const RunningStats& tensor_stats) const {
  const double target = options_.target_std * options_.target_std;
  if (!options_.per_channel)
    return std::fabs(tensor_stats.sample_variance() - target) < options_.tolerance;
  for (std::int32_t c = 0; c < model_.layer(layer).output.channels; ++c) {
    const RunningStats& s = ws_.channel_stats[c];
    if (is_constant(s)) continue;
    if (!(std::fabs(s.sample_variance() - target) < options_.tolerance)) return false;
  }
  return true;
}

// Rescales the layer's parameters from the statistics the last pass left (see the header for
// the two variants). Constant channels (per-channel mode) keep their parameters.
Status LsuvRun::rescale(std::int32_t index, const RunningStats& tensor_stats) {
  const Layer& layer = model_.layer(index);
  const std::int32_t outs = layer.output.channels;
  for (std::int32_t o = 0; o < outs; ++o) {
    const RunningStats& s = options_.per_channel ? ws_.channel_stats[o] : tensor_stats;
    if (is_constant(s)) {
      ws_.scale[o] = 1.0;
      ws_.shift[o] = 0.0;
      continue;
    }
    ws_.scale[o] = options_.target_std / s.stddev();
    ws_.shift[o] = options_.variant == LsuvVariant::seed ? s.mean() : 0.0;
  }
  bool finite = true;
  const std::size_t rows = layer.weight_count / static_cast<std::size_t>(outs);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = layer.weights + r * static_cast<std::size_t>(outs);
    for (std::int32_t o = 0; o < outs; ++o) {
      row[o] = static_cast<float>(row[o] * ws_.scale[o]);
      finite = finite && std::isfinite(row[o]);
    }
  }
  if (layer.bias != nullptr && options_.variant == LsuvVariant::seed) {
    for (std::int32_t o = 0; o < outs; ++o) {
      if (ws_.scale[o] == 1.0 && ws_.shift[o] == 0.0) continue;  // a constant channel
      layer.bias[o] =
          static_cast<float>((layer.bias[o] - ws_.shift[o]) * ws_.scale[o] + options_.target_mean);
      finite = finite && std::isfinite(layer.bias[o]);
    }
  }
  return finite ? Status::ok : Status::non_finite;
}

void LsuvRun::copy_parameters(std::int32_t only, bool save) {
  float* cursor = ws_.backup;
  for (std::int32_t i = 0; i < model_.layer_count(); ++i) {
    if (!selected(model_, options_, i)) continue;
    const Layer& layer = model_.layer(i);
    if (only < 0 || only == i) {
      float* weights_copy = cursor;
      float* bias_copy = cursor + layer.weight_count;
      if (save) {
        std::memcpy(weights_copy, layer.weights, layer.weight_count * sizeof(float));
        if (layer.bias_count > 0)
          std::memcpy(bias_copy, layer.bias, layer.bias_count * sizeof(float));
      } else {
        std::memcpy(layer.weights, weights_copy, layer.weight_count * sizeof(float));
        if (layer.bias_count > 0)
          std::memcpy(layer.bias, bias_copy, layer.bias_count * sizeof(float));
      }
    }
    cursor += layer.weight_count + layer.bias_count;
  }
}

Status LsuvRun::normalise(std::int32_t index, std::int32_t next, LsuvLayerReport* entry) {
  if (options_.orthonormal_preinit) {
    const Arena::Mark mark = scratch_.mark();
    InitOptions init;
    init.seed = options_.seed;
    const Status status = initialize_layer(model_, index, Initializer::orthonormal, init, scratch_);
    scratch_.rewind(mark);
    LSUV_TRY(status);
  }
  RunningStats stats;
  LSUV_TRY(pass(index, -1, &stats));
  entry->mean_before = stats.mean();
  entry->std_before = stats.stddev();
  entry->status = check(index, stats);
  if (entry->status != LsuvLayerStatus::converged) return Status::ok;

  const std::int32_t rescales = options_.variant == LsuvVariant::seed ? 1 : options_.max_iterations;
  while (entry->iterations < rescales) {
    if (options_.variant == LsuvVariant::paper && on_target(index, stats)) break;
    if (rescale(index, stats) != Status::ok) {
      entry->status = LsuvLayerStatus::non_finite;
      return Status::ok;
    }
    ++entry->iterations;
    // The seed variant is exact in one step; the paper's re-measures after each rescale. The
    // last measurement is the one below, which also carries the cache on.
    if (options_.variant == LsuvVariant::paper && entry->iterations < rescales) {
      LSUV_TRY(pass(index, -1, &stats));
      entry->status = check(index, stats);
      if (entry->status != LsuvLayerStatus::converged) return Status::ok;
    }
  }
  LSUV_TRY(pass(index, next, &stats));
  entry->mean_after = stats.mean();
  entry->std_after = stats.stddev();
  entry->status = check(index, stats);
  if (entry->status == LsuvLayerStatus::converged && !on_target(index, stats))
    entry->status = LsuvLayerStatus::max_iterations;
  return Status::ok;
}

Status LsuvRun::run() {
  report_.batches = ws_.batches;
  report_.cached_inputs = ws_.cached;
  copy_parameters(-1, /*save=*/true);
  Status status = ws_.cached ? fill_cache() : Status::ok;
  for (std::int32_t i = 0; status == Status::ok && i < model_.layer_count(); ++i) {
    if (!selected(model_, options_, i)) continue;
    std::int32_t next = -1;
    for (std::int32_t j = i + 1; j < model_.layer_count() && next < 0; ++j)
      if (selected(model_, options_, j)) next = j;
    LsuvLayerReport& entry = report_.layers[report_.count++];
    entry.layer_index = i;
    if (ws_.cached) status = advance_cache(i);
    if (status == Status::ok) status = normalise(i, next, &entry);
    if (status != Status::ok) break;
    if (entry.status == LsuvLayerStatus::zero_variance ||
        entry.status == LsuvLayerStatus::non_finite) {
      copy_parameters(i, /*save=*/false);  // untouched, whatever the rescale had begun
      if (!options_.skip_unnormalisable_layers)
        status = entry.status == LsuvLayerStatus::zero_variance ? Status::zero_variance
                                                                : Status::non_finite;
    }
  }
  if (status != Status::ok) {
    copy_parameters(-1, /*save=*/false);
    return status;
  }
  for (std::int32_t b = 0; b < ws_.batches; ++b) report_.images += ws_.counts[b];
  return Status::ok;
}

Status validate(const Model& model, const BatchSource& source, const LsuvOptions& options) {
  if (!model.bound()) return Status::not_bound;
  if (!valid(options)) return Status::invalid_argument;
  if (source.batch_count() < 1 || source.max_batch_size() < 1) return Status::invalid_argument;
  if (source.image_shape() != model.input_shape()) return Status::shape_mismatch;
  if (source.max_batch_size() > model.max_batch()) return Status::shape_mismatch;
  return Status::ok;
}

}  // namespace

std::size_t lsuv_scratch_bytes(const Model& model, const BatchSource& source,
                               const LsuvOptions& options) {
  if (validate(model, source, options) != Status::ok) return 0;
  Arena measure;
  Workspace ws;
  if (carve(model, source, options, options.cache != LsuvCache::never, measure, &ws) != Status::ok)
    return 0;
  return measure.used();
}

Status lsuv_initialize(Model& model, BatchSource& source, const LsuvOptions& options,
                       Arena& scratch, LsuvReport* report) {
  LsuvReport local;
  LsuvReport& out = report != nullptr ? *report : local;
  out = LsuvReport();
  LSUV_TRY(validate(model, source, options));
  if (scratch.measuring()) return Status::invalid_argument;
  const Arena::Mark start = scratch.mark();
  Workspace ws;
  Status status = Status::arena_too_small;
  if (options.cache != LsuvCache::never) {
    status = carve(model, source, options, true, scratch, &ws);
    if (status != Status::ok) scratch.rewind(start);
  }
  if (status != Status::ok && options.cache != LsuvCache::always) {
    ws = Workspace();
    status = carve(model, source, options, false, scratch, &ws);
  }
  if (status == Status::ok) status = LsuvRun(model, source, options, ws, scratch, out).run();
  scratch.rewind(start);
  return status;
}

}  // namespace lsuv
