// The hostile-input matrix, where it crosses the layers: shapes that disagree between a spec,
// a weights directory and a data file; huge dimensions arriving as text; dead networks;
// arenas one byte short of a re-bind; writers killed mid-file; the `lsuv` program given bad
// files; and the same seed giving the same bits from run to run and process to process.
// (The single-layer cases live next to their code: lsuv_test, npy_test, idx_test, ...)
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "lsuv/io/idx.hpp"
#include "lsuv/io/model_spec.hpp"
#include "lsuv/io/npy.hpp"
#include "lsuv/io/weights.hpp"
#include "lsuv/lsuv.hpp"
#include "support.hpp"

namespace {

using lsuv::Status;
using Bytes = std::vector<unsigned char>;

// A small network in the seed's shape, for 8x8 images: fast enough to run many times.
constexpr char kTinySpec[] =
    "input: 1x8x8\n"
    "conv1: Conv2d(1, 4, kernel_size=3, padding=1)\n"
    "relu1: ReLU()\n"
    "conv2: Conv2d(4, 6, kernel_size=3, padding=1)\n"
    "relu2: ReLU()\n"
    "avg: AdaptiveAvgPool2d(1)\n"
    "l1: Linear(6, 3)\n";

// A directory of this run's files, removed when the test program exits.
struct ScratchRoot {
  ScratchRoot() {
    char name[] = "hostile_test_XXXXXX";
    if (mkdtemp(name) != nullptr) path = name;
  }
  ~ScratchRoot() {
    std::error_code ignored;
    if (!path.empty()) std::filesystem::remove_all(path, ignored);
  }
  std::string path;
};

std::string scratch_root() {
  static const ScratchRoot root;
  REQUIRE_FALSE(root.path.empty());
  return root.path;
}

std::string scratch_path(const std::string& name) {
  return scratch_root() + "/" + name;
}

lsuv::ModelSpec parse(const char* text) {
  lsuv::ModelSpec spec;
  lsuv::SpecError error;
  const Status status = lsuv::parse_model_spec(text, std::strlen(text), &spec, &error);
  INFO(std::string(error.message));
  REQUIRE(status == Status::ok);
  return spec;
}

std::unique_ptr<lsuv_test::BoundModel> make_model(const lsuv::ModelSpec& spec,
                                                  std::int32_t max_batch) {
  return lsuv_test::make_model(spec.layers.data(), spec.count(), spec.input, max_batch);
}

Bytes read_file(const std::string& path) {
  Bytes bytes;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return bytes;
  unsigned char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0)
    bytes.insert(bytes.end(), chunk, chunk + n);
  std::fclose(file);
  return bytes;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  REQUIRE(std::fclose(file) == 0);
}

void write_text(const std::string& path, const char* text) {
  write_file(path, Bytes(text, text + std::strlen(text)));
}

// A plain (not gzipped) IDX image file of `count` images of height x width pixels.
void write_idx_images(const std::string& path, std::uint32_t count, std::uint32_t height,
                      std::uint32_t width, bool blank) {
  Bytes bytes = {0, 0, 0x08, 3};
  for (std::uint32_t dim : {count, height, width})
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes.push_back(static_cast<unsigned char>(dim >> shift));
  std::uint32_t state = 12345;
  for (std::uint32_t i = 0; i < count * height * width; ++i) {
    state = state * 1664525u + 1013904223u;
    bytes.push_back(blank ? 0 : static_cast<unsigned char>(state >> 24));
  }
  write_file(path, bytes);
}

// Every file of a directory with its contents, for "the directory is as it was".
std::vector<std::pair<std::string, Bytes>> directory_contents(const std::string& directory) {
  std::vector<std::pair<std::string, Bytes>> files;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return files;
  while (dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    files.emplace_back(name, read_file(directory + "/" + name));
  }
  closedir(dir);
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::string> files_starting_with(const std::string& directory,
                                             const std::string& prefix) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return names;
  while (dirent* entry = readdir(dir))
    if (std::strncmp(entry->d_name, prefix.c_str(), prefix.size()) == 0)
      names.push_back(entry->d_name);
  closedir(dir);
  return names;
}

std::vector<float> images_8x8(std::size_t count, unsigned seed) {
  return lsuv_test::gaussian_images(count, {8, 8, 1}, seed);
}

