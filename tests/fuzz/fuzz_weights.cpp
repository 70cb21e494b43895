// Fuzzes load_weights: a weights directory whose files are all valid but one, which holds the
// fuzzer's bytes (the first byte picks which file). The model must change only when every
// file is good, and then hold exactly finite values.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "lsuv/io/weights.hpp"

namespace {

constexpr lsuv::LayerSpec kLayers[] = {
    lsuv::conv2d("conv1", 1, 2, 2),
    lsuv::relu("relu1"),
    lsuv::linear("l1", 0, 3),
};
constexpr const char* kFiles[] = {"conv1.weight.npy", "conv1.bias.npy", "l1.weight.npy",
                                  "l1.bias.npy"};

struct Fixture {
  std::vector<unsigned char> records;
  lsuv::Arena* graph = nullptr;  // the op records, for the program's lifetime
  lsuv::Model model;
  std::vector<unsigned char> memory;
  std::string directory;
  std::vector<std::vector<unsigned char>> valid_files;
};

std::vector<unsigned char> read_all(const std::string& path) {
  std::vector<unsigned char> bytes;
  std::FILE* file = std::fopen(path.c_str(), "rb");
  FUZZ_CHECK(file != nullptr);
  int c = 0;
  while ((c = std::fgetc(file)) != EOF) bytes.push_back(static_cast<unsigned char>(c));
  std::fclose(file);
  return bytes;
}

void write_all(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  FUZZ_CHECK(file != nullptr);
  FUZZ_CHECK(size == 0 || std::fwrite(data, 1, size, file) == size);
  FUZZ_CHECK(std::fclose(file) == 0);
}

Fixture& fixture();

void remove_directory() {
  for (const char* name : kFiles) std::remove((fixture().directory + "/" + name).c_str());
  rmdir(fixture().directory.c_str());
}

// A bound model with distinct parameter values, and a valid directory written from it.
Fixture& fixture() {
  static Fixture* made = [] {
    auto* f = new Fixture;
    f->records.resize(lsuv::Model::graph_bytes(3) + lsuv::Arena::kAlignment);
    f->graph = new lsuv::Arena(f->records.data(), f->records.size());
    FUZZ_CHECK(f->model.configure(kLayers, 3, {3, 3, 1}, 1, *f->graph) == lsuv::Status::ok);
    f->memory.resize(f->model.required_bytes() + lsuv::Arena::kAlignment);
    lsuv::Arena arena(f->memory.data(), f->memory.size());
    FUZZ_CHECK(f->model.bind(arena) == lsuv::Status::ok);
    float value = 0.25f;
    for (std::int32_t i = 0; i < f->model.layer_count(); ++i) {
      const lsuv::Layer& layer = f->model.layer(i);
      for (std::size_t k = 0; k < layer.weight_count; ++k) layer.weights[k] = value += 0.5f;
      for (std::size_t k = 0; k < layer.bias_count; ++k) layer.bias[k] = value -= 0.125f;
    }
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/lsuv_weights_fuzz_XXXXXX";
    FUZZ_CHECK(mkdtemp(&pattern[0]) != nullptr);
    f->directory = pattern;
    FUZZ_CHECK(lsuv::save_weights(f->model, f->directory.c_str()) == lsuv::Status::ok);
    for (const char* name : kFiles) f->valid_files.push_back(read_all(f->directory + "/" + name));
    std::atexit(remove_directory);
    return f;
  }();
  return *made;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Fixture& f = fixture();
  const std::size_t which = data[0] % 4;
  const std::string path = f.directory + "/" + kFiles[which];
  write_all(path, data + 1, size - 1);

  const std::vector<float> before = lsuv_fuzz::parameters(f.model);
  const lsuv::Status status = lsuv::load_weights(f.model, f.directory.c_str());
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(status));
  const std::vector<float> after = lsuv_fuzz::parameters(f.model);
  if (status != lsuv::Status::ok) {
    FUZZ_CHECK(lsuv_fuzz::same_bits(before, after));
  } else {
    for (const float value : after) FUZZ_CHECK(value - value == 0.0f);  // finite
  }
  // Put the valid file and the original parameters back: every input starts the same.
  const std::vector<unsigned char>& valid = f.valid_files[which];
  write_all(path, valid.data(), valid.size());
  FUZZ_CHECK(lsuv::load_weights(f.model, f.directory.c_str()) == lsuv::Status::ok);
  FUZZ_CHECK(lsuv_fuzz::same_bits(before, lsuv_fuzz::parameters(f.model)));
  return 0;
}
