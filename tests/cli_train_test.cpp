// `lsuv train` as a user runs it, on a tiny model and a synthetic data set that a few steps
// learn (four classes, each brightening one quadrant of 8x8 noise): the held-out loss falls, the
// weights directory is written, runs repeat bit for bit, and options that cannot work are
// refused before any work.
#include <doctest/doctest.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "cli_run.hpp"

namespace {

using namespace cli_run;

// `lsuv train` of the tiny model on 256 training and 64 held-out images, batches of 16.
std::vector<std::string> train_args(const std::string& out, const std::vector<std::string>& extra) {
  return tiny_run_args("train", out, extra);
}

// The number after `key` on the line that starts with `line`.
double number_after(const std::string& text, const std::string& line, const std::string& key) {
  const std::size_t start = text.find(line);
  REQUIRE(start != std::string::npos);
  const std::size_t at = text.find(key, start);
  REQUIRE(at != std::string::npos);
  return std::atof(text.c_str() + at + key.size());
}

std::string file_of(const std::string& directory, const std::string& name) {
  return slurp(scratch_dir() + "/" + directory + "/" + name);
}

// Runs lsuv with stdout and stderr on a pseudo-terminal; returns what it wrote there.
std::string lsuv_on_terminal(const std::vector<std::string>& args) {
  const char* program = std::getenv("LSUV_CLI");
  REQUIRE(program != nullptr);
  const char* wrapper = std::getenv("MESON_EXE_WRAPPER");
  std::string command = "exec ";
  if (wrapper != nullptr) command += std::string(wrapper) + " ";
  command += quoted(program);
  for (const std::string& arg : args) command += " " + quoted(arg);
  int terminal = -1;
  const pid_t child = forkpty(&terminal, nullptr, nullptr, nullptr);
  REQUIRE(child >= 0);
  if (child == 0) {
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string seen;
  char buffer[4096];
  for (ssize_t n = 0; (n = read(terminal, buffer, sizeof buffer)) > 0;)
    seen.append(buffer, static_cast<std::size_t>(n));  // EIO once the child closed it
  close(terminal);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  return seen;
}

}  // namespace

TEST_CASE("cli train: on a terminal, a progress line that is erased before each epoch's line") {
  const std::string seen = lsuv_on_terminal(train_args("shown", {"--log-every", "4"}));
  INFO("terminal: " << seen);
  CHECK(seen.find("\rlsuv train: epoch 1/1, step 1/16: loss ") != std::string::npos);
  CHECK(seen.find(" images/s, ETA 0m") != std::string::npos);  // a short run
  CHECK(seen.find("\r\033[Kepoch 1: train loss ") != std::string::npos);
  CHECK(seen.find("step 4: loss") == std::string::npos);  // no plain lines on a terminal
}

TEST_CASE("cli train: an epoch lowers the held-out loss and writes the weights directory") {
  const Run run = lsuv(train_args("trained", {"--init", "he_normal"}));
  INFO("stdout: " << run.out << "\nstderr: " << run.err);
  REQUIRE(run.exit_code == 0);
  const double before = number_after(run.out, "epoch 0:", "test loss ");
  const double after = number_after(run.out, "epoch 1:", "test loss ");
  CHECK(after < 0.8 * before);
  CHECK(number_after(run.out, "epoch 1:", "| test loss") > 0.0);
  CHECK(number_after(run.out, "epoch 1:", "accuracy ") > 25.0);  // chance is 25%
  for (const char* name : {"c1.weight.npy", "c1.bias.npy", "l1.weight.npy", "l1.bias.npy"})
    CHECK(file_of("trained", name).size() > 128);
  // Not a terminal: a plain line every --log-every steps (16 steps, the default 100: none).
  CHECK(run.out.find("step 16:") == std::string::npos);
  const Run logged = lsuv(train_args("logged", {"--init", "he_normal", "--log-every", "8"}));
  CHECK(logged.out.find("step 8: loss ") != std::string::npos);
  CHECK(logged.out.find("step 16: loss ") != std::string::npos);
  CHECK(file_of("logged", "l1.weight.npy") == file_of("trained", "l1.weight.npy"));
}

TEST_CASE("cli train: the seed fixes the init and the data order; runs repeat bit for bit") {
  const std::vector<std::string> options = {"--epochs", "2",      "--schedule", "cosine",
                                            "--warmup", "4",      "--nesterov", "--weight-decay",
                                            "1e-3",     "--clip", "5"};
  std::vector<std::string> seeded = options;
  seeded.insert(seeded.end(), {"--seed", "3"});
  REQUIRE(lsuv(train_args("a", seeded)).exit_code == 0);
  REQUIRE(lsuv(train_args("b", seeded)).exit_code == 0);
  REQUIRE(lsuv(train_args("c", options)).exit_code == 0);
  CHECK(file_of("a", "c1.weight.npy") == file_of("b", "c1.weight.npy"));
  CHECK(file_of("a", "l1.weight.npy") == file_of("b", "l1.weight.npy"));
  CHECK(file_of("a", "l1.weight.npy") != file_of("c", "l1.weight.npy"));
}

TEST_CASE("cli train: --freeze keeps a layer's weights as loaded; --weights starts from them") {
  const std::string start = scratch_dir() + "/start";
  REQUIRE(lsuv({"init", "--spec", tiny_spec(), "--out", start, "--no-lsuv"}).exit_code == 0);
  REQUIRE(lsuv(train_args("frozen", {"--weights", start, "--freeze", "c1"})).exit_code == 0);
  CHECK(file_of("frozen", "c1.weight.npy") == file_of("start", "c1.weight.npy"));
  CHECK(file_of("frozen", "c1.bias.npy") == file_of("start", "c1.bias.npy"));
  CHECK(file_of("frozen", "l1.weight.npy") != file_of("start", "l1.weight.npy"));
  REQUIRE(lsuv(train_args("biases", {"--weights", start, "--bias-only"})).exit_code == 0);
  CHECK(file_of("biases", "l1.weight.npy") == file_of("start", "l1.weight.npy"));
  CHECK(file_of("biases", "l1.bias.npy") != file_of("start", "l1.bias.npy"));
  REQUIRE(lsuv(train_args("last", {"--weights", start, "--last", "1"})).exit_code == 0);
  CHECK(file_of("last", "c1.weight.npy") == file_of("start", "c1.weight.npy"));
  CHECK(file_of("last", "l1.weight.npy") != file_of("start", "l1.weight.npy"));
}

TEST_CASE("cli train: options that cannot work are refused before any work") {
  check_failure(lsuv(train_args("x", {"--momentum", "0", "--nesterov"})),
                "lsuv: --nesterov needs --momentum above 0");
  check_failure(lsuv(train_args("x", {"--init", "he_normal", "--weights", scratch_dir()})),
                "lsuv: --init excludes --weights");
  check_failure(lsuv(train_args("x", {"--freeze", "nothing"})),
                "lsuv: --freeze: no op is named 'nothing'");
  check_failure(lsuv(train_args("x", {"--lr", "0"})), "lsuv: --lr must be ");
  check_failure(lsuv(train_args("x", {"--epochs", "0"})), "lsuv: --epochs must be 1..");
  check_failure(lsuv(train_args("x", {"--schedule", "cosine", "--warmup", "100"})),
                "lsuv: --schedule cosine: the warm-up (100 steps) must be shorter");
  check_failure(lsuv(train_args("x", {"--train-count", "100000"})), "lsuv: ");
  write_data("bad", 16, 7);
  std::vector<std::string> args = train_args("x", {});
  args[6] = scratch_dir() + "/bad-images.idx";
  args[8] = scratch_dir() + "/bad-labels.idx";
  check_failure(lsuv(args), "lsuv: " + args[8] + ": label 7 of image 0 is outside");
  CHECK_FALSE(std::filesystem::exists(scratch_dir() + "/x"));
}

TEST_CASE("cli train: a run resumed from a checkpoint ends bit-identical, also after SIGKILL") {
  // Two epochs of 16 steps with momentum, a cosine schedule after a warm-up and a data order
  // reshuffled each epoch: every part of the state matters.
  const std::vector<std::string> run = {"--epochs", "2", "--schedule", "cosine",
                                        "--warmup", "3", "--seed",     "5"};
  REQUIRE(lsuv(train_args("whole", run)).exit_code == 0);
  const std::string checkpoint = scratch_dir() + "/run.ckpt";
  const char* names[] = {"c1.weight.npy", "c1.bias.npy", "l1.weight.npy", "l1.bias.npy"};
  // Killed within the first epoch (the checkpoint of step 10), and at step 17 (that of step 16,
  // an epoch's end, whose next order is still to be drawn).
  for (const std::pair<int, int>& schedule : {std::pair<int, int>{5, 12}, {8, 17}}) {
    // Plain variables, not a structured binding: CAPTURE's lambda cannot capture one in C++17.
    const int every = schedule.first;
    const int kill = schedule.second;
    CAPTURE(kill);
    std::filesystem::remove(checkpoint);
    std::vector<std::string> first = run;
    first.insert(first.end(),
                 {"--checkpoint", checkpoint, "--checkpoint-every", std::to_string(every)});
    const Run killed =
        lsuv(train_args("killed", first), "LSUV_TRAIN_KILL_AFTER_STEP=" + std::to_string(kill));
    CHECK(killed.exit_code == 128 + 9);
    CHECK_FALSE(std::filesystem::exists(scratch_dir() + "/killed"));
    REQUIRE(std::filesystem::exists(checkpoint));
    std::vector<std::string> again = run;
    again.insert(again.end(), {"--resume", checkpoint});
    const Run resumed = lsuv(train_args("resumed", again));
    INFO("stdout: " << resumed.out << "\nstderr: " << resumed.err);
    REQUIRE(resumed.exit_code == 0);
    CHECK(resumed.out.find("resumed from " + checkpoint + " at step " +
                           std::to_string(kill / every * every)) != std::string::npos);
    for (const char* name : names) CHECK(file_of("resumed", name) == file_of("whole", name));
  }
}

TEST_CASE("cli train: a damaged, truncated or mismatched checkpoint is refused, nothing written") {
  const std::string checkpoint = scratch_dir() + "/good.ckpt";
  REQUIRE(lsuv(train_args("good", {"--checkpoint", checkpoint})).exit_code == 0);
  const std::string bytes = slurp(checkpoint);
  REQUIRE(bytes.size() > 200);
  const auto resume = [&](const std::string& contents, const std::vector<std::string>& extra) {
    const std::string path = scratch_dir() + "/bad.ckpt";
    std::ofstream(path, std::ios::binary) << contents;
    std::vector<std::string> args = {"--resume", path, "--epochs", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    const Run run = lsuv(train_args("refused", args));
    CHECK_FALSE(std::filesystem::exists(scratch_dir() + "/refused"));
    return run;
  };
  std::string damaged = bytes;
  damaged[bytes.size() / 2] = static_cast<char>(damaged[bytes.size() / 2] ^ 0x10);
  const std::string prefix = "lsuv: resuming from " + scratch_dir() + "/bad.ckpt: ";
  check_failure(resume(damaged, {}), prefix + "CRC mismatch: the file is damaged");
  check_failure(resume(bytes.substr(0, bytes.size() - 9), {}),
                prefix + std::to_string(bytes.size() - 9) + " bytes; its header says " +
                    std::to_string(bytes.size()));
  check_failure(resume(bytes + "x", {}), prefix + "1 bytes after the end");
  check_failure(resume("not a checkpoint", {}), prefix + "not an lsuv checkpoint");
  check_failure(resume(bytes, {"--lr", "0.01"}), prefix + "written by a run with other options");
  check_failure(resume(bytes, {"--freeze", "c1"}), prefix + "holds ");
  std::vector<std::string> other_spec = train_args("refused", {"--resume", checkpoint});
  const std::string spec = scratch_dir() + "/other.spec";
  std::ofstream(spec) << "input: 1x8x8\nc1: Conv2d(1, 4, 3)\nr1: ReLU()\nf: Flatten()\n"
                         "l2: Linear(144, 4)\n";
  other_spec[2] = spec;
  check_failure(lsuv(other_spec), "lsuv: resuming from " + checkpoint + ": written for another");
  // The good one continues the run for another epoch (a constant schedule's run may grow).
  CHECK(lsuv(train_args("longer", {"--resume", checkpoint, "--epochs", "2"})).exit_code == 0);
  CHECK(file_of("longer", "l1.weight.npy") != file_of("good", "l1.weight.npy"));
}

TEST_CASE("cli train: --history and --order-out write each step's loss and each epoch's order") {
  const std::string history = scratch_dir() + "/history.npy";
  const std::string order = scratch_dir() + "/order.npy";
  REQUIRE(lsuv(train_args("traced", {"--epochs", "2", "--history", history, "--order-out", order}))
              .exit_code == 0);
  // The .npy data starts after the magic, the version and the header (its length at byte 8).
  const auto payload = [](const std::string& bytes) {
    REQUIRE(bytes.size() > 10);
    const std::size_t header = static_cast<unsigned char>(bytes[8]) |
                               static_cast<std::size_t>(static_cast<unsigned char>(bytes[9])) << 8;
    return bytes.substr(10 + header);
  };
  const std::string steps = payload(slurp(history));
  REQUIRE(steps.size() == 32 * 3 * sizeof(float));
  std::vector<float> values(32 * 3);
  std::memcpy(values.data(), steps.data(), steps.size());
  CHECK(values[3 * 31] < values[0]);           // the loss fell
  CHECK(values[1] == doctest::Approx(0.05f));  // the learning rate
  CHECK(values[2] > 0.0f);                     // the gradient norm
  const std::string orders = payload(slurp(order));
  REQUIRE(orders.size() == 2 * 256 * sizeof(std::int32_t));
  std::vector<std::int32_t> indices(2 * 256);
  std::memcpy(indices.data(), orders.data(), orders.size());
  for (int epoch = 0; epoch < 2; ++epoch) {
    std::vector<int> seen(256, 0);
    for (int i = 0; i < 256; ++i) ++seen.at(static_cast<std::size_t>(indices[epoch * 256 + i]));
    CHECK(std::count(seen.begin(), seen.end(), 1) == 256);  // a permutation
  }
  CHECK_FALSE(std::equal(indices.begin(), indices.begin() + 256, indices.begin() + 256));
}
