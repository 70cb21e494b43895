// Fuzzes load_checkpoint on the fuzzer's bytes as a checkpoint file of a small model trained
// with momentum. When the first byte is odd, the rest gets a correct CRC appended, so that the
// fuzzer reaches the checks behind the CRC (counts, signature, fingerprint, values). A refused
// file must leave parameters and velocities exactly as they were; an accepted one holds only
// finite values.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "lsuv/io/checkpoint.hpp"
#include "lsuv/trainer.hpp"

namespace {

constexpr lsuv::LayerSpec kLayers[] = {
    lsuv::conv2d("conv1", 1, 2, 2),
    lsuv::relu("relu1"),
    lsuv::linear("l1", 0, 3),
};
constexpr std::uint32_t kFingerprint = 0x5EED;

struct Fixture {
  std::vector<unsigned char> records, plan, memory, training;
  lsuv::Model model;
  lsuv::Trainer trainer;
  std::string path;
};

void remove_file();

Fixture& fixture() {
  static Fixture* made = [] {
    auto* f = new Fixture;
    f->records.resize(lsuv::Model::graph_bytes(3) + lsuv::Arena::kAlignment);
    lsuv::Arena graph(f->records.data(), f->records.size());
    FUZZ_CHECK(f->model.configure(kLayers, 3, {3, 3, 1}, 1, graph) == lsuv::Status::ok);
    f->memory.resize(f->model.required_bytes() + lsuv::Arena::kAlignment);
    lsuv::Arena arena(f->memory.data(), f->memory.size());
    FUZZ_CHECK(f->model.bind(arena) == lsuv::Status::ok);
    lsuv::TrainOptions options;
    options.sgd.momentum = 0.5f;
    f->plan.resize(lsuv::Trainer::plan_bytes(3) + lsuv::Arena::kAlignment);
    lsuv::Arena plan(f->plan.data(), f->plan.size());
    FUZZ_CHECK(f->trainer.configure(f->model, options, plan) == lsuv::Status::ok);
    f->training.resize(f->trainer.training_bytes() + lsuv::Arena::kAlignment);
    lsuv::Arena training(f->training.data(), f->training.size());
    FUZZ_CHECK(f->trainer.bind(training) == lsuv::Status::ok);
    float value = 0.25f;
    for (std::int32_t i = 0; i < f->model.layer_count(); ++i) {
      const lsuv::Layer& layer = f->model.layer(i);
      for (std::size_t k = 0; k < layer.weight_count; ++k) layer.weights[k] = value += 0.5f;
      for (std::size_t k = 0; k < layer.bias_count; ++k) layer.bias[k] = value -= 0.125f;
    }
    const char* tmp = std::getenv("TMPDIR");
    f->path = std::string(tmp != nullptr ? tmp : "/tmp") + "/lsuv_checkpoint_fuzz_" +
              std::to_string(getpid()) + ".ckpt";
    std::atexit(remove_file);
    return f;
  }();
  return *made;
}

void remove_file() {
  std::remove(fixture().path.c_str());
}

// Parameters, then every velocity.
std::vector<float> state(const Fixture& f) {
  std::vector<float> values = lsuv_fuzz::parameters(f.model);
  for (std::int32_t i = 0; i < f.trainer.op_count(); ++i) {
    const lsuv::TrainingOp& op = f.trainer.op(i);
    if (op.weight_velocity != nullptr)
      values.insert(values.end(), op.weight_velocity,
                    op.weight_velocity + f.model.layer(i).weight_count);
    if (op.bias_velocity != nullptr)
      values.insert(values.end(), op.bias_velocity, op.bias_velocity + f.model.layer(i).bias_count);
  }
  return values;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  Fixture& f = fixture();
  std::vector<unsigned char> bytes(data + 1, data + size);
  if ((data[0] & 1u) != 0) {
    const std::uint32_t crc = lsuv::crc32(bytes.data(), bytes.size());
    for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<unsigned char>(crc >> (8 * i)));
  }
  std::FILE* file = std::fopen(f.path.c_str(), "wb");
  FUZZ_CHECK(file != nullptr);
  FUZZ_CHECK(bytes.empty() || std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  FUZZ_CHECK(std::fclose(file) == 0);

  const std::vector<float> before = state(f);
  lsuv::TrainingState loaded;
  loaded.step = -1;
  const lsuv::Status status =
      lsuv::load_checkpoint(f.path.c_str(), f.model, f.trainer, kFingerprint, &loaded);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(status));
  const std::vector<float> after = state(f);
  if (status != lsuv::Status::ok) {
    FUZZ_CHECK(loaded.step == -1);
    FUZZ_CHECK(lsuv_fuzz::same_bits(before, after));
    return 0;
  }
  FUZZ_CHECK(loaded.step >= 0 && loaded.schedule_step >= 0 && (loaded.order_increment & 1u) == 1);
  for (const float value : after) FUZZ_CHECK(value - value == 0.0f);  // finite
  // Every input starts from the same model: write it back as it was.
  std::vector<float> parameters(
      before.begin(), before.begin() + static_cast<std::ptrdiff_t>(f.model.parameter_count()));
  FUZZ_CHECK(f.model.copy_parameters_from(parameters.data(), parameters.size()) ==
             lsuv::Status::ok);
  const float* velocity = before.data() + parameters.size();
  for (std::int32_t i = 0; i < f.trainer.op_count(); ++i) {
    const lsuv::TrainingOp& op = f.trainer.op(i);
    for (std::size_t k = 0; op.weight_velocity != nullptr && k < f.model.layer(i).weight_count; ++k)
      op.weight_velocity[k] = *velocity++;
    for (std::size_t k = 0; op.bias_velocity != nullptr && k < f.model.layer(i).bias_count; ++k)
      op.bias_velocity[k] = *velocity++;
  }
  return 0;
}
