// Training checkpoints: what a run needs to continue bit-identically after a stop or a crash:
// every parameter, the optimiser's velocities, the step, the schedule's position and the state
// of the generator that orders the data.
//
//   lsuv::TrainingState state;
//   state.step = step;
//   state.schedule_step = step;
//   state.order_state = rng.state();  state.order_increment = rng.increment();
//   state.run_fingerprint = digest_of_the_options_a_resume_must_repeat;
//   LSUV_TRY(lsuv::save_checkpoint("run.ckpt", model, trainer, state, &error));
//   ...
//   LSUV_TRY(lsuv::load_checkpoint("run.ckpt", model, trainer, state.run_fingerprint, &state,
//                                  &error));
//
// The file (version 1), every number little-endian:
//   "LSUVCKPT"                       8 bytes
//   u32 version                      1
//   u32 model signature              CRC-32 of each op's kind, name, shapes, parameter counts
//                                    and which of its tensors carry a velocity
//   u32 run fingerprint              the caller's (TrainingState::run_fingerprint)
//   u32 reserved                     0
//   i64 step, i64 schedule step
//   u64 order state, u64 order increment
//   u64 P, u64 V                     parameter and velocity counts
//   P x f32                          Model::copy_parameters_to's order
//   V x f32                          each op's weight velocity, then its bias velocity
//   u32 CRC-32                       (IEEE, as zlib's crc32) of every byte before it
// A checkpoint is written atomically (a temporary file, flushed, renamed over the target): a
// kill at any point leaves the previous checkpoint or the new one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/io/file_error.hpp"
#include "lsuv/model.hpp"
#include "lsuv/status.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv {

inline constexpr std::uint32_t kCheckpointVersion = 1;

// Where a run is, besides its parameters and velocities.
struct TrainingState {
  std::int64_t step = 0;           // optimiser steps taken (>= 0)
  std::int64_t schedule_step = 0;  // learning_rate_at's step for the next update (>= 0)
  // The data-order generator (a PCG32's state and odd increment) as the next step needs it.
  std::uint64_t order_state = 0;
  std::uint64_t order_increment = 1;
  // A digest of the options a resumed run must repeat to continue the same run (batch size,
  // data, schedule, optimiser); load_checkpoint refuses a file with another.
  std::uint32_t run_fingerprint = 0;
};

// Bytes of a checkpoint of this model and trainer.
std::size_t checkpoint_bytes(const Model& model, const Trainer& trainer);

// Writes the checkpoint of a bound model and trainer to `path` atomically. Errors: not_bound,
// invalid_argument (null or empty path, a negative step, an even order increment),
// file_not_found (the directory does not exist), io_error; *error names the file and says why.
Status save_checkpoint(const char* path, const Model& model, const Trainer& trainer,
                       const TrainingState& state, FileError* error = nullptr);

// Reads a checkpoint written for this model and trainer and, only when every check passes,
// puts its parameters into the model, its velocities into the trainer and its state into
// *state; on any error nothing changes. Errors: not_bound, invalid_argument (null arguments, a
// file from a run with another fingerprint than `run_fingerprint`), file_not_found, io_error,
// bad_format (not a checkpoint, a CRC that does not match: the file is damaged, bytes after the
// end), unsupported (another version), truncated, shape_mismatch (written for another model or
// another selection of what trains), non_finite (NaN or Inf in a value); *error says which.
Status load_checkpoint(const char* path, Model& model, Trainer& trainer,
                       std::uint32_t run_fingerprint, TrainingState* state,
                       FileError* error = nullptr);

// CRC-32 (IEEE 802.3, reflected, as zlib's crc32): continue a running value by passing it as
// `crc` (0 to start).
std::uint32_t crc32(const void* data, std::size_t bytes, std::uint32_t crc = 0);

}  // namespace lsuv