Status run_lsuv(lsuv::Model& model, lsuv::BatchSource& source, const lsuv::LsuvOptions& options,
                lsuv::LsuvReport* report) {
  std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(model, source, options) +
                                     lsuv::Arena::kAlignment);
  lsuv::Arena arena(scratch.data(), scratch.size());
  return lsuv::lsuv_initialize(model, source, options, arena, report);
}

}  // namespace

TEST_CASE("hostile: huge dimensions in a spec parse, and configure refuses them as size_overflow") {
  // Every number fits in int32, so the text is valid; the plan's byte counts do not fit.
  const lsuv::ModelSpec wide = parse(
      "input: 1x1048576x1048576\n"
      "conv: Conv2d(1, 1048576, kernel_size=1)\n");
  lsuv::Model model;
  // 2^60 output floats an image: four images overflow a 64-bit byte count.
  CHECK(model.configure(wide.layers.data(), wide.count(), wide.input, 4,
                        lsuv_test::graph(wide.count())) == Status::size_overflow);
  const lsuv::ModelSpec dense = parse(
      "input: 2147483647x1x1\n"
      "l1: Linear(2147483647, 2147483647)\n");
  CHECK(model.configure(dense.layers.data(), dense.count(), dense.input, 1,
                        lsuv_test::graph(dense.count())) == Status::size_overflow);
  // A failed configure leaves a configured model as it was.
  const lsuv::ModelSpec tiny = parse(kTinySpec);
  REQUIRE(model.configure(tiny.layers.data(), tiny.count(), tiny.input, 4,
                          lsuv_test::graph(tiny.count())) == Status::ok);
  const std::size_t bytes = model.required_bytes();
  CHECK(model.configure(dense.layers.data(), dense.count(), dense.input, 1,
                        lsuv_test::graph(dense.count())) == Status::size_overflow);
  CHECK(model.layer_count() == tiny.count());
  CHECK(model.required_bytes() == bytes);
  // Numbers past int32 do not even parse.
  lsuv::ModelSpec spec;
  const char too_big[] = "l1: Linear(2147483648, 1)\n";
  CHECK(lsuv::parse_model_spec(too_big, sizeof too_big - 1, &spec, nullptr) ==
        Status::invalid_argument);
}

TEST_CASE("hostile: zero dimensions are refused by the spec or by configure") {
  lsuv::ModelSpec spec;
  const char zero_input[] = "input: 1x0x8\nl1: Linear(0, 3)\n";
  const Status parsed = lsuv::parse_model_spec(zero_input, sizeof zero_input - 1, &spec, nullptr);
  if (parsed == Status::ok) {
    lsuv::Model model;
    CHECK(model.configure(spec.layers.data(), spec.count(), spec.input, 1,
                          lsuv_test::graph(spec.count())) == Status::invalid_argument);
  } else {
    CHECK(parsed == Status::invalid_argument);
  }
  const char zero_out[] = "input: 1x8x8\nl1: Linear(0, 0)\n";
  CHECK(lsuv::parse_model_spec(zero_out, sizeof zero_out - 1, &spec, nullptr) ==
        Status::invalid_argument);
}

