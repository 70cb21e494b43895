// LSUV: layer-sequential unit-variance initialisation (Mishkin & Matas, "All you need is a good
// init", 2015), run on the device over any number of calibration batches.
//
// For each conv2d / linear layer, first to last, with every earlier layer already fixed:
//   1. optionally re-initialise it orthonormally (the paper's step I);
//   2. stream the calibration batches through the network up to and including this layer and
//      accumulate the statistics of its pre-activation output (RunningStats: exact in double);
//   3. rescale it:
//      - LsuvVariant::seed (the blog post that started this project, done exactly):
//        W *= target_std / std; b = (b - mean) * target_std / std + target_mean,
//        which gives the target mean and std on the calibration data in one step;
//      - LsuvVariant::paper: W /= sqrt(var / target_std^2), repeated until
//        |var - target_std^2| < tolerance or max_iterations rescales were made; the mean is not
//        touched.
// With earlier layers fixed, a layer's input does not change while it is rescaled, so what it
// depends on is cached in the scratch arena when it is large enough: for each calibration batch,
// every tensor alive at the layer (in a residual network, the skip connections too). The whole
// run then costs about two forward passes over the calibration data. Otherwise each layer's
// input is recomputed from the source (any number of batches, up to a whole data set, in
// constant memory). Every residual Add's sum (before its own ReLU, like the conv and linear
// outputs) is measured after the run and reported.
//
// A layer whose output has zero variance (dead ReLUs, constant input) or non-finite statistics
// cannot be normalised. By default the call then restores every weight it changed and returns
// Status::zero_variance or Status::non_finite; with skip_unnormalisable_layers the layer is left
// untouched and the run goes on. Either way the report says which layer and why, and no NaN ever
// reaches a weight. Nothing here allocates from the heap.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/arena.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/model.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

enum class LsuvVariant : std::uint8_t { seed, paper };
const char* lsuv_variant_name(LsuvVariant variant);

enum class LsuvCache : std::uint8_t {
  automatic,  // cache layer inputs when the scratch arena has room, else recompute
  always,     // cache, or fail with arena_too_small
  never,      // recompute every layer's input from the source (least memory)
};

struct LsuvOptions {
  LsuvVariant variant = LsuvVariant::seed;
  double target_mean = 0.0;  // seed variant only
  double target_std = 1.0;
  double tolerance = 0.02;           // paper variant: on |var - target_std^2| (paper: 0.02-0.1)
  std::int32_t max_iterations = 10;  // paper variant: rescales per layer
  bool orthonormal_preinit = false;  // paper step I (uses `seed`)
  std::uint64_t seed = 0;
  // Normalise each output channel on its own statistics instead of the whole tensor's.
  bool per_channel = false;
  // Leave layers that cannot be normalised untouched and carry on (see above).
  bool skip_unnormalisable_layers = false;
  // The ops to normalise, by index (each a conv2d or linear op; Model::find_layer gives the
  // index of a name), in any order; null: every conv2d and linear op. They are normalised in
  // execution order whatever the order here.
  const std::int32_t* layers = nullptr;
  std::int32_t layer_count = 0;
  LsuvCache cache = LsuvCache::automatic;
};

enum class LsuvLayerStatus : std::uint8_t {
  converged,       // reached the target (within tolerance for the paper variant)
  max_iterations,  // paper variant: stopped after max_iterations rescales
  zero_variance,   // output constant on the calibration data: left untouched
  non_finite,      // NaN or Inf in the statistics: left untouched
  not_run,         // not reached (an earlier layer stopped the run)
  measured,        // an Add (a residual join): its output measured after LSUV, not normalised
};
const char* lsuv_layer_status_name(LsuvLayerStatus status);

struct LsuvLayerReport {
  std::int32_t layer_index = -1;
  double mean_before = 0.0, std_before = 0.0;  // pre-activation output, calibration data
  double mean_after = 0.0, std_after = 0.0;    // the whole tensor's
  // The smallest and largest std of one output channel after LSUV (constant channels left
  // out): what per_channel normalisation achieved, channel by channel.
  double channel_std_min_after = 0.0, channel_std_max_after = 0.0;
  std::int32_t iterations = 0;  // rescales applied
  LsuvLayerStatus status = LsuvLayerStatus::not_run;
};

// The report of one run, in the caller's memory: one entry per normalised op and per Add, in
// execution order (lsuv_report_size() entries).
struct LsuvReport {
  LsuvReport() = default;  // no entries: only the totals below are reported
  LsuvReport(LsuvLayerReport* entries, std::int32_t capacity)
      : layers(entries), capacity(entries != nullptr && capacity > 0 ? capacity : 0) {}

  LsuvLayerReport* layers = nullptr;
  std::int32_t capacity = 0;
  std::int32_t count = 0;      // entries filled
  std::int32_t batches = 0;    // calibration batches streamed
  std::int64_t images = 0;     // calibration images
  bool cached_inputs = false;  // whether layer inputs were cached (else recomputed)
};

// The op whose output LSUV measures and normalises for the conv2d / linear op `layer`: the
// BatchNorm2d right after it when that is its only reader (the unit conv + BatchNorm, as in
// ResNets, whose convs have no bias: the seed variant's shift then goes into the BatchNorm's
// beta), else the layer itself.
std::int32_t lsuv_measured_op(const Model& model, std::int32_t layer);
// The other way round: the conv2d / linear op whose LSUV statistics op `op`'s output is (op
// itself, or the layer a BatchNorm2d follows), or -1 when it is none's.
std::int32_t lsuv_measured_layer(const Model& model, std::int32_t op);

// Entries a run with these options reports: the selected conv2d / linear ops and every Add.
// -1 when the options select an op that is not a conv2d or linear, or none in range.
std::int32_t lsuv_report_size(const Model& model, const LsuvOptions& options);

// Exact scratch bytes lsuv_initialize takes for this model, source and options (with the input
// cache unless options.cache is never). 0 on invalid arguments. Exact for a scratch buffer
// aligned to Arena::kAlignment: an Arena over a misaligned buffer starts at the next aligned
// byte and so holds up to kAlignment - 1 bytes less. With LsuvCache::automatic, a misaligned
// buffer of exactly this size then runs LSUV without the cache (recomputing layer inputs; the
// report's cached_inputs is false); LsuvCache::always returns arena_too_small instead. Give a
// misaligned buffer kAlignment - 1 bytes more, or align it (alignas(lsuv::Arena::kAlignment)).
std::size_t lsuv_scratch_bytes(const Model& model, const BatchSource& source,
                               const LsuvOptions& options);

// Runs LSUV. `report` may be null, or have no entries (only totals), or room for at least
// lsuv_report_size() entries. Errors: not_bound, invalid_argument (options out of range,
// a variant or cache value outside its enum, a selected op that is not a conv2d or linear one,
// a report with entries but fewer than lsuv_report_size(), a source without batches),
// shape_mismatch (source images differ from the model's input, or its batches exceed
// max_batch()), arena_too_small, zero_variance / non_finite (see above), and any status the
// source returns. On every error the model's parameters are as they were before the call.
Status lsuv_initialize(Model& model, BatchSource& source, const LsuvOptions& options,
                       Arena& scratch, LsuvReport* report);

}  // namespace lsuv
