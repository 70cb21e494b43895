#include "cli/progress.hpp"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>

namespace lsuv::cli {
namespace {
constexpr auto kRedrawInterval = std::chrono::milliseconds(100);
// The line on the terminal now (the program draws one at a time).
Progress* g_shown = nullptr;
}  // namespace

void erase_progress_line() {
  if (g_shown != nullptr) g_shown->clear();
}

Progress::Progress(const char* command, std::int64_t total, const char* unit)
    : enabled_(isatty(STDERR_FILENO) == 1), command_(command), unit_(unit), total_(total) {}

Progress::~Progress() {
  clear();
}

void Progress::clear() {
  if (!drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
  if (g_shown == this) g_shown = nullptr;
}

bool Progress::due() const {
  return enabled_ && (!drawn_ || std::chrono::steady_clock::now() - last_ >= kRedrawInterval);
}

void Progress::update(std::int64_t done) {
  if (!due()) return;
  char text[128];
  if (total_ > 0)
    std::snprintf(text, sizeof text, "%" PRId64 "/%" PRId64 " %s (%d%%)", done, total_, unit_,
                  static_cast<int>(done * 100 / total_));
  else
    std::snprintf(text, sizeof text, "%" PRId64 " %s", done, unit_);
  draw(text);
}

void Progress::show(const char* text) {
  if (enabled_) draw(text);
}

void Progress::draw(const char* text) {
  std::fprintf(stderr, "\rlsuv %s: %s\033[K", command_, text);
  std::fflush(stderr);
  drawn_ = true;
  g_shown = this;
  last_ = std::chrono::steady_clock::now();
}

ProgressSource::ProgressSource(BatchSource& inner, const char* command)
    : inner_(inner), progress_(command) {}

Status ProgressSource::read(std::int32_t index, float* images, std::int32_t* count) {
  if (index == 0) ++passes_;
  if (progress_.due()) {
    char text[96];
    std::snprintf(text, sizeof text, "LSUV pass %" PRId64 ", batch %d/%d", passes_,
                  static_cast<int>(index + 1), static_cast<int>(batch_count()));
    progress_.show(text);
  }
  return inner_.read(index, images, count);
}

}  // namespace lsuv::cli
