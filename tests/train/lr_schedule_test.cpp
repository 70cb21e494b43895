// Learning-rate schedules against hand-computed values, warm-up included, and their checks.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "lsuv/lr_schedule.hpp"

namespace {

using lsuv::LrSchedule;
using lsuv::LrScheduleKind;
using lsuv::Status;

TEST_CASE("lr schedule: constant, with and without warm-up") {
  LrSchedule s;
  s.base = 0.05f;
  REQUIRE(lsuv::lr_schedule_check(s) == Status::ok);
  for (std::int64_t step : {0, 1, 1000000}) CHECK(lsuv::learning_rate_at(s, step) == 0.05f);
  s.warmup_steps = 4;  // 1/4, 2/4, 3/4, 4/4 of base, then base
  CHECK(lsuv::learning_rate_at(s, 0) == doctest::Approx(0.0125));
  CHECK(lsuv::learning_rate_at(s, 1) == doctest::Approx(0.025));
  CHECK(lsuv::learning_rate_at(s, 3) == 0.05f);
  CHECK(lsuv::learning_rate_at(s, 4) == 0.05f);
}

TEST_CASE("lr schedule: step decay counts from the end of warm-up") {
  LrSchedule s;
  s.kind = LrScheduleKind::step;
  s.base = 1.0f;
  s.step_size = 3;
  s.gamma = 0.5f;
  REQUIRE(lsuv::lr_schedule_check(s) == Status::ok);
  const float expected[] = {1, 1, 1, 0.5f, 0.5f, 0.5f, 0.25f};
  for (std::int64_t step = 0; step < 7; ++step)
    CHECK(lsuv::learning_rate_at(s, step) == expected[step]);
  s.warmup_steps = 2;  // 0.5, 1, then the decay from t = 0
  CHECK(lsuv::learning_rate_at(s, 0) == 0.5f);
  CHECK(lsuv::learning_rate_at(s, 1) == 1.0f);
  CHECK(lsuv::learning_rate_at(s, 4) == 1.0f);
  CHECK(lsuv::learning_rate_at(s, 5) == 0.5f);
}

TEST_CASE("lr schedule: cosine from base to min over total_steps, then min") {
  LrSchedule s;
  s.kind = LrScheduleKind::cosine;
  s.base = 0.1f;
  s.min = 0.02f;
  s.total_steps = 10;
  s.warmup_steps = 2;  // the cosine runs over the 8 steps after warm-up
  REQUIRE(lsuv::lr_schedule_check(s) == Status::ok);
  CHECK(lsuv::learning_rate_at(s, 0) == doctest::Approx(0.05));
  CHECK(lsuv::learning_rate_at(s, 1) == doctest::Approx(0.1));
  CHECK(lsuv::learning_rate_at(s, 2) == 0.1f);                   // t = 0: cos 0 = 1
  CHECK(lsuv::learning_rate_at(s, 6) == doctest::Approx(0.06));  // half way: the midpoint
  // t = 2 of 8: min + (base - min) (1 + cos(pi / 4)) / 2
  CHECK(lsuv::learning_rate_at(s, 4) ==
        doctest::Approx(0.02 + 0.08 * (1.0 + std::sqrt(0.5)) / 2.0));
  CHECK(lsuv::learning_rate_at(s, 10) == 0.02f);
  CHECK(lsuv::learning_rate_at(s, 1000) == 0.02f);
  // Never below min, never above base.
  for (std::int64_t step = 2; step < 12; ++step) {
    CHECK(lsuv::learning_rate_at(s, step) >= 0.02f);
    CHECK(lsuv::learning_rate_at(s, step) <= 0.1f);
  }
}

TEST_CASE("lr schedule: fields outside their ranges are invalid_argument") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  auto check = [](LrScheduleKind kind, auto change) {
    LrSchedule s;
    s.kind = kind;
    s.total_steps = 10;
    REQUIRE(lsuv::lr_schedule_check(s) == Status::ok);
    change(s);
    return lsuv::lr_schedule_check(s);
  };
  for (LrScheduleKind kind :
       {LrScheduleKind::constant, LrScheduleKind::step, LrScheduleKind::cosine}) {
    CHECK(check(kind, [](LrSchedule& s) { s.base = 0.0f; }) == Status::invalid_argument);
    CHECK(check(kind, [&](LrSchedule& s) { s.base = nan; }) == Status::invalid_argument);
    CHECK(check(kind, [](LrSchedule& s) { s.warmup_steps = -1; }) == Status::invalid_argument);
  }
  CHECK(check(LrScheduleKind::step, [](LrSchedule& s) { s.step_size = 0; }) ==
        Status::invalid_argument);
  CHECK(check(LrScheduleKind::step, [](LrSchedule& s) { s.gamma = 0.0f; }) ==
        Status::invalid_argument);
  CHECK(check(LrScheduleKind::cosine, [](LrSchedule& s) { s.warmup_steps = 10; }) ==
        Status::invalid_argument);
  CHECK(check(LrScheduleKind::cosine, [](LrSchedule& s) { s.min = 1.0f; }) ==
        Status::invalid_argument);  // above base
  CHECK(check(LrScheduleKind::cosine, [](LrSchedule& s) { s.min = -0.1f; }) ==
        Status::invalid_argument);
  // Fields a kind does not use are not checked.
  CHECK(check(LrScheduleKind::constant, [](LrSchedule& s) { s.gamma = -1.0f; }) == Status::ok);
  LrSchedule outside;
  outside.kind = static_cast<LrScheduleKind>(7);
  CHECK(lsuv::lr_schedule_check(outside) == Status::invalid_argument);
}

TEST_CASE("lr schedule: names round-trip") {
  for (LrScheduleKind kind :
       {LrScheduleKind::constant, LrScheduleKind::step, LrScheduleKind::cosine}) {
    LrScheduleKind back = LrScheduleKind::constant;
    REQUIRE(lsuv::lr_schedule_from_name(lsuv::lr_schedule_name(kind), &back));
    CHECK(back == kind);
  }
  LrScheduleKind unused;
  CHECK_FALSE(lsuv::lr_schedule_from_name("linear", &unused));
  CHECK_FALSE(lsuv::lr_schedule_from_name(nullptr, &unused));
  CHECK(std::string(lsuv::lr_schedule_name(static_cast<LrScheduleKind>(9))) == "unknown_schedule");
}

}  // namespace
