// The rules LSUV follows whatever it normalises (float weights in lsuv_initialize.cpp, int8
// requantisation in quant/lsuv_int8.cpp): which options are valid, when a layer is constant,
// when it is on target, the per-channel rescale and what the report says after it. Both paths
// share them, so the float and the fixed-point run decide alike on the same statistics.
#pragma once

#include <cstdint>

#include "lsuv/layer.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/running_stats.hpp"

namespace lsuv::detail {

bool lsuv_options_valid(const LsuvOptions& options);

// Whether the options select op `index` of a Model or QuantizedModel: a conv2d or linear op in
// options.layers, or any conv2d or linear op when that is null.
template <class Network>
bool lsuv_selected(const Network& model, const LsuvOptions& options, std::int32_t index) {
  if (!has_parameters(model.layer(index).spec.kind)) return false;
  if (options.layers == nullptr) return true;
  for (std::int32_t k = 0; k < options.layer_count; ++k)
    if (options.layers[k] == index) return true;
  return false;
}

// Whether every op options.layers names is a conv2d or linear op of the model.
template <class Network>
bool lsuv_selection_valid(const Network& model, const LsuvOptions& options) {
  if (options.layers == nullptr) return true;
  if (options.layer_count < 0) return false;
  for (std::int32_t k = 0; k < options.layer_count; ++k) {
    const std::int32_t index = options.layers[k];
    if (index < 0 || index >= model.layer_count() || !has_parameters(model.layer(index).spec.kind))
      return false;
  }
  return true;
}

// The start of a run: *out is its report with the totals reset (*report, or *local when report
// is null). Returns `valid` (the arguments' validation) when that failed, else invalid_argument
// when the report has entries but fewer than `entries` (lsuv_report_size) or the scratch arena
// only measures.
Status lsuv_start_report(Status valid, LsuvReport* report, LsuvReport* local, std::int32_t entries,
                         const Arena& scratch, LsuvReport** out);

// The entry of op `op` in the report, or *spare (reset) when the report has none for it.
LsuvLayerReport* lsuv_entry_of(LsuvReport& report, std::int32_t op, LsuvLayerReport* spare);

// Whether a channel's statistics are float rounding rather than signal (a spread this small
// against the values' magnitude cannot be rescaled to unit variance).
bool lsuv_is_constant(const RunningStats& stats);

// One layer's statistics: the whole tensor's and each of its `channels` output channels'.
struct LsuvLayerStats {
  RunningStats* tensor;
  const RunningStats* channels;
  std::int32_t channel_count;
};

// converged when the layer can be normalised, else zero_variance (every channel constant: the
// weights have no effect on the spread) or non_finite.
LsuvLayerStatus lsuv_check(const LsuvLayerStats& stats);
// Whether the variance is within tolerance of target_std^2: the tensor's, or in per-channel mode
// that of every non-constant channel.
bool lsuv_on_target(const LsuvOptions& options, const LsuvLayerStats& stats);
// Per output channel o: the factor the layer's output is multiplied by (scale[o]) and the mean
// it is centred on first (shift[o]; the seed variant only, else 0). A constant channel in
// per-channel mode gets scale 1 and shift 0: it keeps its parameters.
void lsuv_rescale_factors(const LsuvOptions& options, const LsuvLayerStats& stats, double* scale,
                          double* shift);
// The entry's mean/std after and its channels' smallest and largest std (constant ones left out).
void lsuv_report_after(const LsuvLayerStats& stats, LsuvLayerReport* entry);

// The run over one layer once it is set up (steps 2-3 of lsuv_initialize.hpp, with its
// iteration rule): measure(last, &tensor) runs a pass and fills the layer's statistics (last:
// the pass after the final rescale), rescale(tensor) applies lsuv_rescale_factors (Status
// non_finite when a parameter would not be finite). The entry's status says how it ended; an
// error a pass returns is returned.
template <class Measure, class Rescale>
Status lsuv_normalise_layer(const LsuvOptions& options, const LsuvLayerStats& stats,
                            Measure measure, Rescale rescale, LsuvLayerReport* entry) {
  RunningStats& tensor = *stats.tensor;
  LSUV_TRY(measure(false, &tensor));
  entry->mean_before = tensor.mean();
  entry->std_before = tensor.stddev();
  entry->status = lsuv_check(stats);
  if (entry->status != LsuvLayerStatus::converged) return Status::ok;
  const std::int32_t rescales = options.variant == LsuvVariant::seed ? 1 : options.max_iterations;
  while (entry->iterations < rescales) {
    if (options.variant == LsuvVariant::paper && lsuv_on_target(options, stats)) break;
    if (rescale(tensor) != Status::ok) {
      entry->status = LsuvLayerStatus::non_finite;
      return Status::ok;
    }
    ++entry->iterations;
    // The seed variant is exact in one step; the paper's re-measures after each rescale. The
    // last measurement is the one below.
    if (options.variant == LsuvVariant::paper && entry->iterations < rescales) {
      LSUV_TRY(measure(false, &tensor));
      entry->status = lsuv_check(stats);
      if (entry->status != LsuvLayerStatus::converged) return Status::ok;
    }
  }
  LSUV_TRY(measure(true, &tensor));
  lsuv_report_after(stats, entry);
  entry->status = lsuv_check(stats);
  if (entry->status == LsuvLayerStatus::converged && !lsuv_on_target(options, stats))
    entry->status = LsuvLayerStatus::max_iterations;
  return Status::ok;
}

}  // namespace lsuv::detail
