// How the io layer treats the file system when it is not cooperating: a weights directory is
// replaced as a whole (failures and kills leave the old set or the new one, never a mix),
// temporaries of killed writers are cleaned up, anything but a regular file is refused without
// blocking, and every error says which file and why (issue 12, items 2, 5, 7 and 13).
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "lsuv/io/idx.hpp"
#include "lsuv/io/model_spec.hpp"
#include "lsuv/io/npy.hpp"
#include "lsuv/io/output_path.hpp"
#include "lsuv/io/weights.hpp"
#include "support.hpp"

namespace {

using lsuv::Status;
using Bytes = std::vector<unsigned char>;
using DirectoryBytes = std::map<std::string, Bytes>;

struct ScratchRoot {
  ScratchRoot() {
    char name[] = "file_safety_test_XXXXXX";
    if (mkdtemp(name) != nullptr) path = name;
  }
  ~ScratchRoot() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

std::string scratch_path(const std::string& name) {
  static const ScratchRoot root;
  REQUIRE_FALSE(root.path.empty());
  return root.path + "/" + name;
}

Bytes read_file(const std::string& path) {
  Bytes bytes;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return bytes;
  unsigned char chunk[65536];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0)
    bytes.insert(bytes.end(), chunk, chunk + n);
  std::fclose(file);
  return bytes;
}

void write_text(const std::string& path, const std::string& text) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(std::fwrite(text.data(), 1, text.size(), file) == text.size());
  REQUIRE(std::fclose(file) == 0);
}

std::vector<std::string> names_in(const std::string& directory) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return names;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

// Every regular file of a directory with its bytes; a subdirectory shows as an empty entry.
DirectoryBytes directory_bytes(const std::string& directory) {
  DirectoryBytes files;
  for (const std::string& name : names_in(directory))
    files[name] = read_file(directory + "/" + name);
  return files;
}

// The siblings `.<name>.tmp.*` / `.<name>.old.*` that a writer of `<parent>/<name>` leaves.
std::vector<std::string> temporaries_of(const std::string& parent, const std::string& name) {
  std::vector<std::string> found;
  for (const std::string& entry : names_in(parent))
    if (entry.rfind("." + name + ".tmp.", 0) == 0 || entry.rfind("." + name + ".old.", 0) == 0)
      found.push_back(entry);
  return found;
}

// A pid that belonged to a process which has exited.
pid_t dead_pid() {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) _exit(0);
  REQUIRE(waitpid(child, nullptr, 0) == child);
  return child;
}

// Runs `body` in a child process that SIGALRM ends after 20 seconds: a call that blocks shows
// up as a failed check instead of a hung test program. Returns the child's exit code, or -1
// when it died of a signal.
int exit_code_in_child(const std::function<int()>& body) {
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    alarm(20);
    _exit(body());
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

constexpr lsuv::LayerSpec kLayers[] = {
    lsuv::conv2d("conv1", 1, 4, 3).with_padding(1),
    lsuv::relu("relu1"),
    lsuv::conv2d("conv2", 4, 6, 3).with_padding(1),
    lsuv::adaptive_avg_pool2d("avg"),
    lsuv::linear("l1", 6, 300),
};
constexpr lsuv::ImageShape kInput = {8, 8, 1};

std::unique_ptr<lsuv_test::BoundModel> model_with_seed(std::uint64_t seed) {
  auto bound = lsuv_test::make_model(kLayers, 5, kInput, 1);
  std::vector<unsigned char> scratch(1 << 16);
  lsuv::Arena arena(scratch.data(), scratch.size());
  lsuv::InitOptions options;
  options.seed = seed;
  REQUIRE(lsuv::initialize(bound->model, lsuv::Initializer::pytorch_default, options, arena) ==
          Status::ok);
  return bound;
}

}  // namespace

