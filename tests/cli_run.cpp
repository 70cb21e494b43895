#include "cli_run.hpp"

#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace cli_run {

std::string scratch_dir() {
  static const std::string dir = [] {
    const std::string path = std::filesystem::temp_directory_path().string() + "/lsuv_cli_run_" +
                             std::to_string(getpid());
    std::filesystem::create_directories(path);
    return path;
  }();
  return dir;
}

std::string slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

std::string quoted(const std::string& word) {
  std::string text = "'";
  for (char c : word) text += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return text + "'";
}

Run lsuv(const std::vector<std::string>& args, const std::string& env) {
  const char* program = std::getenv("LSUV_CLI");
  REQUIRE(program != nullptr);
  const char* wrapper = std::getenv("MESON_EXE_WRAPPER");
  std::string command = env + " exec ";
  if (wrapper != nullptr) command += std::string(wrapper) + " ";
  command += quoted(program);
  for (const std::string& arg : args) command += " " + quoted(arg);
  const std::string out_path = scratch_dir() + "/stdout.txt";
  const std::string err_path = scratch_dir() + "/stderr.txt";
  command += " >" + quoted(out_path) + " 2>" + quoted(err_path) + " </dev/null";
  const int status = std::system(command.c_str());
  Run run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = slurp(out_path);
  run.err = slurp(err_path);
  return run;
}

namespace {

unsigned next_random(unsigned& state) {
  state = state * 1664525u + 1013904223u;
  return state >> 24;
}

}  // namespace

void write_data(const std::string& stem, int count, int label) {
  std::ofstream images(scratch_dir() + "/" + stem + "-images.idx", std::ios::binary);
  std::ofstream labels(scratch_dir() + "/" + stem + "-labels.idx", std::ios::binary);
  const unsigned char n[4] = {0, 0, static_cast<unsigned char>(count >> 8),
                              static_cast<unsigned char>(count)};
  const unsigned char image_header[4] = {0, 0, 8, 3};
  const unsigned char side[4] = {0, 0, 0, kSide};
  images.write(reinterpret_cast<const char*>(image_header), 4);
  images.write(reinterpret_cast<const char*>(n), 4);
  images.write(reinterpret_cast<const char*>(side), 4);
  images.write(reinterpret_cast<const char*>(side), 4);
  const unsigned char label_header[4] = {0, 0, 8, 1};
  labels.write(reinterpret_cast<const char*>(label_header), 4);
  labels.write(reinterpret_cast<const char*>(n), 4);
  unsigned state = 7;
  for (int i = 0; i < count; ++i) {
    const int k = label >= 0 ? label : i % kClasses;
    for (int y = 0; y < kSide; ++y)
      for (int x = 0; x < kSide; ++x) {
        const bool lit = (y / (kSide / 2)) * 2 + x / (kSide / 2) == k % kClasses;
        images.put(static_cast<char>((next_random(state) % 192u) + (lit ? 64u : 0u)));
      }
    labels.put(static_cast<char>(k));
  }
}

std::string tiny_spec() {
  const std::string path = scratch_dir() + "/tiny.spec";
  std::ofstream(path) << "input: 1x8x8\nc1: Conv2d(1, 4, 3)\nr1: ReLU()\nf: Flatten()\n"
                         "l1: Linear(144, 4)\n";
  return path;
}

void check_failure(const Run& run, const std::string& prefix) {
  INFO("stderr: " << run.err);
  CHECK(run.exit_code == 1);
  CHECK(run.err.rfind(prefix, 0) == 0);
}

std::vector<std::string> tiny_run_args(const std::string& command, const std::string& out,
                                       const std::vector<std::string>& extra) {
  static const bool written = [] {
    write_data("train", 256);
    write_data("test", 64);
    return true;
  }();
  (void)written;
  const std::string d = scratch_dir() + "/";
  std::vector<std::string> args = {command, "--spec", tiny_spec(), "--out", d + out};
  for (const char* stem : {"train", "test"}) {
    const std::string prefix = std::string(stem) == "train" ? "--" : "--test-";
    args.insert(args.end(), {prefix + "images", d + stem + "-images.idx", prefix + "labels",
                             d + stem + "-labels.idx"});
  }
  args.insert(args.end(), {"--batch-size", "16", "--mean", "0.3", "--std", "0.3"});
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

}  // namespace cli_run
