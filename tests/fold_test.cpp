// Folding BatchNorm2d into the conv before it: the folded network computes the same outputs.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "graph_models.hpp"
#include "lsuv/fold.hpp"
#include "support.hpp"

namespace {

using lsuv::Status;

// Non-trivial BatchNorm state everywhere: gamma, beta, running mean, positive running variance.
void randomise_batch_norms(const lsuv::Model& model, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    if (layer.spec.kind != lsuv::LayerKind::batch_norm2d) continue;
    for (std::size_t c = 0; c < layer.weight_count; ++c) {
      layer.weights[c] = 1.0f + 0.5f * u(rng);
      layer.bias[c] = u(rng);
      layer.running_mean[c] = 0.3f * u(rng);
      layer.running_var[c] = 0.5f + 0.4f * u(rng);
    }
  }
}

}  // namespace

TEST_CASE("fold: BatchNorm2d folded into its conv gives the same outputs") {
  using lsuv_test::kResidual;
  using lsuv_test::kResidualCount;
  using lsuv_test::kResidualInput;
  auto original = lsuv_test::make_model(kResidual, kResidualCount, kResidualInput, 3);
  randomise_batch_norms(original->model, 4);

  const std::int32_t n = lsuv::folded_layer_count(original->model);
  CHECK(n == kResidualCount - 3);  // stem_bn, b1_bn1 and b1_bn2 fold; no BatchNorm is left
  std::vector<lsuv::LayerSpec> specs(static_cast<std::size_t>(n));
  CHECK(lsuv::fold_batch_norm_specs(original->model, specs.data(), n - 1) ==
        Status::invalid_argument);
  REQUIRE(lsuv::fold_batch_norm_specs(original->model, specs.data(), n) == Status::ok);
  for (const lsuv::LayerSpec& spec : specs) CHECK(spec.kind != lsuv::LayerKind::batch_norm2d);
  // The Add that read b1_bn2 now reads b1_conv2, which gained a bias.
  const auto named = [&](const char* name) {
    return *std::find_if(specs.begin(), specs.end(),
                         [&](const lsuv::LayerSpec& s) { return std::string(s.name) == name; });
  };
  CHECK(std::string(named("b1_add").inputs[0]) == "b1_conv2");
  CHECK(named("b1_conv2").bias);
  CHECK(named("stem").bias);

  auto fused = lsuv_test::make_model(specs.data(), n, kResidualInput, 3);
  REQUIRE(lsuv::fold_batch_norm_parameters(original->model, fused->model) == Status::ok);
  const std::vector<float> images = lsuv_test::gaussian_images(3, kResidualInput, 9);
  REQUIRE(original->model.forward(images.data(), 3) == Status::ok);
  const lsuv::ConstTensorView a = original->model.output();
  const std::vector<float> want(a.data, a.data + a.elements());
  REQUIRE(fused->model.forward(images.data(), 3) == Status::ok);
  const lsuv::ConstTensorView b = fused->model.output();
  REQUIRE(b.elements() == want.size());
  double scale = 0.0, worst = 0.0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(b.data[i] - want[i])));
  }
  MESSAGE("folded against unfolded: worst " << worst / scale << " of max |output|");
  CHECK(worst <= 1e-5 * scale);

  // A model of another network is refused and left as it was.
  const std::vector<float> before = lsuv_test::snapshot(original->model);
  CHECK(lsuv::fold_batch_norm_parameters(fused->model, original->model) == Status::shape_mismatch);
  CHECK(lsuv_test::same_bits(lsuv_test::snapshot(original->model), before));
}
