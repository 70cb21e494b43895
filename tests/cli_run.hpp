// Running the lsuv program from the cli suite as a user would (through /bin/sh, under
// MESON_EXE_WRAPPER in a cross build), and the tiny synthetic data set and model the training
// tests use: four classes, each brightening one quadrant of 8x8 noise, which a few steps learn.
#pragma once

#include <string>
#include <vector>

namespace cli_run {

struct Run {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A directory of this test process's own, made on first use.
std::string scratch_dir();
std::string slurp(const std::string& path);
// `word` quoted for /bin/sh.
std::string quoted(const std::string& word);
// Runs `[env] [wrapper] lsuv args...` through /bin/sh; a signal shows as 128 + its number.
Run lsuv(const std::vector<std::string>& args, const std::string& env = "");
// Exit code 1 and stderr starting with `prefix`.
void check_failure(const Run& run, const std::string& prefix);

constexpr int kSide = 8;
constexpr int kClasses = 4;
// scratch_dir()/<stem>-images.idx and -labels.idx: `count` images of class i % 4 (or `label`
// when >= 0): noise 0..191, the class's quadrant +64.
void write_data(const std::string& stem, int count, int label = -1);
// scratch_dir()/tiny.spec: Conv2d(1, 4, 3), ReLU, Flatten, Linear(144, 4) on 1x8x8.
std::string tiny_spec();
// `lsuv <command>` (train, experiment) of the tiny model on 256 training and 64 held-out images
// (written on first use), batches of 16, output `--out scratch_dir()/<out>`, then `extra`.
std::vector<std::string> tiny_run_args(const std::string& command, const std::string& out,
                                       const std::vector<std::string>& extra);

}  // namespace cli_run
