#include "cli/option_checks.hpp"

#include <cmath>
#include <cstdio>
#include <limits>

#include "cli/cli_common.hpp"

namespace lsuv::cli {
namespace {

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

}  // namespace

void require_range(const char* option, std::int64_t value, std::int64_t low, std::int64_t high) {
  if (value < low || value > high)
    fail(std::string(option) + " must be " + std::to_string(low) + ".." + std::to_string(high) +
         " (got " + std::to_string(value) + ")");
}

void require_finite_range(const char* option, double value, double low, double high) {
  if (!std::isfinite(value) || value < low || value > high)
    fail(std::string(option) + " must be " + number(low) + ".." + number(high) + " (got " +
         number(value) + ")");
}

std::uint64_t parse_seed(const char* option, const std::string& text) {
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t value = 0;
  bool valid = !text.empty() && text.size() <= 20;
  for (char c : text) {
    if (!valid) break;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (c < '0' || c > '9' || value > (kMax - digit) / 10)
      valid = false;
    else
      value = value * 10 + digit;
  }
  if (!valid)
    fail(std::string(option) + " must be an integer 0.." + std::to_string(kMax) + " (got '" + text +
         "')");
  return value;
}

}  // namespace lsuv::cli
