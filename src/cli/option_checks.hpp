// Range checks of the program's options, done before any work: a value out of range fails with
// "lsuv: --name must be LOW..HIGH (got V)", naming the option, never a later stage.
#pragma once

#include <cstdint>
#include <string>

namespace lsuv::cli {

void require_range(const char* option, std::int64_t value, std::int64_t low, std::int64_t high);
// Also rejects NaN and infinities.
void require_finite_range(const char* option, double value, double low, double high);
// A decimal unsigned 64-bit integer: no sign, no spaces, no wrap-around.
std::uint64_t parse_seed(const char* option, const std::string& text);

}  // namespace lsuv::cli
