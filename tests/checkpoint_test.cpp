// Checkpoints: a round trip restores parameters, velocities and the run's state exactly; every
// damaged, truncated or mismatched file is refused with its own status and changes nothing.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "lsuv/io/checkpoint.hpp"
#include "lsuv/trainer.hpp"

namespace {

// A bound model and a trainer with momentum (so velocities exist) over conv1 and the linear
// layer, or over that only when `freeze_conv`.
struct Fixture {
  explicit Fixture(bool freeze_conv = false, const char* linear_name = "l1") {
    layers[0] = lsuv::conv2d("conv1", 1, 2, 2);
    layers[1] = lsuv::relu("relu1");
    layers[2] = lsuv::flatten("flat");
    layers[3] = lsuv::linear(linear_name, 8, 3);
    lsuv::Arena graph(records, sizeof records);
    REQUIRE(model.configure(layers, 4, {3, 3, 1}, 2, graph) == lsuv::Status::ok);
    memory.resize(model.required_bytes() + lsuv::Arena::kAlignment);
    lsuv::Arena arena(memory.data(), memory.size());
    REQUIRE(model.bind(arena) == lsuv::Status::ok);
    lsuv::TrainOptions options;
    options.sgd.momentum = 0.9f;
    options.trainable.frozen = frozen;
    options.trainable.frozen_count = freeze_conv ? 1 : 0;
    lsuv::Arena plan(plan_records, sizeof plan_records);
    REQUIRE(trainer.configure(model, options, plan) == lsuv::Status::ok);
    training.resize(trainer.training_bytes() + lsuv::Arena::kAlignment);
    lsuv::Arena train_arena(training.data(), training.size());
    REQUIRE(trainer.bind(train_arena) == lsuv::Status::ok);
    fill(0.25f);
  }
  // Distinct values in every parameter and velocity.
  void fill(float start) {
    float value = start;
    for (std::int32_t i = 0; i < model.layer_count(); ++i) {
      const lsuv::Layer& layer = model.layer(i);
      for (std::size_t k = 0; k < layer.weight_count; ++k) layer.weights[k] = value += 0.5f;
      for (std::size_t k = 0; k < layer.bias_count; ++k) layer.bias[k] = value -= 0.125f;
      const lsuv::TrainingOp& op = trainer.op(i);
      for (std::size_t k = 0; op.weight_velocity != nullptr && k < layer.weight_count; ++k)
        op.weight_velocity[k] = value += 0.0625f;
      for (std::size_t k = 0; op.bias_velocity != nullptr && k < layer.bias_count; ++k)
        op.bias_velocity[k] = value -= 0.03125f;
    }
  }
  // Parameters then velocities, as bits.
  std::vector<std::uint32_t> snapshot() const {
    std::vector<float> values(model.parameter_count());
    REQUIRE(model.copy_parameters_to(values.data(), values.size()) == lsuv::Status::ok);
    for (std::int32_t i = 0; i < model.layer_count(); ++i) {
      const lsuv::TrainingOp& op = trainer.op(i);
      if (op.weight_velocity != nullptr)
        values.insert(values.end(), op.weight_velocity,
                      op.weight_velocity + model.layer(i).weight_count);
      if (op.bias_velocity != nullptr)
        values.insert(values.end(), op.bias_velocity, op.bias_velocity + model.layer(i).bias_count);
    }
    std::vector<std::uint32_t> bits(values.size());
    std::memcpy(bits.data(), values.data(), 4 * values.size());
    return bits;
  }

