// The int8 seed model on Fashion-MNIST: LSUV-initialised in float on some test-set images,
// quantised on others, then compared with its float model on the rest (the 10,000-image file
// only: the training file takes seconds to unpack under an emulator).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "lsuv/io/idx.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/seed_model.hpp"
#include "quantized_support.hpp"

namespace {

using lsuv::Status;

std::int32_t argmax(const float* v, std::int32_t n) {
  return static_cast<std::int32_t>(std::max_element(v, v + n) - v);
}

}  // namespace

TEST_CASE("quantize: the int8 seed model agrees with its float model on Fashion-MNIST") {
  const std::string dir = lsuv::fashion_mnist::kDefaultDirectory;
  const std::string test = dir + "/" + lsuv::fashion_mnist::kTestImages;
  lsuv::IdxImages test_images;
  if (!std::filesystem::exists(test) || test_images.load(test.c_str()) != Status::ok) {
    MESSAGE("skipped: the Fashion-MNIST data set is absent or this build cannot read it");
    return;
  }
  auto f = lsuv_test::make_model(lsuv::kSeedLayers, lsuv::kSeedLayerCount, lsuv::kSeedInput, 64);
  const auto source_of = [](const lsuv::IdxImages& images, std::int32_t first, std::int32_t count) {
    lsuv::IdxBatchOptions options;
    options.first_image = first;
    options.image_count = count;
    options.batch_size = 64;
    options.mean = lsuv::fashion_mnist::kMean;
    options.std = lsuv::fashion_mnist::kStd;
    auto source = std::make_unique<lsuv::IdxBatchSource>();
    REQUIRE(source->configure(images, options) == Status::ok);
    return source;
  };
  auto lsuv_source = source_of(test_images, 1024, 256);
  std::vector<unsigned char> scratch(1 << 23);
  lsuv::Arena arena(scratch.data(), scratch.size());
  REQUIRE(lsuv::lsuv_initialize(f->model, *lsuv_source, lsuv::LsuvOptions(), arena, nullptr) ==
          Status::ok);
  auto calibration = source_of(test_images, 2048, 256);
  auto q = lsuv_test::quantized(f->model, *calibration);

  auto held_out = source_of(test_images, 0, 512);
  std::vector<float> images(64 * lsuv::kSeedInput.elements());
  std::vector<float> logits(64 * 10);
  std::int32_t agree = 0, total = 0;
  double worst = 0.0, largest = 0.0;
  for (std::int32_t b = 0; b < held_out->batch_count(); ++b) {
    std::int32_t n = 0;
    REQUIRE(held_out->read(b, images.data(), &n) == Status::ok);
    REQUIRE(f->model.forward(images.data(), n) == Status::ok);
    REQUIRE(q->model.forward(images.data(), n) == Status::ok);
    REQUIRE(q->model.dequantize_output(logits.data(), static_cast<std::size_t>(n) * 10) ==
            Status::ok);
    const float* want = f->model.output().data;
    for (std::int32_t i = 0; i < n; ++i) {
      agree += argmax(want + 10 * i, 10) == argmax(logits.data() + 10 * i, 10) ? 1 : 0;
      ++total;
    }
    for (std::int32_t i = 0; i < 10 * n; ++i) {
      largest = std::max(largest, static_cast<double>(std::fabs(want[i])));
      worst = std::max(worst, static_cast<double>(std::fabs(logits[i] - want[i])));
    }
  }
  const double agreement = static_cast<double>(agree) / total;
  const std::string note = "int8 vs float seed model (LSUV init), " + std::to_string(total) +
                           " test images: argmax agreement " + std::to_string(agreement) +
                           ", worst logit error " + std::to_string(worst / largest) +
                           " of max |logit|";
  MESSAGE(note);
  CHECK(total == 512);
  CHECK(worst / largest < 0.06);
  CHECK(agreement >= 0.95);
}
