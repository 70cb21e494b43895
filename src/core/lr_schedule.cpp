#include "lsuv/lr_schedule.hpp"

#include <cassert>
#include <cmath>
#include <cstring>
#include <initializer_list>

namespace lsuv {

namespace {
constexpr double kPi = 3.14159265358979323846;

bool positive_finite(float x) {
  return std::isfinite(x) && x > 0.0f;
}
}  // namespace

const char* lr_schedule_name(LrScheduleKind kind) {
  switch (kind) {
    case LrScheduleKind::constant:
      return "constant";
    case LrScheduleKind::step:
      return "step";
    case LrScheduleKind::cosine:
      return "cosine";
  }
  return "unknown_schedule";
}

bool lr_schedule_from_name(const char* name, LrScheduleKind* kind) {
  for (LrScheduleKind k : {LrScheduleKind::constant, LrScheduleKind::step, LrScheduleKind::cosine})
    if (name != nullptr && std::strcmp(name, lr_schedule_name(k)) == 0) {
      *kind = k;
      return true;
    }
  return false;
}

Status lr_schedule_check(const LrSchedule& s) {
  if (!positive_finite(s.base) || s.warmup_steps < 0) return Status::invalid_argument;
  switch (s.kind) {
    case LrScheduleKind::constant:
      return Status::ok;
    case LrScheduleKind::step:
      return s.step_size > 0 && positive_finite(s.gamma) ? Status::ok : Status::invalid_argument;
    case LrScheduleKind::cosine:
      return s.total_steps > s.warmup_steps && std::isfinite(s.min) && s.min >= 0.0f &&
                     s.min <= s.base
                 ? Status::ok
                 : Status::invalid_argument;
  }
  return Status::invalid_argument;
}

float learning_rate_at(const LrSchedule& s, std::int64_t step) {
  assert(lr_schedule_check(s) == Status::ok && step >= 0);
  const double base = s.base;
  if (step < s.warmup_steps)
    return static_cast<float>(base * static_cast<double>(step + 1) /
                              static_cast<double>(s.warmup_steps));
  const std::int64_t t = step - s.warmup_steps;
  switch (s.kind) {
    case LrScheduleKind::constant:
      break;
    case LrScheduleKind::step:
      return static_cast<float>(
          base * std::pow(static_cast<double>(s.gamma), static_cast<double>(t / s.step_size)));
    case LrScheduleKind::cosine: {
      const std::int64_t period = s.total_steps - s.warmup_steps;
      if (t >= period) return s.min;
      const double progress = static_cast<double>(t) / static_cast<double>(period);
      return static_cast<float>(s.min + (base - s.min) * 0.5 * (1.0 + std::cos(kPi * progress)));
    }
  }
  return s.base;
}

}  // namespace lsuv