TEST_CASE("weights directory: a file that cannot be replaced leaves every old file as it was") {
  const std::string directory = scratch_path("blocked");
  REQUIRE(lsuv::save_weights(model_with_seed(1)->model, directory.c_str()) == Status::ok);
  // conv2.bias.npy, written after conv1's files, becomes a directory.
  REQUIRE(std::remove((directory + "/conv2.bias.npy").c_str()) == 0);
  REQUIRE(mkdir((directory + "/conv2.bias.npy").c_str(), 0777) == 0);
  const DirectoryBytes before = directory_bytes(directory);

  lsuv::FileError error;
  CHECK(lsuv::save_weights(model_with_seed(2)->model, directory.c_str(), &error) ==
        Status::invalid_argument);
  CHECK(std::string(error.file) == directory);
  CHECK(std::string(error.message).find("conv2.bias.npy") != std::string::npos);
  CHECK(directory_bytes(directory) == before);
  CHECK(temporaries_of(scratch_path(""), "blocked").empty());
}

TEST_CASE("weights directory: a write that fails midway leaves the old set and no temporary") {
  const std::string directory = scratch_path("midway");
  REQUIRE(lsuv::save_weights(model_with_seed(1)->model, directory.c_str()) == Status::ok);
  const DirectoryBytes before = directory_bytes(directory);
  // A file size limit that conv1's and conv2's files fit under and l1.weight.npy does not: the
  // write fails after some files of the new set are complete.
  const int code = exit_code_in_child([&] {
    signal(SIGXFSZ, SIG_IGN);
    const rlimit limit = {4000, 4000};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) return 10;
    lsuv::FileError error;
    const Status status = lsuv::save_weights(model_with_seed(2)->model, directory.c_str(), &error);
    if (status != Status::io_error) return 11;
    if (std::string(error.file) != directory + "/l1.weight.npy") return 12;
    if (std::string(error.message) != "file too large") return 13;
    return 0;
  });
  CHECK(code == 0);
  CHECK(directory_bytes(directory) == before);
  CHECK(temporaries_of(scratch_path(""), "midway").empty());

  // And a write that succeeds replaces every file.
  REQUIRE(lsuv::save_weights(model_with_seed(2)->model, directory.c_str()) == Status::ok);
  const DirectoryBytes after = directory_bytes(directory);
  CHECK(after.size() == before.size());
  for (const auto& file : after) CHECK(file.second != before.at(file.first));
}

TEST_CASE("weights directory: files that are not ours are never dropped") {
  const std::string directory = scratch_path("foreign");
  REQUIRE(lsuv::save_weights(model_with_seed(1)->model, directory.c_str()) == Status::ok);
  write_text(directory + "/README.txt", "trained on the March data\n");
  const DirectoryBytes before = directory_bytes(directory);
  lsuv::FileError error;
  CHECK(lsuv::save_weights(model_with_seed(2)->model, directory.c_str(), &error) ==
        Status::invalid_argument);
  CHECK(std::string(error.message).find("README.txt") != std::string::npos);
  CHECK(lsuv::check_output_directory(directory.c_str(), &error) == Status::invalid_argument);
  CHECK(directory_bytes(directory) == before);

  // A symbolic link in place of the directory is not replaced either.
  const std::string link = scratch_path("foreign_link");
  REQUIRE(symlink("foreign", link.c_str()) == 0);
  CHECK(lsuv::save_weights(model_with_seed(2)->model, link.c_str(), &error) ==
        Status::invalid_argument);
  CHECK(directory_bytes(directory) == before);
}