  lsuv::LayerSpec layers[4];
  const char* frozen[1] = {"conv1"};
  alignas(lsuv::Arena::kAlignment) unsigned char records[lsuv::Model::graph_bytes(4)];
  alignas(lsuv::Arena::kAlignment) unsigned char plan_records[lsuv::Trainer::plan_bytes(4)];
  lsuv::Model model;
  lsuv::Trainer trainer;
  std::vector<unsigned char> memory, training;
};

std::string path_of(const std::string& name) {
  return std::filesystem::temp_directory_path().string() + "/lsuv_checkpoint_test_" +
         std::to_string(getpid()) + "_" + name;
}

std::string slurp(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

lsuv::TrainingState some_state() {
  lsuv::TrainingState state;
  state.step = 1234567890123;
  state.schedule_step = 42;
  state.order_state = 0x0123456789abcdefULL;
  state.order_increment = 0xfedcba9876543211ULL;
  state.run_fingerprint = 0xC0FFEE;
  return state;
}

}  // namespace

TEST_CASE("checkpoint: crc32 is the IEEE CRC-32 (zlib's)") {
  CHECK(lsuv::crc32("123456789", 9) == 0xCBF43926u);
  CHECK(lsuv::crc32("", 0) == 0u);
  CHECK(lsuv::crc32("6789", 4, lsuv::crc32("12345", 5)) == 0xCBF43926u);
}

TEST_CASE("checkpoint: a round trip restores parameters, velocities and the state exactly") {
  Fixture saved;
  const std::string path = path_of("round.ckpt");
  const lsuv::TrainingState state = some_state();
  lsuv::FileError error;
  REQUIRE(lsuv::save_checkpoint(path.c_str(), saved.model, saved.trainer, state, &error) ==
          lsuv::Status::ok);
  CHECK(slurp(path).size() == lsuv::checkpoint_bytes(saved.model, saved.trainer));
  Fixture loaded;
  loaded.fill(-3.0f);
  lsuv::TrainingState read;
  REQUIRE(lsuv::load_checkpoint(path.c_str(), loaded.model, loaded.trainer, state.run_fingerprint,
                                &read, &error) == lsuv::Status::ok);
  CHECK(loaded.snapshot() == saved.snapshot());
  CHECK(read.step == state.step);
  CHECK(read.schedule_step == state.schedule_step);
  CHECK(read.order_state == state.order_state);
  CHECK(read.order_increment == state.order_increment);
  std::filesystem::remove(path);
}

TEST_CASE("checkpoint: damaged, truncated and mismatched files change nothing") {
  Fixture saved;
  const std::string path = path_of("good.ckpt");
  const lsuv::TrainingState state = some_state();
  REQUIRE(lsuv::save_checkpoint(path.c_str(), saved.model, saved.trainer, state) ==
          lsuv::Status::ok);
  const std::string good = slurp(path);
  const std::string bad_path = path_of("bad.ckpt");

  Fixture target;
  target.fill(7.0f);
  const std::vector<std::uint32_t> before = target.snapshot();
  const auto load = [&](const std::string& bytes, std::uint32_t fingerprint = 0xC0FFEE) {
    spit(bad_path, bytes);
    lsuv::TrainingState read;
    read.step = -7;
    lsuv::FileError error;
    const lsuv::Status status = lsuv::load_checkpoint(bad_path.c_str(), target.model,
                                                      target.trainer, fingerprint, &read, &error);
    CHECK(target.snapshot() == before);
    CHECK(read.step == -7);
    CHECK(std::string(error.message) != "");
    return status;
  };
  for (std::size_t at : {std::size_t{0}, std::size_t{20}, good.size() / 2, good.size() - 1}) {
    std::string flipped = good;
    flipped[at] = static_cast<char>(flipped[at] ^ 1);
    CAPTURE(at);
    CHECK(load(flipped) == lsuv::Status::bad_format);
  }
  for (std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{40}, good.size() - 1})
    CHECK(load(good.substr(0, size)) == lsuv::Status::truncated);
  CHECK(load(good + std::string(3, '\0')) == lsuv::Status::bad_format);
  CHECK(load(good + std::string(5000, '\0')) == lsuv::Status::shape_mismatch);
  CHECK(load(good, 0xBAD) == lsuv::Status::invalid_argument);
  std::string version = good;
  version[8] = 2;
  CHECK(load(version) == lsuv::Status::unsupported);
  CHECK(load("PK\x03\x04 a zip file, not a checkpoint") == lsuv::Status::bad_format);

  // Another selection of what trains (no velocity for conv1), another model of the same size.
  Fixture frozen(true);
  REQUIRE(lsuv::save_checkpoint(path.c_str(), frozen.model, frozen.trainer, state) ==
          lsuv::Status::ok);
  CHECK(load(slurp(path)) == lsuv::Status::shape_mismatch);
  Fixture renamed(false, "l2");
  REQUIRE(lsuv::save_checkpoint(path.c_str(), renamed.model, renamed.trainer, state) ==
          lsuv::Status::ok);
  CHECK(slurp(path).size() == good.size());
  CHECK(load(slurp(path)) == lsuv::Status::shape_mismatch);
  std::filesystem::remove(path);
  std::filesystem::remove(bad_path);
}

TEST_CASE("checkpoint: NaN in a CRC-valid file is refused; unbound or bad arguments too") {
  Fixture saved;
  const std::string path = path_of("nan.ckpt");
  REQUIRE(lsuv::save_checkpoint(path.c_str(), saved.model, saved.trainer, some_state()) ==
          lsuv::Status::ok);
  std::string bytes = slurp(path);
  const std::uint32_t nan_bits = 0x7FC00000u;
  std::memcpy(&bytes[72 + 4], &nan_bits, 4);  // the second parameter
  const std::size_t body = bytes.size() - 4;
  const std::uint32_t crc = lsuv::crc32(bytes.data(), body);
  for (int i = 0; i < 4; ++i) bytes[body + i] = static_cast<char>(crc >> (8 * i));
  spit(path, bytes);
  Fixture target;
  const std::vector<std::uint32_t> before = target.snapshot();
  lsuv::TrainingState read;
  CHECK(lsuv::load_checkpoint(path.c_str(), target.model, target.trainer, 0xC0FFEE, &read) ==
        lsuv::Status::non_finite);
  CHECK(target.snapshot() == before);
  CHECK(lsuv::load_checkpoint(path.c_str(), target.model, target.trainer, 0xC0FFEE, nullptr) ==
        lsuv::Status::invalid_argument);
  lsuv::TrainingState even = some_state();
  even.order_increment = 2;
  CHECK(lsuv::save_checkpoint(path.c_str(), saved.model, saved.trainer, even) ==
        lsuv::Status::invalid_argument);
  lsuv::Trainer unbound;
  CHECK(lsuv::save_checkpoint(path.c_str(), saved.model, unbound, some_state()) ==
        lsuv::Status::not_bound);
  std::filesystem::remove(path);
}