TEST_CASE("hostile: weights written for one spec do not load into a model of another") {
  const std::string directory = scratch_path("other_spec_weights");
  auto writer = make_model(parse(kTinySpec), 2);
  REQUIRE(lsuv::save_weights(writer->model, directory.c_str()) == Status::ok);

  // Each spec differs from kTinySpec in one shape only.
  const char* const others[] = {
      // more output channels in conv2 (and so more inputs to l1)
      "input: 1x8x8\nconv1: Conv2d(1, 4, 3, padding=1)\nrelu1: ReLU()\n"
      "conv2: Conv2d(4, 7, 3, padding=1)\nrelu2: ReLU()\navg: AdaptiveAvgPool2d(1)\n"
      "l1: Linear(7, 3)\n",
      // a 5x5 kernel in conv1
      "input: 1x8x8\nconv1: Conv2d(1, 4, 5, padding=2)\nrelu1: ReLU()\n"
      "conv2: Conv2d(4, 6, 3, padding=1)\nrelu2: ReLU()\navg: AdaptiveAvgPool2d(1)\n"
      "l1: Linear(6, 3)\n",
      // a grouped conv2: its weight file would be (6, 2, 3, 3)
      "input: 1x8x8\nconv1: Conv2d(1, 4, 3, padding=1)\nrelu1: ReLU()\n"
      "conv2: Conv2d(4, 6, 3, padding=1, groups=2)\nrelu2: ReLU()\navg: AdaptiveAvgPool2d(1)\n"
      "l1: Linear(6, 3)\n",
      // Flatten instead of the average pool: l1 sees 6 x 8 x 8 features
      "input: 1x8x8\nconv1: Conv2d(1, 4, 3, padding=1)\nrelu1: ReLU()\n"
      "conv2: Conv2d(4, 6, 3, padding=1)\nrelu2: ReLU()\nflat: Flatten()\n"
      "l1: Linear(384, 3)\n",
  };
  for (const char* text : others) {
    CAPTURE(text);
    auto reader = make_model(parse(text), 2);
    const std::vector<float> before = lsuv_test::snapshot(reader->model);
    CHECK(lsuv::load_weights(reader->model, directory.c_str()) == Status::shape_mismatch);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(reader->model), before));
  }
  // A model with a layer the directory lacks: file_not_found, nothing loaded.
  auto longer = make_model(parse("input: 1x8x8\nconv1: Conv2d(1, 4, 3, padding=1)\n"
                                 "relu1: ReLU()\nconv9: Conv2d(4, 6, 3)\n"),
                           2);
  const std::vector<float> before = lsuv_test::snapshot(longer->model);
  CHECK(lsuv::load_weights(longer->model, directory.c_str()) == Status::file_not_found);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(longer->model), before));
}

TEST_CASE("hostile: LSUV over IDX images of another size is shape_mismatch, model unchanged") {
  const std::string path = scratch_path("images_10x10.idx");
  write_idx_images(path, 16, 10, 10, false);
  lsuv::IdxImages images;
  REQUIRE(images.load(path.c_str()) == Status::ok);
  lsuv::IdxBatchSource source;
  lsuv::IdxBatchOptions options;
  options.batch_size = 4;
  REQUIRE(source.configure(images, options) == Status::ok);

  auto m = make_model(parse(kTinySpec), 4);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  lsuv_test::Report report;
  CHECK(run_lsuv(m->model, source, lsuv::LsuvOptions(), &report) == Status::shape_mismatch);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));

  // The right image size in batches larger than the model was planned for.
  write_idx_images(path, 16, 8, 8, false);
  lsuv::IdxImages right_size;
  REQUIRE(right_size.load(path.c_str()) == Status::ok);
  options.batch_size = 8;
  lsuv::IdxBatchSource big_batches;
  REQUIRE(big_batches.configure(right_size, options) == Status::ok);
  CHECK(run_lsuv(m->model, big_batches, lsuv::LsuvOptions(), &report) == Status::shape_mismatch);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  // And in batches that fit, it runs.
  options.batch_size = 4;
  lsuv::IdxBatchSource fitting;
  REQUIRE(fitting.configure(right_size, options) == Status::ok);
  CHECK(run_lsuv(m->model, fitting, lsuv::LsuvOptions(), &report) == Status::ok);
  std::remove(path.c_str());
}

