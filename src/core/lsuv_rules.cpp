#include "core/lsuv_rules.hpp"

#include <cmath>

namespace lsuv::detail {
namespace {

// A spread this small against the values' magnitude is float rounding, not signal.
bool negligible(double spread, double mean, double variance) {
  return !(spread >= 1e-12) || spread <= 1e-6 * std::sqrt(mean * mean + variance);
}

}  // namespace

bool lsuv_options_valid(const LsuvOptions& o) {
  if (o.variant != LsuvVariant::seed && o.variant != LsuvVariant::paper) return false;
  if (o.cache != LsuvCache::automatic && o.cache != LsuvCache::always &&
      o.cache != LsuvCache::never)
    return false;
  if (o.layers != nullptr && o.layer_count < 0) return false;
  return std::isfinite(o.target_mean) && std::isfinite(o.target_std) && o.target_std > 0.0 &&
         std::isfinite(o.tolerance) && o.tolerance > 0.0 && o.max_iterations >= 1 &&
         o.max_iterations <= 1000;
}

Status lsuv_start_report(Status valid, LsuvReport* report, LsuvReport* local, std::int32_t entries,
                         const Arena& scratch, LsuvReport** out) {
  LsuvReport& r = report != nullptr ? *report : *local;
  r.count = 0;
  r.batches = 0;
  r.images = 0;
  r.cached_inputs = false;
  *out = &r;
  LSUV_TRY(valid);
  if (r.capacity > 0 && (r.layers == nullptr || r.capacity < entries))
    return Status::invalid_argument;
  return scratch.measuring() ? Status::invalid_argument : Status::ok;
}

LsuvLayerReport* lsuv_entry_of(LsuvReport& report, std::int32_t op, LsuvLayerReport* spare) {
  for (std::int32_t k = 0; k < report.count; ++k)
    if (report.layers[k].layer_index == op) return &report.layers[k];
  *spare = LsuvLayerReport();
  return spare;
}

bool lsuv_is_constant(const RunningStats& s) {
  return negligible(s.stddev(), s.mean(), s.sample_variance());
}

LsuvLayerStatus lsuv_check(const LsuvLayerStats& stats) {
  const RunningStats& tensor = *stats.tensor;
  if (!std::isfinite(tensor.mean()) || !std::isfinite(tensor.m2()))
    return LsuvLayerStatus::non_finite;
  double within = 0.0;
  for (std::int32_t c = 0; c < stats.channel_count; ++c) within += stats.channels[c].m2();
  const double n = static_cast<double>(tensor.count());
  const double within_std = n > 1 ? std::sqrt(within / (n - 1)) : 0.0;
  if (negligible(within_std, tensor.mean(), tensor.sample_variance()))
    return LsuvLayerStatus::zero_variance;
  return LsuvLayerStatus::converged;
}

bool lsuv_on_target(const LsuvOptions& options, const LsuvLayerStats& stats) {
  const double target = options.target_std * options.target_std;
  if (!options.per_channel)
    return std::fabs(stats.tensor->sample_variance() - target) < options.tolerance;
  for (std::int32_t c = 0; c < stats.channel_count; ++c) {
    const RunningStats& s = stats.channels[c];
    if (lsuv_is_constant(s)) continue;
    if (!(std::fabs(s.sample_variance() - target) < options.tolerance)) return false;
  }
  return true;
}

void lsuv_rescale_factors(const LsuvOptions& options, const LsuvLayerStats& stats, double* scale,
                          double* shift) {
  for (std::int32_t o = 0; o < stats.channel_count; ++o) {
    const RunningStats& s = options.per_channel ? stats.channels[o] : *stats.tensor;
    if (lsuv_is_constant(s)) {
      scale[o] = 1.0;
      shift[o] = 0.0;
      continue;
    }
    scale[o] = options.target_std / s.stddev();
    shift[o] = options.variant == LsuvVariant::seed ? s.mean() : 0.0;
  }
}

void lsuv_report_after(const LsuvLayerStats& stats, LsuvLayerReport* entry) {
  entry->mean_after = stats.tensor->mean();
  entry->std_after = stats.tensor->stddev();
  bool any = false;
  for (std::int32_t c = 0; c < stats.channel_count; ++c) {
    if (lsuv_is_constant(stats.channels[c])) continue;
    const double std = stats.channels[c].stddev();
    if (!any || std < entry->channel_std_min_after) entry->channel_std_min_after = std;
    if (!any || std > entry->channel_std_max_after) entry->channel_std_max_after = std;
    any = true;
  }
}

}  // namespace lsuv::detail
