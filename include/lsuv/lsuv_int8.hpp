// LSUV in fixed point: lsuv_initialize (lsuv/lsuv_initialize.hpp) run on a QuantizedModel.
//
//   std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(q, calibration, options));
//   lsuv::Arena arena(scratch.data(), scratch.size());
//   LSUV_TRY(lsuv::lsuv_initialize(q, calibration, options, arena, &report));
//
// For each selected conv2d / linear op, first to last, the statistics are those of its int32
// accumulators (bias included, before requantisation) dequantised, acc * input_scale *
// weight_scale[o], streamed over every calibration batch (the kernels' accumulator moments,
// kernels/i8_params.hpp). The rescale of the float LSUV (same variants, targets, tolerance,
// iteration rule, per-channel mode and zero-variance handling) multiplies the real weights of
// channel o by a factor: that goes into weight_scale[o], its requantising multiplier and shift
// and the int32 bias, never into the int8 weights.
//
// Output ranges follow, so the layers after an op see its rescaled activations at the
// resolution they had: the op's range becomes the old one mapped through the rescale (channel o:
// y' = a_o y + b_o; the union over the channels), cut to a fused clamp's range and widened to
// include 0 as quantize() widens its ranges. An op whose input an earlier rescale has moved
// (selected or not) first gets the range it was quantised with moved to its input as it is now:
// shifted and scaled from the statistics its accumulators had when the call started to those
// they have now (the model's ranges are taken to come from data like the calibration batches,
// as quantize() makes them). Every op reading a moved output (through pooling, flatten and
// clamps, which keep their input's scale) has its bias and multipliers moved to the new input
// scale, its real weights and bias unchanged. A residual add follows the same way: its
// statistics are the real sum of its dequantised inputs (QuantizedModel::forward_add_sum), its
// output range moves from those it had when the call started to those it has now (cut at 0 for
// its own ReLU), and its input rescaling (TFLite's) is recomputed for its inputs' scales and its
// own.
//
// The statistics and every parameter computed from them are the same at every CPU level: the
// int8 kernels are bit-exact to the reference, their accumulator moments included. Layer inputs
// are not cached: each pass recomputes the prefix from the source, in constant memory (one pass
// over the network at the start, then two per layer for the seed variant), so
// LsuvCache::always is unsupported. So is the orthonormal pre-init (it would rewrite the int8
// weights). Nothing here allocates from the heap.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/arena.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/quantized_model.hpp"
#include "lsuv/running_stats.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

// Entries a run reports: the selected conv2d / linear ops and every add (the sum of its inputs
// with the final parameters, status measured, as the float LSUV reports it). -1 when the
// options select an op that is not a conv2d or linear one, or one out of range.
std::int32_t lsuv_report_size(const QuantizedModel& model, const LsuvOptions& options);

// Exact scratch bytes lsuv_initialize takes (for a buffer aligned to Arena::kAlignment); 0 on
// invalid arguments.
std::size_t lsuv_scratch_bytes(const QuantizedModel& model, const BatchSource& source,
                               const LsuvOptions& options);

// Runs LSUV on a bound, quantised model. The report as for the float model (its cached_inputs is
// false). Errors: not_bound, invalid_argument (as the float LSUV), unsupported (see above:
// orthonormal_preinit, LsuvCache::always), shape_mismatch, arena_too_small,
// zero_variance / non_finite (a layer that cannot be normalised, unless
// skip_unnormalisable_layers), bad_format (the result would break the kernels' contract:
// QuantizedModel::check_parameters, checked before returning), any status the source returns.
// On every error the model's parameters, scales and codes are as they were before the call.
Status lsuv_initialize(QuantizedModel& model, BatchSource& source, const LsuvOptions& options,
                       Arena& scratch, LsuvReport* report);

// Bytes accumulator_statistics takes from its scratch arena.
std::size_t accumulator_statistics_scratch_bytes(const QuantizedModel& model,
                                                 const BatchSource& source);
// The dequantised accumulator statistics (per tensor) of every conv2d and linear op over every
// batch of `source`, and the real sum of every add's inputs: what LSUV measures, the int8
// counterpart of a float layer's pre-activation output. stats has layer_count() entries; those
// of other ops are reset. Errors: not_bound, invalid_argument (null stats, a source without
// batches), shape_mismatch, arena_too_small, and any status the source returns.
Status accumulator_statistics(QuantizedModel& model, BatchSource& source, Arena& scratch,
                              RunningStats* stats);

}  // namespace lsuv