TEST_CASE("hostile: Inf in a weight or a bias stops LSUV with non_finite, model unchanged") {
  const std::vector<float> images = images_8x8(32, 3);
  lsuv::ArrayBatchSource source(images.data(), 32, {8, 8, 1}, 8);
  for (const bool in_bias : {false, true}) {
    for (const float value :
         {std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity()}) {
      auto m = make_model(parse(kTinySpec), 8);
      const lsuv::Layer& conv2 = m->model.layer(2);
      (in_bias ? conv2.bias : conv2.weights)[1] = value;
      const std::vector<float> before = lsuv_test::snapshot(m->model);
      for (const lsuv::LsuvVariant variant : {lsuv::LsuvVariant::seed, lsuv::LsuvVariant::paper}) {
        lsuv::LsuvOptions options;
        options.variant = variant;
        lsuv_test::Report report;
        CHECK(run_lsuv(m->model, source, options, &report) == Status::non_finite);
        CHECK(report.layers[1].status == lsuv::LsuvLayerStatus::non_finite);
        CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
        // Skipping leaves the poisoned layer alone and still normalises the others.
        options.skip_unnormalisable_layers = true;
        auto copy = make_model(parse(kTinySpec), 8);
        (in_bias ? copy->model.layer(2).bias : copy->model.layer(2).weights)[1] = value;
        const std::vector<float> copy_before = lsuv_test::snapshot(copy->model);
        REQUIRE(run_lsuv(copy->model, source, options, &report) == Status::ok);
        CHECK(report.layers[0].status == lsuv::LsuvLayerStatus::converged);
        CHECK(report.layers[1].status == lsuv::LsuvLayerStatus::non_finite);
        const lsuv::Layer& kept = copy->model.layer(2);
        const std::size_t offset = m->model.layer(0).weight_count + m->model.layer(0).bias_count;
        CHECK(std::memcmp(kept.weights, copy_before.data() + offset,
                          kept.weight_count * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("hostile: a network whose ReLUs are all dead") {
  const std::vector<float> images = images_8x8(32, 4);
  lsuv::ArrayBatchSource source(images.data(), 32, {8, 8, 1}, 8);
  auto m = make_model(parse(kTinySpec), 8);
  // Every bias hugely negative: both ReLUs output zeros on any image.
  for (std::int32_t i = 0; i < m->model.layer_count(); ++i) {
    const lsuv::Layer& layer = m->model.layer(i);
    for (std::size_t k = 0; k < layer.bias_count; ++k) layer.bias[k] = -1e3f;
  }
  const std::vector<float> before = lsuv_test::snapshot(m->model);

  SUBCASE("the seed variant centres each layer first, which revives every ReLU") {
    lsuv_test::Report report;
    REQUIRE(run_lsuv(m->model, source, lsuv::LsuvOptions(), &report) == Status::ok);
    REQUIRE(report.count == 3);
    for (std::int32_t i = 0; i < report.count; ++i) {
      CHECK(report.layers[i].status == lsuv::LsuvLayerStatus::converged);
      CHECK(std::fabs(report.layers[i].mean_after) < 1e-3);
      CHECK(std::fabs(report.layers[i].std_after - 1.0) < 1e-3);
    }
  }
  SUBCASE("the seed variant on the later layers only: conv2 sees zeros, zero_variance") {
    lsuv::LsuvOptions options;
    std::vector<std::int32_t> later;  // every conv2d and linear but conv1 (op 0): it stays dead
    for (std::int32_t i = 1; i < m->model.layer_count(); ++i)
      if (lsuv::has_parameters(m->model.layer(i).spec.kind)) later.push_back(i);
    REQUIRE(later.front() == 2);
    options.layers = later.data();
    options.layer_count = static_cast<std::int32_t>(later.size());
    lsuv_test::Report report;
    CHECK(run_lsuv(m->model, source, options, &report) == Status::zero_variance);
    CHECK(report.layers[0].layer_index == 2);
    CHECK(report.layers[0].status == lsuv::LsuvLayerStatus::zero_variance);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
    options.skip_unnormalisable_layers = true;
    CHECK(run_lsuv(m->model, source, options, &report) == Status::ok);
    CHECK(report.layers[0].status == lsuv::LsuvLayerStatus::zero_variance);
    CHECK(report.layers[1].status == lsuv::LsuvLayerStatus::zero_variance);
    // Nothing could be normalised, so nothing changed.
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  }
  SUBCASE("the paper variant never moves a bias: zero_variance from conv2 on") {
    lsuv::LsuvOptions options;
    options.variant = lsuv::LsuvVariant::paper;
    lsuv_test::Report report;
    CHECK(run_lsuv(m->model, source, options, &report) == Status::zero_variance);
    CHECK(report.layers[1].status == lsuv::LsuvLayerStatus::zero_variance);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  }
}

TEST_CASE("hostile: re-binding into an arena one byte short keeps the old binding and weights") {
  auto m = make_model(parse(kTinySpec), 4);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  const std::size_t bytes = m->model.required_bytes();
  std::vector<unsigned char> other(bytes + lsuv::Arena::kAlignment);
  lsuv::Arena unaligned_start(other.data(), other.size());
  // Align the new arena's start, then leave it one byte short.
  unsigned char* aligned = static_cast<unsigned char*>(unaligned_start.allocate_bytes(1));
  REQUIRE(aligned != nullptr);
  lsuv::Arena short_arena(aligned, bytes - 1);
  CHECK(m->model.bind(short_arena) == Status::arena_too_small);
  CHECK(short_arena.used() == 0);
  CHECK(m->model.bound());
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  const std::vector<float> images = images_8x8(4, 5);
  CHECK(m->model.forward(images.data(), 4) == Status::ok);
}

TEST_CASE("hostile: LSUV's input cache stays inside its scratch when layer 0 is not selected") {
  // Found by tests/fuzz/fuzz_lsuv: the cache was sized for the selected layers' inputs, but it
  // first holds the model's input, which a leading pool (or a masked-out conv) makes larger.
  const lsuv::ModelSpec spec = parse(
      "input: 1x8x8\n"
      "pool: MaxPool2d(2)\n"
      "conv1: Conv2d(1, 4, kernel_size=3, padding=1)\n"
      "relu1: ReLU()\n"
      "avg: AdaptiveAvgPool2d(1)\n"
      "l1: Linear(4, 3)\n");
  auto m = make_model(spec, 4);
  const std::vector<float> images = images_8x8(16, 12);
  lsuv::ArrayBatchSource source(images.data(), 16, {8, 8, 1}, 4);
  const std::int32_t only_l1[] = {m->model.find_layer("l1")};
  for (const bool all : {true, false}) {
    lsuv::LsuvOptions options;
    options.cache = lsuv::LsuvCache::always;
    if (!all) {
      options.layers = only_l1;
      options.layer_count = 1;
    }
    const std::size_t bytes = lsuv::lsuv_scratch_bytes(m->model, source, options);
    REQUIRE(bytes > 0);
    // The scratch is followed by a guard zone that must come back untouched.
    constexpr std::size_t kGuard = 64 * 1024;
    constexpr unsigned char kCanary = 0xA5;
    std::vector<unsigned char> memory(lsuv::Arena::kAlignment + bytes + kGuard, kCanary);
    lsuv::Arena aligner(memory.data(), memory.size());
    unsigned char* start = static_cast<unsigned char*>(aligner.allocate_bytes(1));
    REQUIRE(start != nullptr);
    lsuv::Arena scratch(start, bytes);
    lsuv_test::Report report;
    CHECK(lsuv::lsuv_initialize(m->model, source, options, scratch, &report) == Status::ok);
    CHECK(report.cached_inputs);
    const unsigned char* guard = start + bytes;
    const unsigned char* end = memory.data() + memory.size();
    CHECK(std::count(guard, end, kCanary) == end - guard);
  }
}

TEST_CASE("hostile: a writer killed midway leaves the previous .npy intact and loadable") {
  const std::string name = "killed.npy";
  const std::string path = scratch_path(name);
  const float old_values[] = {1.5f, -2.0f, 3.25f};
  const std::int64_t old_shape[] = {3};
  REQUIRE(lsuv::write_npy(path.c_str(), lsuv::NpyDtype::float32, old_shape, 1, old_values) ==
          Status::ok);
  const Bytes before = read_file(path);

  // 64 MiB: long enough to catch the child with the temporary file partly written.
  const std::int64_t count = std::int64_t{1} << 24;
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::vector<float> big(static_cast<std::size_t>(count), 0.25f);
    const std::int64_t shape[] = {count};
    const Status status =
        lsuv::write_npy(path.c_str(), lsuv::NpyDtype::float32, shape, 1, big.data());
    _exit(status == Status::ok ? 0 : 1);
  }
  // Wait until the temporary file holds some bytes but not all of them, then kill.
  const std::string temporary_prefix = name + ".tmp.";
  bool caught_midway = false;
  for (int attempt = 0; attempt < 200000 && !caught_midway; ++attempt) {
    for (const std::string& temporary : files_starting_with(scratch_root(), temporary_prefix)) {
      struct stat info;
      if (stat(scratch_path(temporary).c_str(), &info) == 0 && info.st_size > 0 &&
          info.st_size < count * 4)
        caught_midway = true;
    }
    if (!caught_midway) usleep(50);
  }
  kill(child, SIGKILL);
  int wait_status = 0;
  REQUIRE(waitpid(child, &wait_status, 0) == child);
  REQUIRE(caught_midway);
  CHECK(WIFSIGNALED(wait_status));

  CHECK(read_file(path) == before);
  lsuv::NpyArray array;
  REQUIRE(lsuv::read_npy(path.c_str(), &array) == Status::ok);
  REQUIRE(array.elements() == 3);
  CHECK(std::memcmp(array.as_float32(), old_values, sizeof old_values) == 0);
  // A killed process cannot clean up: its temporary file stays, under its own name only.
  for (const std::string& temporary : files_starting_with(scratch_root(), temporary_prefix))
    std::remove(scratch_path(temporary).c_str());
  std::remove(path.c_str());
}

// --- determinism ---------------------------------------------------------------------------

namespace {

// Everything a run produces: every parameter bit and every report field, serialised.
Bytes init_and_lsuv(std::uint64_t seed, lsuv::Initializer initializer, lsuv::LsuvOptions options) {
  const lsuv::ModelSpec spec = parse(kTinySpec);
  lsuv::Model model;
  REQUIRE(model.configure(spec.layers.data(), spec.count(), spec.input, 8,
                          lsuv_test::graph(spec.count())) == Status::ok);
  std::vector<unsigned char> memory(model.required_bytes() + lsuv::Arena::kAlignment);
  lsuv::Arena arena(memory.data(), memory.size());
  REQUIRE(model.bind(arena) == Status::ok);
  std::vector<unsigned char> init_scratch(lsuv::initialize_scratch_bytes(model, initializer) +
                                          lsuv::Arena::kAlignment);
  lsuv::Arena init_arena(init_scratch.data(), init_scratch.size());
  lsuv::InitOptions init;
  init.seed = seed;
  REQUIRE(lsuv::initialize(model, initializer, init, init_arena) == Status::ok);

  const std::vector<float> images = images_8x8(40, 6);
  lsuv::ArrayBatchSource source(images.data(), 40, {8, 8, 1}, 8);
  options.seed = seed;
  lsuv_test::Report report;
  REQUIRE(run_lsuv(model, source, options, &report) == Status::ok);

  Bytes out;
  auto append = [&out](const void* data, std::size_t bytes) {
    const unsigned char* p = static_cast<const unsigned char*>(data);
    out.insert(out.end(), p, p + bytes);
  };
  const std::vector<float> parameters = lsuv_test::snapshot(model);
  append(parameters.data(), parameters.size() * sizeof(float));
  append(&report.count, sizeof report.count);
  append(&report.batches, sizeof report.batches);
  append(&report.images, sizeof report.images);
  for (std::int32_t i = 0; i < report.count; ++i) {
    const lsuv::LsuvLayerReport& layer = report.layers[i];
    append(&layer.layer_index, sizeof layer.layer_index);
    for (const double value :
         {layer.mean_before, layer.std_before, layer.mean_after, layer.std_after})
      append(&value, sizeof value);
    append(&layer.iterations, sizeof layer.iterations);
    append(&layer.status, sizeof layer.status);
  }
  return out;
}

// The same run in a child process, its bytes sent back through a pipe.
Bytes init_and_lsuv_in_child(std::uint64_t seed, lsuv::Initializer initializer,
                             const lsuv::LsuvOptions& options) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    close(fds[0]);
    const Bytes bytes = init_and_lsuv(seed, initializer, options);
    std::size_t written = 0;
    while (written < bytes.size()) {
      const ssize_t n = write(fds[1], bytes.data() + written, bytes.size() - written);
      if (n <= 0) _exit(2);
      written += static_cast<std::size_t>(n);
    }
    _exit(0);
  }
  close(fds[1]);
  Bytes bytes;
  unsigned char chunk[4096];
  ssize_t n = 0;
  while ((n = read(fds[0], chunk, sizeof chunk)) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
  close(fds[0]);
  int wait_status = 0;
  REQUIRE(waitpid(child, &wait_status, 0) == child);
  REQUIRE(WIFEXITED(wait_status));
  REQUIRE(WEXITSTATUS(wait_status) == 0);
  return bytes;
}

}  // namespace

TEST_CASE("determinism: the same seed gives bit-identical weights and reports, run to run") {
  struct Case {
    lsuv::Initializer initializer;
    lsuv::LsuvVariant variant;
    bool orthonormal_preinit;
    bool per_channel;
  };
  const Case cases[] = {
      {lsuv::Initializer::pytorch_default, lsuv::LsuvVariant::seed, false, false},
      {lsuv::Initializer::he_normal, lsuv::LsuvVariant::paper, false, true},
      {lsuv::Initializer::orthonormal, lsuv::LsuvVariant::paper, true, false},
  };
  for (const Case& c : cases) {
    CAPTURE(lsuv::initializer_name(c.initializer));
    CAPTURE(lsuv::lsuv_variant_name(c.variant));
    lsuv::LsuvOptions options;
    options.variant = c.variant;
    options.orthonormal_preinit = c.orthonormal_preinit;
    options.per_channel = c.per_channel;
    options.tolerance = 1e-6;
    const Bytes first = init_and_lsuv(7, c.initializer, options);
    REQUIRE(!first.empty());
    CHECK(init_and_lsuv(7, c.initializer, options) == first);
    CHECK(init_and_lsuv_in_child(7, c.initializer, options) == first);
    CHECK(init_and_lsuv_in_child(7, c.initializer, options) == first);
    // The comparison can tell runs apart.
    CHECK(init_and_lsuv(8, c.initializer, options) != first);
  }
}

// --- the lsuv program ------------------------------------------------------------------------

namespace {

struct CliResult {
  int exit_code = -1;
  std::string stderr_text;
};

// The `lsuv` program built with these tests (meson passes its path in LSUV_CLI); null when the
// CLI is not built.
const char* cli_path() {
  return std::getenv("LSUV_CLI");
}

// MESON_EXE_WRAPPER split at spaces (Meson quotes no word of the wrappers we use).
std::vector<std::string> wrapper_words() {
  std::vector<std::string> words;
  const char* wrapper = std::getenv("MESON_EXE_WRAPPER");
  std::string word;
  for (const char* c = wrapper != nullptr ? wrapper : ""; *c != '\0'; ++c) {
    if (*c == ' ') {
      if (!word.empty()) words.push_back(word);
      word.clear();
    } else {
      word += *c;
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

CliResult run_cli(std::vector<std::string> args) {
  const std::string stderr_path = scratch_path("cli_stderr.txt");
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    const int out = open("/dev/null", O_WRONLY);
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0 || err < 0) _exit(126);
    dup2(out, 1);
    dup2(err, 2);
    // In a cross build Meson names the emulator that runs the target's programs (qemu-user).
    std::vector<std::string> command = wrapper_words();
    command.push_back(cli_path());
    command.insert(command.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& word : command) argv.push_back(&word[0]);
    argv.push_back(nullptr);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  int wait_status = 0;
  REQUIRE(waitpid(child, &wait_status, 0) == child);
  CliResult result;
  result.exit_code =
      WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : 128 + WTERMSIG(wait_status);
  const Bytes text = read_file(stderr_path);
  result.stderr_text.assign(text.begin(), text.end());
  return result;
}

// A failure as the program should report it: exit code 1 (not a crash), and a line on stderr.
void check_clean_failure(const CliResult& result) {
  INFO("stderr: " << result.stderr_text);
  CHECK(result.exit_code == 1);
  CHECK(result.stderr_text.rfind("lsuv: ", 0) == 0);
}

}  // namespace

TEST_CASE("hostile: the lsuv program fails cleanly on bad input and keeps its outputs") {
  if (cli_path() == nullptr) {
    MESSAGE("LSUV_CLI is not set (the program is not built): skipped");
    return;
  }
  const std::string spec = scratch_path("tiny.spec");
  write_text(spec, kTinySpec);
  const std::string images = scratch_path("images.idx");
  write_idx_images(images, 32, 8, 8, false);
  const std::string weights = scratch_path("cli_weights");
  const auto init_args = [&](const std::string& spec_path, const std::string& image_path) {
    return std::vector<std::string>{"init",     "--spec",   spec_path,   "--out", weights,
                                    "--images", image_path, "--batches", "2",     "--batch-size",
                                    "8",        "--mean",   "0.5",       "--std", "0.3"};
  };
  // A good run first: the outputs the bad runs must keep.
  REQUIRE(run_cli(init_args(spec, images)).exit_code == 0);
  const auto weights_before = directory_contents(weights);
  REQUIRE(weights_before.size() == 6);

  const std::string input = scratch_path("input.npy");
  const std::vector<float> input_values = images_8x8(2, 9);
  const std::int64_t input_shape[] = {2, 1, 8, 8};
  REQUIRE(lsuv::write_npy(input.c_str(), lsuv::NpyDtype::float32, input_shape, 4,
                          input_values.data()) == Status::ok);
  const std::string output = scratch_path("output.npy");
  REQUIRE(run_cli({"forward", "--spec", spec, "--weights", weights, "--input", input, "--output",
                   output})
              .exit_code == 0);
  const Bytes output_before = read_file(output);
  REQUIRE(!output_before.empty());

  SUBCASE("init: a spec that does not parse") {
    const std::string bad = scratch_path("bad.spec");
    write_text(bad, "input: 1x8x8\nconv1: Conv2d(1, 4, kernel_size=\n");
    check_clean_failure(run_cli(init_args(bad, images)));
  }
  SUBCASE("init: images of another size than the spec's input") {
    const std::string other = scratch_path("images_9x9.idx");
    write_idx_images(other, 32, 9, 9, false);
    check_clean_failure(run_cli(init_args(spec, other)));
  }
  SUBCASE("init: blank images, so LSUV meets zero variance") {
    const std::string blank = scratch_path("blank.idx");
    write_idx_images(blank, 32, 8, 8, true);
    const CliResult result = run_cli(init_args(spec, blank));
    check_clean_failure(result);
    CHECK(result.stderr_text.find("zero_variance") != std::string::npos);
  }
  SUBCASE("init: a truncated IDX file") {
    Bytes bytes = read_file(images);
    bytes.resize(bytes.size() - 1);
    const std::string cut = scratch_path("cut.idx");
    write_file(cut, bytes);
    const CliResult result = run_cli(init_args(spec, cut));
    check_clean_failure(result);
    CHECK(result.stderr_text.find("truncated") != std::string::npos);
  }
  SUBCASE("stats: a weights file with a NaN") {
    const std::string poisoned = scratch_path("poisoned_weights");
    mkdir(poisoned.c_str(), 0777);
    for (const auto& file : weights_before) write_file(poisoned + "/" + file.first, file.second);
    const float bias[] = {0.0f, std::nanf(""), 0.0f};
    const std::int64_t shape[] = {3};
    REQUIRE(lsuv::write_npy((poisoned + "/l1.bias.npy").c_str(), lsuv::NpyDtype::float32, shape, 1,
                            bias) == Status::ok);
    const CliResult result = run_cli({"stats", "--spec", spec, "--weights", poisoned, "--images",
                                      images, "--batches", "2", "--batch-size", "8"});
    check_clean_failure(result);
    // The message names the file and the value (issue 12, item 5).
    CHECK(result.stderr_text ==
          "lsuv: loading " + poisoned + "/l1.bias.npy: NaN at element 1 (C order)\n");
    // And forward with the same weights keeps the old output.
    check_clean_failure(run_cli(
        {"forward", "--spec", spec, "--weights", poisoned, "--input", input, "--output", output}));
  }
  SUBCASE("forward: an input of the wrong shape") {
    const std::int64_t wrong_shape[] = {1, 2, 8, 8};
    REQUIRE(lsuv::write_npy(input.c_str(), lsuv::NpyDtype::float32, wrong_shape, 4,
                            input_values.data()) == Status::ok);
    check_clean_failure(run_cli(
        {"forward", "--spec", spec, "--weights", weights, "--input", input, "--output", output}));
  }
  SUBCASE("forward: an input that is not a .npy file") {
    write_text(input, "not a numpy file");
    check_clean_failure(run_cli(
        {"forward", "--spec", spec, "--weights", weights, "--input", input, "--output", output}));
  }
  SUBCASE("forward: weights for another spec") {
    const std::string other = scratch_path("other.spec");
    write_text(other,
               "input: 1x8x8\nconv1: Conv2d(1, 5, kernel_size=3, padding=1)\nrelu1: ReLU()\n"
               "conv2: Conv2d(5, 6, kernel_size=3, padding=1)\nrelu2: ReLU()\n"
               "avg: AdaptiveAvgPool2d(1)\nl1: Linear(6, 3)\n");
    const CliResult result = run_cli(
        {"forward", "--spec", other, "--weights", weights, "--input", input, "--output", output});
    check_clean_failure(result);
    // The message names the file, the expected and the actual shape (issue 12, item 5).
    CHECK(result.stderr_text == "lsuv: loading " + weights +
                                    "/conv1.weight.npy: shape (5, 1, 3, 3) expected, file has "
                                    "(4, 1, 3, 3)\n");
  }

  CHECK(directory_contents(weights) == weights_before);
  CHECK(read_file(output) == output_before);
}
