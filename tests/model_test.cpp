#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "graph_memory.hpp"
#include "lsuv/model.hpp"
#include "lsuv/seed_model.hpp"
#include "support.hpp"

using lsuv::kSeedLayers;

TEST_CASE("the seed's model plans the shapes PyTorch computes") {
  lsuv::Model model;
  REQUIRE(model.configure(kSeedLayers, 10, {28, 28, 1}, 64, lsuv_test::graph(10)) ==
          lsuv::Status::ok);
  CHECK(model.layer(0).output == lsuv::ImageShape{13, 13, 8});
  CHECK(model.layer(2).output == lsuv::ImageShape{15, 15, 16});
  CHECK(model.layer(4).output == lsuv::ImageShape{17, 17, 32});
  CHECK(model.layer(6).output == lsuv::ImageShape{19, 19, 32});
  CHECK(model.layer(8).output == lsuv::ImageShape{1, 1, 32});
  CHECK(model.output_shape() == lsuv::ImageShape{1, 1, 10});
  CHECK(model.layer(0).weight_count == 8 * 25);
  CHECK(model.layer(6).weight_count == 32 * 32 * 9);
}

TEST_CASE("required_bytes is exact: one byte less fails, the count itself binds") {
  lsuv::Model model;
  REQUIRE(model.configure(kSeedLayers, 10, {28, 28, 1}, 4, lsuv_test::graph(10)) ==
          lsuv::Status::ok);
  const std::size_t bytes = model.required_bytes();
  REQUIRE(bytes > 0);
  unsigned char* const buffer = lsuv_test::shared_buffer();
  REQUIRE(bytes <= lsuv_test::kSharedBufferBytes);
  {
    lsuv::Arena small(buffer, bytes - 1);
    CHECK(model.bind(small) == lsuv::Status::arena_too_small);
    CHECK_FALSE(model.bound());
  }
  lsuv::Arena exact(buffer, bytes);
  CHECK(model.bind(exact) == lsuv::Status::ok);
  CHECK(model.bound());
  CHECK(exact.used() == bytes);
}

TEST_CASE("parameters copy out and back in, in layer order, and bad calls change nothing") {
  lsuv::Model model;
  REQUIRE(model.configure(kSeedLayers, 10, {28, 28, 1}, 1, lsuv_test::graph(10)) ==
          lsuv::Status::ok);
  std::vector<float> values(model.parameter_count());
  CHECK(values.size() == 8 * 25 + 8 + 16 * 72 + 16 + 32 * 144 + 32 + 32 * 288 + 32 + 320 + 10);
  CHECK(model.copy_parameters_to(values.data(), values.size()) == lsuv::Status::not_bound);
  std::vector<unsigned char> memory(model.required_bytes() + lsuv::Arena::kAlignment);
  lsuv::Arena arena(memory.data(), memory.size());
  REQUIRE(model.bind(arena) == lsuv::Status::ok);

  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i);
  REQUIRE(model.copy_parameters_from(values.data(), values.size()) == lsuv::Status::ok);
  CHECK(model.layer(0).weights[0] == 0.0f);
  CHECK(model.layer(0).bias[0] == 200.0f);     // conv1's 200 weights come first
  CHECK(model.layer(2).weights[0] == 208.0f);  // then its 8 biases, then conv2
  CHECK(model.layer(9).bias[9] == static_cast<float>(values.size() - 1));

  std::vector<float> copy(values.size());
  REQUIRE(model.copy_parameters_to(copy.data(), copy.size()) == lsuv::Status::ok);
  CHECK(copy == values);
  CHECK(model.copy_parameters_to(copy.data(), copy.size() - 1) == lsuv::Status::invalid_argument);
  CHECK(model.copy_parameters_from(nullptr, copy.size()) == lsuv::Status::invalid_argument);
  const std::vector<float> shorter(values.size() - 1, -1.0f);
  CHECK(model.copy_parameters_from(shorter.data(), shorter.size()) ==
        lsuv::Status::invalid_argument);
  CHECK(model.layer(0).weights[5] == 5.0f);
}

TEST_CASE("copy_parameters_from refuses NaN and Inf as non_finite and changes nothing") {
  lsuv::Model model;
  REQUIRE(model.configure(kSeedLayers, 10, {28, 28, 1}, 1, lsuv_test::graph(10)) ==
          lsuv::Status::ok);
  std::vector<unsigned char> memory(model.required_bytes() + lsuv::Arena::kAlignment);
  lsuv::Arena arena(memory.data(), memory.size());
  REQUIRE(model.bind(arena) == lsuv::Status::ok);
  std::vector<float> values(model.parameter_count());
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(i) * 0.001f;
  REQUIRE(model.copy_parameters_from(values.data(), values.size()) == lsuv::Status::ok);

  const float bad_values[] = {std::numeric_limits<float>::quiet_NaN(),
                              std::numeric_limits<float>::infinity(),
                              -std::numeric_limits<float>::infinity()};
  for (const float bad : bad_values) {
    for (const std::size_t at : {std::size_t{0}, std::size_t{200}, values.size() - 1}) {
      CAPTURE(at);
      std::vector<float> poisoned(values.size(), 7.0f);
      poisoned[at] = bad;
      CHECK(model.copy_parameters_from(poisoned.data(), poisoned.size()) ==
            lsuv::Status::non_finite);
      std::vector<float> now(values.size());
      REQUIRE(model.copy_parameters_to(now.data(), now.size()) == lsuv::Status::ok);
      CHECK(now == values);
    }
  }
}
