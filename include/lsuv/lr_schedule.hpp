// Learning-rate schedules, counted in optimiser steps (batches): constant, step decay or cosine
// decay, each optionally after a linear warm-up. A pure function of the step number, so a run
// resumed at step s continues with exactly the rate an uninterrupted run would use.
//
//   lsuv::LrSchedule schedule;
//   schedule.kind = lsuv::LrScheduleKind::cosine;
//   schedule.base = 0.05f;
//   schedule.warmup_steps = 100;
//   schedule.total_steps = 938;  // one epoch of Fashion-MNIST at batch 64
//   LSUV_TRY(lsuv::lr_schedule_check(schedule));
//   float lr = lsuv::learning_rate_at(schedule, step);
#pragma once

#include <cstdint>

#include "lsuv/status.hpp"

namespace lsuv {

enum class LrScheduleKind : std::uint8_t {
  constant,  // base
  step,      // base * gamma^floor(t / step_size)          (torch.optim.lr_scheduler.StepLR)
  cosine,    // min + (base - min) (1 + cos(pi t / T)) / 2  (CosineAnnealingLR), min after T
};

// The step s = 0, 1, ... of a run. Warm-up: for s < warmup_steps the rate rises linearly,
// base * (s + 1) / warmup_steps, reaching base on the last warm-up step (never 0: no step is
// wasted). After it the kind's formula runs on t = s - warmup_steps, and cosine's
// T = total_steps - warmup_steps (total_steps counts the warm-up).
struct LrSchedule {
  LrScheduleKind kind = LrScheduleKind::constant;
  float base = 0.01f;             // > 0, finite
  std::int64_t warmup_steps = 0;  // >= 0
  std::int64_t step_size = 1;     // step: > 0
  float gamma = 0.1f;             // step: > 0, finite
  std::int64_t total_steps = 1;   // cosine: > warmup_steps
  float min = 0.0f;               // cosine: in [0, base]
};

// "constant", "step", "cosine"; never null ("unknown_schedule" outside the enum).
const char* lr_schedule_name(LrScheduleKind kind);
// The kind called `name` (as lr_schedule_name() spells it); false when there is none.
bool lr_schedule_from_name(const char* name, LrScheduleKind* kind);

// invalid_argument when a field the kind uses is outside its range, or the kind is outside the
// enum.
Status lr_schedule_check(const LrSchedule& schedule);

// The learning rate of step `step` (>= 0) of a schedule lr_schedule_check() accepts, evaluated
// in double and rounded once to float.
float learning_rate_at(const LrSchedule& schedule, std::int64_t step);

}  // namespace lsuv
