// A progress line for the long runs of the `lsuv` program (forward over many images, LSUV over
// many batches, the demo under an emulator), on stderr and only when stderr is a terminal:
//
//   lsuv forward: 12800/100000 images (12%)
//
// rewritten in place at most ten times a second and erased when the run ends, so a terminal
// shows where a run is and piped or logged output (stdout and stderr) is exactly what it was.
#pragma once

#include <chrono>
#include <cstdint>

#include "lsuv/batch_source.hpp"

namespace lsuv::cli {

class Progress {
 public:
  // `command` names the run ("forward"), `unit` what update() counts ("images") out of `total`.
  explicit Progress(const char* command, std::int64_t total = 0, const char* unit = "");
  ~Progress();  // erases the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // "lsuv forward: 12800/100000 images (12%)".
  void update(std::int64_t done);
  // "lsuv demo: <text>"; always drawn (a step of a run, not a tick of a loop).
  void show(const char* text);
  // Erases the line (before the program prints to stdout, which shares the terminal).
  void clear();
  // Whether a redraw is due (a terminal, and a tenth of a second since the last one): lets a
  // caller skip formatting in a hot loop.
  bool due() const;
  // Whether the line is drawn at all (stderr is a terminal); otherwise a run prints plain lines.
  bool enabled() const { return enabled_; }

 private:
  void draw(const char* text);

  bool enabled_;
  bool drawn_ = false;
  const char* command_;
  const char* unit_;
  std::int64_t total_;
  std::chrono::steady_clock::time_point last_;
};

// Erases the progress line on the terminal, if one is shown: fail() calls it so that an error
// starts its own line.
void erase_progress_line();

// A BatchSource that passes every read through to `inner` and shows which pass over the source
// and which batch LSUV is at ("lsuv init: LSUV pass 3, batch 512/937").
class ProgressSource final : public BatchSource {
 public:
  ProgressSource(BatchSource& inner, const char* command);
  ImageShape image_shape() const override { return inner_.image_shape(); }
  std::int32_t batch_count() const override { return inner_.batch_count(); }
  std::int32_t max_batch_size() const override { return inner_.max_batch_size(); }
  Status read(std::int32_t index, float* images, std::int32_t* count) override;

 private:
  BatchSource& inner_;
  Progress progress_;
  std::int64_t passes_ = 0;
};

}  // namespace lsuv::cli
