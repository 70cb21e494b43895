#include "lsuv/lsuv_initialize.hpp"

#include <cmath>
#include <cstring>

#include "core/checked_math.hpp"
#include "core/lsuv_rules.hpp"
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
    case LsuvLayerStatus::measured:
      return "measured";
  }
  return "unknown";
}

namespace {

bool selected(const Model& model, const LsuvOptions& options, std::int32_t index) {
  return detail::lsuv_selected(model, options, index);
}

bool is_add(const Model& model, std::int32_t index) {
  return model.layer(index).spec.kind == LayerKind::add;
}

bool reported(const Model& model, const LsuvOptions& options, std::int32_t index) {
  return selected(model, options, index) || is_add(model, index);
}

// Floats one batch of up to `images` images needs to resume a pass at op `step`: the network
// input when an op from there on reads it, and every earlier op's output read from there on.
std::size_t resume_floats(const Model& model, std::int32_t step, std::int32_t images) {
  std::size_t per_image = model.read_from(-1, step) ? model.input_shape().elements() : 0;
  for (std::int32_t j = 0; j < step; ++j)
    if (model.read_from(j, step)) per_image += model.layer(j).output.elements();
  return per_image * static_cast<std::size_t>(images);
}

// Everything a run needs, carved from the scratch arena (or measured with a measuring arena).
struct Workspace {
  float* backup = nullptr;               // every selected layer's parameters, to restore on failure
  float* batch = nullptr;                // one source batch (recompute mode, and Adds' pass)
  float* cache[2] = {nullptr, nullptr};  // per batch: what a pass resuming at an op needs
  std::int32_t* counts = nullptr;        // images in each batch
  RunningStats* channel_stats = nullptr;
  RunningStats* add_stats = nullptr;  // every Add's channels, in op order
  unsigned char* add_done = nullptr;  // per op: an Add measured on its way (cache mode)
  double* scale = nullptr;            // per output channel
  double* shift = nullptr;
  std::size_t slot_floats = 0;  // floats in one cache slot
  std::int32_t batches = 0;
  bool cached = false;
};

// What a run may change of a selected layer: its parameters, and the beta of the BatchNorm2d
// it is measured through.
std::size_t backup_floats(const Model& model, std::int32_t layer) {
  const std::int32_t measured = lsuv_measured_op(model, layer);
  const std::size_t beta = measured != layer ? model.layer(measured).bias_count : 0;
  return model.layer(layer).weight_count + model.layer(layer).bias_count + beta;
}

std::size_t parameter_floats(const Model& model, const LsuvOptions& options) {
  std::size_t total = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (selected(model, options, i)) total += backup_floats(model, i);
  return total;
}

Status carve(const Model& model, const BatchSource& source, const LsuvOptions& options,
             bool with_cache, Arena& arena, Workspace* ws) {
  std::int32_t max_channels = 1;
  std::size_t add_channels = 0;
  std::size_t slot = resume_floats(model, 0, source.max_batch_size());
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    if (is_add(model, i)) add_channels += static_cast<std::size_t>(layer.output.channels);
    if (!selected(model, options, i)) continue;
    if (layer.output.channels > max_channels) max_channels = layer.output.channels;
    const std::size_t at = resume_floats(model, i, source.max_batch_size());
    if (at > slot) slot = at;
  }
  ws->batches = source.batch_count();
  ws->cached = with_cache;
  ws->backup = arena.allocate<float>(parameter_floats(model, options));
  // Recomputing reads one source batch at a time; the cache reads batches into its own slots.
  if (!with_cache || add_channels > 0)
    ws->batch = arena.allocate<float>(static_cast<std::size_t>(source.max_batch_size()) *
                                      model.input_shape().elements());
  ws->counts = arena.allocate<std::int32_t>(static_cast<std::size_t>(ws->batches));
  ws->channel_stats = arena.allocate<RunningStats>(static_cast<std::size_t>(max_channels));
  if (add_channels > 0) {
    ws->add_stats = arena.allocate<RunningStats>(add_channels);
    ws->add_done = arena.allocate<unsigned char>(static_cast<std::size_t>(model.layer_count()));
  }
  ws->scale = arena.allocate<double>(static_cast<std::size_t>(max_channels));
  ws->shift = arena.allocate<double>(static_cast<std::size_t>(max_channels));
  if (with_cache) {
    std::size_t all = 0;
    if (!detail::checked_multiply(slot, static_cast<std::size_t>(ws->batches), &all))
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
  float* slot(std::int32_t buffer, std::int32_t b) const {
    return ws_.cache[buffer] + static_cast<std::size_t>(b) * ws_.slot_floats;
  }
  // Copies what a pass resuming at `step` needs between the model's tensors and a cache slot:
  // save stores batch b's tensors (and its network input from *input) into the slot; restore
  // puts them back and points *input at the slot's copy of the network input.
  void save(std::int32_t step, std::int32_t b, const float* input, float* to) const;
  void restore(std::int32_t step, std::int32_t b, const float* from, const float** input);
  Status advance_cache(std::int32_t to);
  // Makes the model ready to run `layer` on batch b: *input is the batch's network input.
  Status prepare(std::int32_t layer, std::int32_t b, const float** input);
  Status pass(std::int32_t layer, std::int32_t next, RunningStats* tensor_stats);
  Status normalise(std::int32_t layer, std::int32_t next, LsuvLayerReport* entry);
  Status measure_adds();
  // run(from, to) for batch b, measuring on the way every Add there not measured yet; call
  // mark_adds(from, to) once every batch has run. An Add passed on the way to a later layer
  // already has its final value: every layer before it is normalised or not selected.
  // Runs ops [from, to) over batch b, measuring the Adds not measured yet on the way, and op
  // `from` into first_stats when given (op `from` is then not an Add).
  Status run_measuring_adds(std::int32_t from, std::int32_t to, const float* input, std::int32_t b,
                            RunningStats* first_stats = nullptr);
  void mark_adds(std::int32_t from, std::int32_t to);
  RunningStats* add_stats_of(std::int32_t add) const;
  detail::LsuvLayerStats layer_stats(std::int32_t layer, RunningStats* tensor) const {
    return {tensor, ws_.channel_stats, model_.layer(layer).output.channels};
  }
  Status rescale(std::int32_t layer, const RunningStats& tensor_stats);
  bool shift_batch_norm(std::int32_t layer, std::int32_t batch_norm);
  // Saves (save = true) or restores the parameters of layer `only`, or of all selected layers
  // when only < 0, to or from ws_.backup.
  void copy_parameters(std::int32_t only, bool save);
  LsuvLayerReport* entry_of(std::int32_t layer);

  Model& model_;
  BatchSource& source_;
  const LsuvOptions& options_;
  Workspace& ws_;
  Arena& scratch_;
  LsuvReport& report_;
  LsuvLayerReport scratch_entry_;  // where a report without entries writes
  std::int32_t cache_at_ = 0;      // op at which the cache resumes
  std::int32_t current_ = 0;       // which cache buffer holds it
};

Status LsuvRun::read_batch(std::int32_t b, float* images) {
  std::int32_t count = 0;
  LSUV_TRY(source_.read(b, images, &count));
  if (count < 1 || count > source_.max_batch_size()) return Status::invalid_argument;
  ws_.counts[b] = count;
  return Status::ok;
}

void LsuvRun::save(std::int32_t step, std::int32_t b, const float* input, float* to) const {
  const std::int32_t count = ws_.counts[b];
  if (model_.read_from(-1, step)) {
    const std::size_t n = model_.input_shape().elements() * static_cast<std::size_t>(count);
    if (input != to) std::memcpy(to, input, n * sizeof(float));
    to += n;
  }
  for (std::int32_t j = 0; j < step; ++j) {
    if (!model_.read_from(j, step)) continue;
    const TensorView t = model_.tensor(j, count);
    std::memcpy(to, t.data, t.elements() * sizeof(float));
    to += t.elements();
  }
}

void LsuvRun::restore(std::int32_t step, std::int32_t b, const float* from, const float** input) {
  const std::int32_t count = ws_.counts[b];
  *input = from;
  if (model_.read_from(-1, step))
    from += model_.input_shape().elements() * static_cast<std::size_t>(count);
  for (std::int32_t j = 0; j < step; ++j) {
    if (!model_.read_from(j, step)) continue;
    const TensorView t = model_.tensor(j, count);
    std::memcpy(t.data, from, t.elements() * sizeof(float));
    from += t.elements();
  }
}

Status LsuvRun::fill_cache() {
  // Resuming at op 0 needs the network input only.
  for (std::int32_t b = 0; b < ws_.batches; ++b) LSUV_TRY(read_batch(b, slot(current_, b)));
  cache_at_ = 0;
  return Status::ok;
}

// Moves the cache from resuming at op cache_at_ to resuming at op `to`.
Status LsuvRun::advance_cache(std::int32_t to) {
  if (cache_at_ == to) return Status::ok;
  for (std::int32_t b = 0; b < ws_.batches; ++b) {
    const float* input = nullptr;
    restore(cache_at_, b, slot(current_, b), &input);
    LSUV_TRY(run_measuring_adds(cache_at_, to, input, b));
    save(to, b, input, slot(1 - current_, b));
  }
  mark_adds(cache_at_, to);
  current_ = 1 - current_;
  cache_at_ = to;
  return Status::ok;
}

Status LsuvRun::prepare(std::int32_t layer, std::int32_t b, const float** input) {
  if (ws_.cached) {
    restore(layer, b, slot(current_, b), input);
    return Status::ok;
  }
  LSUV_TRY(read_batch(b, ws_.batch));
  *input = ws_.batch;
  return model_.run(0, layer, ws_.batch, ws_.counts[b]);
}

// Runs `layer` over every calibration batch and accumulates its output's statistics per channel
// (ws_.channel_stats) and per tensor. With the cache and next > layer, also carries every batch
// on to where a pass of op `next` resumes.
Status LsuvRun::pass(std::int32_t layer, std::int32_t next, RunningStats* tensor_stats) {
  const std::int32_t channels = model_.layer(layer).output.channels;
  for (std::int32_t c = 0; c < channels; ++c) ws_.channel_stats[c].reset();
  const bool carry = ws_.cached && next > layer;
  for (std::int32_t b = 0; b < ws_.batches; ++b) {
    const float* input = nullptr;
    LSUV_TRY(prepare(layer, b, &input));
    // The statistics are accumulated while the measured op stores its output (Model::run),
    // before a clamp after it, which a carrying pass fuses into it by running on in one call.
    const std::int32_t measured = lsuv_measured_op(model_, layer);
    if (measured > layer) LSUV_TRY(model_.run(layer, measured, input, ws_.counts[b]));
    if (carry) {
      LSUV_TRY(run_measuring_adds(measured, next, input, b, ws_.channel_stats));
      save(next, b, input, slot(1 - current_, b));
    } else {
      LSUV_TRY(model_.run(measured, measured + 1, input, ws_.counts[b], ws_.channel_stats));
    }
  }
  if (carry) {
    mark_adds(lsuv_measured_op(model_, layer) + 1, next);
    current_ = 1 - current_;
    cache_at_ = next;
  }
  tensor_stats->reset();
  for (std::int32_t c = 0; c < channels; ++c) tensor_stats->merge(ws_.channel_stats[c]);
  return Status::ok;
}

RunningStats* LsuvRun::add_stats_of(std::int32_t add) const {
  RunningStats* stats = ws_.add_stats;
  for (std::int32_t i = 0; i < add; ++i)
    if (is_add(model_, i)) stats += model_.layer(i).output.channels;
  return stats;
}

Status LsuvRun::run_measuring_adds(std::int32_t from, std::int32_t to, const float* input,
                                   std::int32_t b, RunningStats* first_stats) {
  std::int32_t start = from;
  if (ws_.add_stats != nullptr) {
    for (std::int32_t a = from; a < to; ++a) {
      if (!is_add(model_, a) || ws_.add_done[a] != 0) continue;
      LSUV_TRY(model_.run(start, a, input, ws_.counts[b], start == from ? first_stats : nullptr));
      LSUV_TRY(model_.run(a, a + 1, input, ws_.counts[b], add_stats_of(a)));
      start = a + 1;
    }
  }
  return model_.run(start, to, input, ws_.counts[b], start == from ? first_stats : nullptr);
}

void LsuvRun::mark_adds(std::int32_t from, std::int32_t to) {
  if (ws_.add_stats == nullptr) return;
  for (std::int32_t a = from; a < to; ++a)
    if (is_add(model_, a)) ws_.add_done[a] = 1;
}

// The statistics of every Add's output with the final parameters: those not measured on the
// way (all of them when recomputing) in one more forward pass over the calibration data.
Status LsuvRun::measure_adds() {
  if (ws_.add_stats == nullptr) return Status::ok;
  const std::int32_t n = model_.layer_count();
  bool all_done = true;
  for (std::int32_t i = 0; i < n; ++i)
    all_done = all_done && (!is_add(model_, i) || ws_.add_done[i]);
  for (std::int32_t b = 0; b < ws_.batches && !all_done; ++b) {
    LSUV_TRY(read_batch(b, ws_.batch));
    LSUV_TRY(run_measuring_adds(0, n, ws_.batch, b));
  }
  const RunningStats* stats = ws_.add_stats;
  for (std::int32_t i = 0; i < n; ++i) {
    if (!is_add(model_, i)) continue;
    RunningStats tensor;
    const std::int32_t channels = model_.layer(i).output.channels;
    for (std::int32_t c = 0; c < channels; ++c) tensor.merge(stats[c]);
    LsuvLayerReport* entry = entry_of(i);
    detail::lsuv_report_after({&tensor, stats, channels}, entry);
    entry->status = LsuvLayerStatus::measured;
    stats += channels;
  }
  return Status::ok;
}

// Rescales the layer's parameters from the statistics the last pass left (see the header for
// the two variants). Constant channels (per-channel mode) keep their parameters.
Status LsuvRun::rescale(std::int32_t index, const RunningStats& tensor_stats) {
  const Layer& layer = model_.layer(index);
  const std::int32_t outs = layer.output.channels;
  RunningStats tensor = tensor_stats;
  detail::lsuv_rescale_factors(options_, layer_stats(index, &tensor), ws_.scale, ws_.shift);
  bool finite = true;
  const std::size_t rows = layer.weight_count / static_cast<std::size_t>(outs);
  for (std::size_t r = 0; r < rows; ++r) {
    float* row = layer.weights + r * static_cast<std::size_t>(outs);
    for (std::int32_t o = 0; o < outs; ++o) {
      row[o] = static_cast<float>(row[o] * ws_.scale[o]);
      finite = finite && std::isfinite(row[o]);
    }
  }
  const std::int32_t measured = lsuv_measured_op(model_, index);
  if (measured != index) {
    if (options_.variant == LsuvVariant::seed) finite = finite && shift_batch_norm(index, measured);
    return finite ? Status::ok : Status::non_finite;
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

// The seed variant for a layer measured through the BatchNorm2d after it: the layer's weights
// are already scaled by s; scaling its bias too gives y' = s (y - c) + c, where c is the
// BatchNorm's output for a zero input to it; beta then moves so that y'' = s (y - mean) +
// target_mean. A conv without bias is centred this way too.
bool LsuvRun::shift_batch_norm(std::int32_t index, std::int32_t batch_norm) {
  const Layer& layer = model_.layer(index);
  const Layer& bn = model_.layer(batch_norm);
  bool finite = true;
  for (std::int32_t o = 0; o < layer.output.channels; ++o) {
    const double s = ws_.scale[o];
    if (s == 1.0 && ws_.shift[o] == 0.0) continue;  // a constant channel
    if (layer.bias != nullptr) layer.bias[o] = static_cast<float>(layer.bias[o] * s);
    const double a =
        bn.weights[o] / std::sqrt(static_cast<double>(bn.running_var[o]) + bn.spec.eps);
    const double c = bn.bias[o] - bn.running_mean[o] * a;
    bn.bias[o] =
        static_cast<float>(bn.bias[o] + options_.target_mean - s * ws_.shift[o] + (s - 1.0) * c);
    finite = finite && std::isfinite(bn.bias[o]) &&
             (layer.bias == nullptr || std::isfinite(layer.bias[o]));
  }
  return finite;
}

void LsuvRun::copy_parameters(std::int32_t only, bool save) {
  float* cursor = ws_.backup;
  for (std::int32_t i = 0; i < model_.layer_count(); ++i) {
    if (!selected(model_, options_, i)) continue;
    const Layer& layer = model_.layer(i);
    if (only < 0 || only == i) {
      float* weights_copy = cursor;
      float* bias_copy = cursor + layer.weight_count;
      const Layer& bn = model_.layer(lsuv_measured_op(model_, i));
      const bool unit = &bn != &layer;
      float* beta_copy = bias_copy + layer.bias_count;
      if (save) {
        std::memcpy(weights_copy, layer.weights, layer.weight_count * sizeof(float));
        if (layer.bias_count > 0)
          std::memcpy(bias_copy, layer.bias, layer.bias_count * sizeof(float));
        if (unit) std::memcpy(beta_copy, bn.bias, bn.bias_count * sizeof(float));
      } else {
        std::memcpy(layer.weights, weights_copy, layer.weight_count * sizeof(float));
        if (layer.bias_count > 0)
          std::memcpy(layer.bias, bias_copy, layer.bias_count * sizeof(float));
        if (unit) std::memcpy(bn.bias, beta_copy, bn.bias_count * sizeof(float));
      }
    }
    cursor += backup_floats(model_, i);
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
  // The last pass also carries the cache on to the next layer.
  return detail::lsuv_normalise_layer(
      options_, layer_stats(index, &stats),
      [&](bool last, RunningStats* tensor) { return pass(index, last ? next : -1, tensor); },
      [&](const RunningStats& tensor) { return rescale(index, tensor); }, entry);
}

LsuvLayerReport* LsuvRun::entry_of(std::int32_t layer) {
  return detail::lsuv_entry_of(report_, layer, &scratch_entry_);
}

Status LsuvRun::run() {
  report_.batches = ws_.batches;
  report_.cached_inputs = ws_.cached;
  if (report_.capacity > 0) {
    for (std::int32_t i = 0; i < model_.layer_count(); ++i) {
      if (!reported(model_, options_, i)) continue;
      report_.layers[report_.count] = LsuvLayerReport();
      report_.layers[report_.count++].layer_index = i;
    }
  }
  // The arena's memory is uninitialised (and may hold an earlier run's statistics).
  if (ws_.add_done != nullptr) {
    std::memset(ws_.add_done, 0, static_cast<std::size_t>(model_.layer_count()));
    RunningStats* end = add_stats_of(model_.layer_count());
    for (RunningStats* s = ws_.add_stats; s != end; ++s) *s = RunningStats();
  }
  copy_parameters(-1, /*save=*/true);
  Status status = ws_.cached ? fill_cache() : Status::ok;
  for (std::int32_t i = 0; status == Status::ok && i < model_.layer_count(); ++i) {
    if (!selected(model_, options_, i)) continue;
    std::int32_t next = -1;
    for (std::int32_t j = i + 1; j < model_.layer_count() && next < 0; ++j)
      if (selected(model_, options_, j)) next = j;
    LsuvLayerReport& entry = *entry_of(i);
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
  if (status == Status::ok) status = measure_adds();
  if (status != Status::ok) {
    copy_parameters(-1, /*save=*/false);
    return status;
  }
  for (std::int32_t b = 0; b < ws_.batches; ++b) report_.images += ws_.counts[b];
  return Status::ok;
}

Status validate(const Model& model, const BatchSource& source, const LsuvOptions& options) {
  if (!model.bound()) return Status::not_bound;
  if (!detail::lsuv_options_valid(options)) return Status::invalid_argument;
  if (lsuv_report_size(model, options) < 0) return Status::invalid_argument;
  if (source.batch_count() < 1 || source.max_batch_size() < 1) return Status::invalid_argument;
  if (source.image_shape() != model.input_shape()) return Status::shape_mismatch;
  if (source.max_batch_size() > model.max_batch()) return Status::shape_mismatch;
  return Status::ok;
}

}  // namespace

std::int32_t lsuv_measured_op(const Model& model, std::int32_t layer) {
  const std::int32_t next = layer + 1;
  if (next < model.layer_count() && model.layer(next).spec.kind == LayerKind::batch_norm2d &&
      model.layer(next).inputs[0] == layer && model.layer(next).in_place)
    return next;
  return layer;
}

std::int32_t lsuv_measured_layer(const Model& model, std::int32_t op) {
  if (op < 0 || op >= model.layer_count()) return -1;
  const std::int32_t layer =
      model.layer(op).spec.kind == LayerKind::batch_norm2d ? model.layer(op).inputs[0] : op;
  return layer >= 0 && has_parameters(model.layer(layer).spec.kind) &&
                 lsuv_measured_op(model, layer) == op
             ? layer
             : -1;
}

std::int32_t lsuv_report_size(const Model& model, const LsuvOptions& options) {
  if (!detail::lsuv_selection_valid(model, options)) return -1;
  std::int32_t entries = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i)
    if (reported(model, options, i)) ++entries;
  return entries;
}

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
  LsuvReport* out = nullptr;
  LSUV_TRY(detail::lsuv_start_report(validate(model, source, options), report, &local,
                                     lsuv_report_size(model, options), scratch, &out));
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
  if (status == Status::ok) status = LsuvRun(model, source, options, ws, scratch, *out).run();
  scratch.rewind(start);
  return status;
}

}  // namespace lsuv