TEST_CASE("weights directory: stale temporaries of dead writers are removed, live ones kept") {
  const std::string parent = scratch_path("");
  const std::string directory = scratch_path("stale");
  REQUIRE(lsuv::save_weights(model_with_seed(1)->model, directory.c_str()) == Status::ok);
  const std::string dead = ".stale.tmp." + std::to_string(dead_pid()) + ".0";
  const std::string dead_old = ".stale.old." + std::to_string(dead_pid()) + ".3";
  const std::string live = ".stale.tmp.1.0";  // pid 1 never exits
  const std::string live_but_old = ".stale.tmp.1.1";
  for (const std::string& name : {dead, dead_old, live, live_but_old}) {
    REQUIRE(mkdir((parent + name).c_str(), 0777) == 0);
    write_text(parent + name + "/l1.weight.npy", "partial");
  }
  const timeval two_hours_ago[2] = {{std::time(nullptr) - 7200, 0}, {std::time(nullptr) - 7200, 0}};
  REQUIRE(utimes((parent + live_but_old).c_str(), two_hours_ago) == 0);

  // A reader cleans up.
  REQUIRE(lsuv::load_weights(model_with_seed(3)->model, directory.c_str()) == Status::ok);
  CHECK(temporaries_of(parent, "stale") == std::vector<std::string>{live});

  // A fallback swap killed between its renames left no directory, the old one aside: restored.
  const DirectoryBytes saved = directory_bytes(directory);
  const std::string aside = parent + ".stale.old." + std::to_string(dead_pid()) + ".0";
  REQUIRE(std::rename(directory.c_str(), aside.c_str()) == 0);
  auto model = model_with_seed(3);
  REQUIRE(lsuv::load_weights(model->model, directory.c_str()) == Status::ok);
  CHECK(directory_bytes(directory) == saved);
  CHECK(temporaries_of(parent, "stale") == std::vector<std::string>{live});
  std::filesystem::remove_all(parent + live);
}

TEST_CASE("non-regular files: a FIFO, a directory or a device is refused without blocking") {
  const std::string directory = scratch_path("fifo_weights");
  auto model = model_with_seed(1);
  REQUIRE(lsuv::save_weights(model->model, directory.c_str()) == Status::ok);
  const std::string fifo = directory + "/conv2.weight.npy";
  REQUIRE(std::remove(fifo.c_str()) == 0);
  REQUIRE(mkfifo(fifo.c_str(), 0666) == 0);
  // Nothing ever writes to the FIFO: a blocking open would wait for ever (the alarm ends it).
  CHECK(exit_code_in_child([&] {
          lsuv::FileError error;
          if (lsuv::load_weights(model->model, directory.c_str(), &error) != Status::io_error)
            return 1;
          if (std::string(error.file) != fifo) return 2;
          return std::string(error.message) == "not a regular file (a FIFO)" ? 0 : 3;
        }) == 0);
  CHECK(exit_code_in_child([&] {
          lsuv::ModelSpec spec;
          lsuv::SpecError error;
          if (lsuv::load_model_spec(fifo.c_str(), &spec, &error) != Status::io_error) return 1;
          return std::string(error.message) == "not a regular file (a FIFO)" ? 0 : 2;
        }) == 0);
  CHECK(exit_code_in_child([&] {
          lsuv::IdxImages images;
          return images.load(fifo.c_str()) == Status::io_error ? 0 : 1;
        }) == 0);
  CHECK(exit_code_in_child([&] {
          lsuv::IdxImages images;
          return images.load(directory.c_str()) == Status::io_error ? 0 : 1;
        }) == 0);
  lsuv::NpyArray array;
  lsuv::FileError error;
  CHECK(lsuv::read_npy(directory.c_str(), &array, &error) == Status::io_error);
  CHECK(std::string(error.message) == "not a regular file (a directory)");
  if (access("/dev/null", R_OK) == 0) {
    CHECK(lsuv::read_npy("/dev/null", &array, &error) == Status::io_error);
    CHECK(std::string(error.message) == "not a regular file (a character device)");
  }
}

