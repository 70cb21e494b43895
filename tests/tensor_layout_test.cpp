// NCHW <-> NHWC, and the PyTorch layout of a model's output after the op that fixed it.
#include <doctest/doctest.h>

#include <vector>

#include "lsuv/io/tensor_layout.hpp"
#include "support.hpp"

TEST_CASE("tensor layout: NCHW and NHWC convert both ways") {
  const lsuv::ImageShape shape = {1, 2, 3};  // H, W, C
  // Two images, NCHW: value = 100 b + 10 c + w.
  std::vector<float> nchw;
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 3; ++c)
      for (int w = 0; w < 2; ++w) nchw.push_back(static_cast<float>(100 * b + 10 * c + w));
  std::vector<float> nhwc(nchw.size());
  lsuv::nchw_to_nhwc(nchw.data(), 2, shape, nhwc.data());
  CHECK(nhwc == std::vector<float>{0, 10, 20, 1, 11, 21, 100, 110, 120, 101, 111, 121});
  std::vector<float> back(nchw.size());
  lsuv::nhwc_to_nchw(nhwc.data(), 2, shape, back.data());
  CHECK(back == nchw);
}

namespace {

// A 2x2x2 input through `layers` whose first op is a ReLU, so the output is the input's
// values, rearranged only by the layout.
std::vector<float> run(const lsuv::LayerSpec* layers, int count, lsuv::TorchOutputLayout* layout) {
  auto bound = lsuv_test::make_model(layers, count, {2, 2, 2}, 1);
  // NHWC: value = 10 c + p (p = h * 2 + w).
  const float input[] = {0, 10, 1, 11, 2, 12, 3, 13};
  REQUIRE(bound->model.forward(input, 1) == lsuv::Status::ok);
  *layout = lsuv::torch_output_layout(bound->model);
  std::vector<float> out(bound->model.output().elements());
  lsuv::output_to_torch(bound->model, 1, out.data());
  return out;
}

const std::vector<float> kChw = {0, 1, 2, 3, 10, 11, 12, 13};

}  // namespace

TEST_CASE("tensor layout: an image output is N, C, H, W") {
  const lsuv::LayerSpec layers[] = {lsuv::relu("r")};
  lsuv::TorchOutputLayout layout;
  CHECK(run(layers, 1, &layout) == kChw);
  CHECK(!layout.flat);
  CHECK(layout.order == lsuv::ImageShape{2, 2, 2});
}

TEST_CASE("tensor layout: Flatten then ReLU, or Flatten then Flatten, is flat in C x H x W order") {
  // Before the fix, the op after Flatten decided: features in H x W x C order, and (N, F, 1, 1)
  // after the ReLU.
  const lsuv::LayerSpec relu_after[] = {lsuv::relu("r"), lsuv::flatten("f"), lsuv::relu("r2")};
  const lsuv::LayerSpec twice[] = {lsuv::relu("r"), lsuv::flatten("f"), lsuv::flatten("f2")};
  for (const lsuv::LayerSpec* layers : {relu_after, twice}) {
    lsuv::TorchOutputLayout layout;
    CHECK(run(layers, 3, &layout) == kChw);
    CHECK(layout.flat);
    CHECK(layout.order == lsuv::ImageShape{2, 2, 2});
  }
}

TEST_CASE("tensor layout: Linear then ReLU is (N, F)") {
  auto bound = lsuv_test::make_model(
      std::vector<lsuv::LayerSpec>{lsuv::linear("l", 8, 3), lsuv::relu("r")}.data(), 2, {2, 2, 2},
      1);
  const float input[8] = {};
  REQUIRE(bound->model.forward(input, 1) == lsuv::Status::ok);
  const lsuv::TorchOutputLayout layout = lsuv::torch_output_layout(bound->model);
  CHECK(layout.flat);
  CHECK(layout.order.elements() == 3);
}

TEST_CASE("tensor layout: the walk back follows each op's first input, not the op before") {
  // The last op adds a Flatten (its first input) and a Linear that runs after that Flatten:
  // walking back op by op would stop at the Linear and keep H x W x C order.
  const lsuv::LayerSpec layers[] = {
      lsuv::relu("r"),
      lsuv::flatten("f"),
      lsuv::linear("l", 8, 8).with_input("r"),
      lsuv::add("sum", "f", "l"),
  };
  auto bound = lsuv_test::make_model(layers, 4, {2, 2, 2}, 1);
  const lsuv::Layer& linear = bound->model.layer(2);
  for (std::size_t k = 0; k < linear.weight_count; ++k) linear.weights[k] = 0.0f;
  for (std::size_t k = 0; k < linear.bias_count; ++k) linear.bias[k] = 0.0f;
  const float input[] = {0, 10, 1, 11, 2, 12, 3, 13};
  REQUIRE(bound->model.forward(input, 1) == lsuv::Status::ok);
  const lsuv::TorchOutputLayout layout = lsuv::torch_output_layout(bound->model);
  CHECK(layout.flat);
  CHECK(layout.order == lsuv::ImageShape{2, 2, 2});
  std::vector<float> out(8);
  lsuv::output_to_torch(bound->model, 1, out.data());
  CHECK(out == kChw);
}
