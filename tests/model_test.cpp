#include <doctest/doctest.h>

#include <vector>

#include "lsuv/model.hpp"
#include "lsuv/seed_model.hpp"

using lsuv::kSeedLayers;

TEST_CASE("the seed's model plans the shapes PyTorch computes") {
  lsuv::Model model;
  REQUIRE(model.configure(kSeedLayers, 10, {28, 28, 1}, 64) == lsuv::Status::ok);
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
  REQUIRE(model.configure(kSeedLayers, 10, {28, 28, 1}, 4) == lsuv::Status::ok);
  const std::size_t bytes = model.required_bytes();
  REQUIRE(bytes > 0);
  alignas(lsuv::Arena::kAlignment) static unsigned char buffer[1 << 20];
  REQUIRE(bytes <= sizeof buffer);
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