TEST_CASE("errors keep errno: is a directory, symbolic link loops, permission denied") {
  const float values[] = {1.0f, 2.0f};
  const std::int64_t shape[] = {2};
  lsuv::FileError error;
  const std::string directory = scratch_path("a_directory.npy");
  REQUIRE(mkdir(directory.c_str(), 0777) == 0);
  CHECK(lsuv::write_npy(directory.c_str(), lsuv::NpyDtype::float32, shape, 1, values, &error) ==
        Status::io_error);
  CHECK(std::string(error.message) == "is a directory");
  CHECK(lsuv::check_output_file(directory.c_str(), &error) == Status::io_error);
  CHECK(std::string(error.message) == "is a directory");

  const std::string loop = scratch_path("loop");
  REQUIRE(symlink("loop", loop.c_str()) == 0);
  CHECK(lsuv::write_npy((loop + "/x.npy").c_str(), lsuv::NpyDtype::float32, shape, 1, values,
                        &error) == Status::io_error);
  CHECK(std::string(error.message) == "too many levels of symbolic links");
  CHECK(lsuv::check_output_file((loop + "/x.npy").c_str(), &error) == Status::io_error);
  CHECK(std::string(error.message) == "too many levels of symbolic links");
  CHECK(lsuv::check_output_directory((loop + "/w").c_str(), &error) == Status::io_error);
  CHECK(std::string(error.message) == "too many levels of symbolic links");

  CHECK(lsuv::check_output_file("", &error) == Status::invalid_argument);
  CHECK(lsuv::check_output_directory("", &error) == Status::invalid_argument);
  CHECK(lsuv::check_output_directory(scratch_path("no/such/w").c_str(), &error) ==
        Status::file_not_found);
  CHECK(std::string(error.message) == "no such file or directory");
  CHECK(lsuv::check_output_directory(scratch_path("fresh").c_str(), &error) == Status::ok);
  CHECK(lsuv::check_output_file(scratch_path("fresh.npy").c_str(), &error) == Status::ok);

  if (geteuid() == 0) {
    MESSAGE("running as root: the permission-denied case cannot be provoked, skipped");
    return;
  }
  const std::string locked = scratch_path("locked");
  REQUIRE(mkdir(locked.c_str(), 0555) == 0);
  CHECK(lsuv::write_npy((locked + "/x.npy").c_str(), lsuv::NpyDtype::float32, shape, 1, values,
                        &error) == Status::io_error);
  CHECK(std::string(error.message) == "permission denied");
  CHECK(lsuv::check_output_directory((locked + "/w").c_str(), &error) == Status::io_error);
  CHECK(std::string(error.message) == "permission denied");
}

// --- the lsuv program -----------------------------------------------------------------------

namespace {

// The `lsuv` program built with these tests (meson passes its path in LSUV_CLI), and the
// emulator of a cross build (MESON_EXE_WRAPPER, words without quoting).
std::vector<std::string> cli_command(const std::vector<std::string>& args) {
  std::vector<std::string> command;
  const char* wrapper = std::getenv("MESON_EXE_WRAPPER");
  std::string word;
  for (const char* c = wrapper != nullptr ? wrapper : ""; *c != '\0'; ++c) {
    if (*c != ' ') {
      word += *c;
    } else if (!word.empty()) {
      command.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) command.push_back(word);
  command.push_back(std::getenv("LSUV_CLI"));
  command.insert(command.end(), args.begin(), args.end());
  return command;
}

// Starts the program with stdout discarded and stderr into `stderr_path`.
pid_t start_cli(const std::vector<std::string>& args, const std::string& stderr_path) {
  std::vector<std::string> command = cli_command(args);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int out = open("/dev/null", O_WRONLY);
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) _exit(126);
    dup2(out, 1);
    dup2(err, 2);
    std::vector<char*> argv;
    for (std::string& word : command) argv.push_back(&word[0]);
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  return child;
}

// Runs the program to the end; its exit code, and its stderr in *stderr_text.
int run_cli(const std::vector<std::string>& args, std::string* stderr_text) {
  const std::string stderr_path = scratch_path("cli_stderr.txt");
  const pid_t child = start_cli(args, stderr_path);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  const Bytes text = read_file(stderr_path);
  stderr_text->assign(text.begin(), text.end());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// FNV-1a of every file: enough to tell two sets of weights written with other seeds apart.
std::map<std::string, std::uint64_t> digests(const std::string& directory) {
  std::map<std::string, std::uint64_t> result;
  for (const auto& file : directory_bytes(directory)) {
    std::uint64_t hash = 1469598103934665603ull;
    for (unsigned char byte : file.second) hash = (hash ^ byte) * 1099511628211ull;
    result[file.first] = hash;
  }
  return result;
}

}  // namespace

TEST_CASE("lsuv program: outputs that cannot be written are refused before the run") {
  if (std::getenv("LSUV_CLI") == nullptr) {
    MESSAGE("LSUV_CLI is not set (the program is not built): skipped");
    return;
  }
  const std::string spec = scratch_path("small.spec");
  write_text(spec, "input: 1x8x8\nl1: Linear(64, 3)\n");
  // The images do not exist: a check after the run would report them instead.
  const std::string images = scratch_path("missing.idx");
  std::string text;
  CHECK(run_cli({"init", "--spec", spec, "--images", images, "--out", ""}, &text) == 1);
  CHECK(text == "lsuv: writing '': an empty path names no directory\n");
  CHECK(run_cli({"init", "--spec", spec, "--images", images, "--out", scratch_path("no/such/w")},
                &text) == 1);
  CHECK(text == "lsuv: writing " + scratch_path("no/such") + ": no such file or directory\n");
  const std::string directory = scratch_path("output_is_a_directory");
  REQUIRE(mkdir(directory.c_str(), 0777) == 0);
  CHECK(run_cli({"forward", "--spec", spec, "--weights", scratch_path("none"), "--input",
                 scratch_path("none.npy"), "--output", directory},
                &text) == 1);
  CHECK(text == "lsuv: writing " + directory + ": is a directory\n");
}

TEST_CASE("lsuv program: init killed at 20 points leaves the old or the new weights, whole") {
  if (std::getenv("LSUV_CLI") == nullptr) {
    MESSAGE("LSUV_CLI is not set (the program is not built): skipped");
    return;
  }
  // Six 4 MiB weight files, each written and synced: a wide window for a kill between two.
  std::string spec_text = "input: 1024x1x1\n";
  for (int i = 1; i <= 6; ++i) spec_text += "l" + std::to_string(i) + ": Linear(1024, 1024)\n";
  const std::string spec = scratch_path("large.spec");
  write_text(spec, spec_text);
  const std::string parent = scratch_path("");
  const std::string weights = scratch_path("killed_weights");
  const auto init = [&](int seed) {
    return std::vector<std::string>{"init",  "--spec",    spec,     "--out",
                                    weights, "--no-lsuv", "--seed", std::to_string(seed)};
  };
  std::string text;
  REQUIRE(run_cli(init(2), &text) == 0);
  const auto set_2 = digests(weights);
  const auto started = std::chrono::steady_clock::now();
  REQUIRE(run_cli(init(1), &text) == 0);
  const auto run_time = std::chrono::steady_clock::now() - started;
  const auto set_1 = digests(weights);
  REQUIRE(set_1.size() == 12);
  REQUIRE(set_1 != set_2);
  for (const auto& file : set_1) REQUIRE(file.second != set_2.at(file.first));

  constexpr int kKills = 20;
  int kept_old = 0, got_new = 0, left_temporaries = 0;
  for (int kill_point = 0; kill_point < kKills; ++kill_point) {
    const auto before = digests(weights);
    const bool had_1 = before == set_1;
    REQUIRE((had_1 || before == set_2));
    const pid_t child = start_cli(init(had_1 ? 2 : 1), scratch_path("killed_stderr.txt"));
    // Kill points spread over one run's duration: the delay only chooses where the kill lands;
    // what is checked holds wherever it lands.
    std::this_thread::sleep_for(run_time * (2 * kill_point + 1) / (2 * kKills));
    kill(child, SIGKILL);
    REQUIRE(waitpid(child, nullptr, 0) == child);
    const auto after = digests(weights);
    INFO("kill point " << kill_point);
    CHECK((after == set_1 || after == set_2));
    (after == before ? kept_old : got_new) += 1;
    if (!temporaries_of(parent, "killed_weights").empty()) ++left_temporaries;
  }
  MESSAGE("20 kills: " << kept_old << " left the old set, " << got_new << " the new one, "
                       << left_temporaries << " left a temporary behind");
  // The next run removes what the killed ones left.
  REQUIRE(run_cli(init(1), &text) == 0);
  CHECK(digests(weights) == set_1);
  CHECK(temporaries_of(parent, "killed_weights").empty());
}
