// The int8 model: quantised from a float model on calibration data, it computes the float
// model's outputs within the quantisation error, at every kernel level bit for bit alike, in a
// fraction of the float model's memory; bad inputs and damaged parameters are refused.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "graph_models.hpp"
#include "lsuv/cpu.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/seed_model.hpp"
#include "quantized_support.hpp"

namespace {

using lsuv::Status;

struct Net {
  const lsuv::LayerSpec* layers;
  std::int32_t count;
  lsuv::ImageShape input;
};

// LSUV on the calibration images gives every layer unit-variance outputs: activations of the
// range a trained network has, so the error measured means something.
void lsuv_init(lsuv::Model& model, lsuv::BatchSource& source) {
  std::vector<unsigned char> scratch(1 << 22);
  lsuv::Arena arena(scratch.data(), scratch.size());
  REQUIRE(lsuv::lsuv_initialize(model, source, lsuv::LsuvOptions(), arena, nullptr) == Status::ok);
}

// Largest |int8 output dequantised - float output| over max |float output|.
double relative_error(lsuv::Model& f, lsuv::QuantizedModel& q, const float* images,
                      std::int32_t batch) {
  REQUIRE(f.forward(images, batch) == Status::ok);
  REQUIRE(q.forward(images, batch) == Status::ok);
  const lsuv::ConstTensorView want = f.output();
  std::vector<float> got(want.elements());
  REQUIRE(q.dequantize_output(got.data(), got.size()) == Status::ok);
  double scale = 0.0, worst = 0.0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    scale = std::max(scale, static_cast<double>(std::fabs(want.data[i])));
    worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want.data[i])));
  }
  return worst / scale;
}

}  // namespace

TEST_CASE("quantize: int8 graph networks follow their float models within quantisation error") {
  lsuv_test::LevelGuard guard;
  for (const Net& net :
       {Net{lsuv_test::kResidual, lsuv_test::kResidualCount, lsuv_test::kResidualInput},
        Net{lsuv_test::kDepthwise, lsuv_test::kDepthwiseCount, lsuv_test::kDepthwiseInput},
        Net{lsuv::kSeedLayers, lsuv::kSeedLayerCount, {12, 12, 1}}}) {
    CAPTURE(net.layers[0].name);
    auto original = lsuv_test::make_model(net.layers, net.count, net.input, 8);
    const std::vector<float> calibration = lsuv_test::gaussian_images(32, net.input, 3);
    lsuv::ArrayBatchSource source(calibration.data(), 32, net.input, 8);
    lsuv_init(original->model, source);
    auto f = lsuv_test::folded_copy(original->model);
    for (auto range :
         {lsuv::QuantizeOptions::Range::min_max, lsuv::QuantizeOptions::Range::mean_std}) {
      lsuv::QuantizeOptions options;
      options.range = range;
      auto q = lsuv_test::quantized(f->model, source, options);
      const std::vector<float> held_out = lsuv_test::gaussian_images(8, net.input, 4);
      const double error = relative_error(f->model, q->model, held_out.data(), 8);
      const bool min_max = range == lsuv::QuantizeOptions::Range::min_max;
      const std::string note = std::string(net.layers[0].name) +
                               (min_max ? " min/max" : " mean/std") + ": worst output error " +
                               std::to_string(error) + " of max |output|";
      MESSAGE(note);
      CHECK(error < 0.06);
      CHECK(error > 0.0);  // int8 is not float: the comparison measures something

      // Every kernel level the machine has computes the same codes.
      REQUIRE(q->model.forward(held_out.data(), 8) == Status::ok);
      const lsuv::BasicTensorView<const std::int8_t> best = q->model.output();
      const std::vector<std::int8_t> want(best.data, best.data + best.elements());
      for (int level = 0; level <= static_cast<int>(lsuv::cpu_level_detected()); ++level) {
        CAPTURE(level);
        if (lsuv::set_cpu_level_limit(static_cast<lsuv::CpuLevel>(level)) != Status::ok) continue;
        REQUIRE(q->model.forward(held_out.data(), 8) == Status::ok);
        const lsuv::BasicTensorView<const std::int8_t> out = q->model.output();
        CHECK(std::memcmp(out.data, want.data(), want.size()) == 0);
      }
      (void)lsuv::set_cpu_level_limit(lsuv::cpu_level_detected());
    }
  }
}

TEST_CASE("quantize: fused clamps, shared scales and the network input's codes") {
  auto original = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                        lsuv_test::kResidualInput, 4);
  auto f = lsuv_test::folded_copy(original->model);
  const std::vector<float> calibration =
      lsuv_test::gaussian_images(8, lsuv_test::kResidualInput, 5);
  lsuv::ArrayBatchSource source(calibration.data(), 8, lsuv_test::kResidualInput, 4);
  auto q = lsuv_test::quantized(f->model, source);
  const lsuv::QuantizedModel& m = q->model;
  const auto at = [&](const char* name) { return m.layer(f->model.find_layer(name)); };
  // ReLU after the stem is fused: the stem's codes stop at its zero point (real 0).
  CHECK(at("stem_relu").fused);
  CHECK(at("stem").output_min == at("stem").output_quant.zero_point);
  // ReLU6 after b2_conv1: also an upper code, that of 6.0 (or 127 if 6 is beyond the range).
  CHECK(at("b2_relu6").fused);
  const lsuv::QuantParams r6 = at("b2_conv1").output_quant;
  CHECK(at("b2_conv1").output_max ==
        std::min<std::int32_t>(
            127, r6.zero_point + static_cast<std::int32_t>(std::lround(6.0 / r6.scale))));
  // The Hardtanh after a three-way add is fused into it; the add with ReLU clamps at zero.
  CHECK(at("b2_clip").fused);
  CHECK(at("b1_add").output_min == at("b1_add").output_quant.zero_point);
  // Pooling and Flatten keep their input's codes.
  CHECK(at("pool").output_quant.scale == at("b2_add").output_quant.scale);
  CHECK(at("flat").output_quant.zero_point == at("b2_add").output_quant.zero_point);
  // mean -+ 2 std clips the Gaussian input's tails: a finer scale than its min/max.
  lsuv::QuantizeOptions narrow;
  narrow.range = lsuv::QuantizeOptions::Range::mean_std;
  narrow.std_multiple = 2.0;
  auto clipped = lsuv_test::quantized(f->model, source, narrow);
  CHECK(clipped->model.input_quant().scale < 0.8f * m.input_quant().scale);
  // Gaussian input in [min, max] with 0 inside: the zero point is a code well inside int8.
  CHECK(m.input_quant().zero_point > -100);
  CHECK(m.input_quant().zero_point < 100);
  // Per-channel weights use the whole int8 range: some weight of each channel is +-127.
  const lsuv::QuantizedLayer& stem = at("stem");
  for (std::int32_t o = 0; o < stem.channels; ++o) {
    int largest = 0;
    for (std::size_t w = o; w < stem.weight_count; w += stem.channels)
      largest = std::max(largest, std::abs(static_cast<int>(stem.weights[w])));
    CHECK(largest == 127);
  }
}

TEST_CASE("quantize: the int8 seed model's arena is under 30% of the float model's") {
  auto f = lsuv_test::make_model(lsuv::kSeedLayers, lsuv::kSeedLayerCount, lsuv::kSeedInput, 64);
  auto q = lsuv_test::configure_quantized(f->model);
  const std::size_t float_bytes = f->model.required_bytes();
  const std::size_t int8_bytes = q->model.required_bytes();
  MESSAGE("seed model, batch 64: float arena " << float_bytes << " bytes, int8 arena " << int8_bytes
                                               << " bytes");
  CHECK(int8_bytes * 10 <= float_bytes * 3);
  // The plan is exact: bind takes required_bytes() and no more.
  std::vector<unsigned char> memory(int8_bytes + lsuv::Arena::kAlignment);
  lsuv::Arena exact(
      memory.data() + (lsuv::Arena::kAlignment -
                       reinterpret_cast<std::uintptr_t>(memory.data()) % lsuv::Arena::kAlignment),
      int8_bytes);
  lsuv::QuantizedModel again = q->model;
  CHECK(again.bind(exact) == Status::ok);
  CHECK(exact.used() == int8_bytes);
  lsuv::Arena short_by_one(memory.data(), int8_bytes - 1);
  lsuv::QuantizedModel unbound;
  CHECK(unbound.bind(short_by_one) == Status::invalid_argument);  // not configured
}

TEST_CASE("quantize: refusals leave the int8 model as it was") {
  auto original = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                        lsuv_test::kResidualInput, 4);
  auto f = lsuv_test::folded_copy(original->model);
  std::vector<float> images = lsuv_test::gaussian_images(8, lsuv_test::kResidualInput, 6);
  lsuv::ArrayBatchSource source(images.data(), 8, lsuv_test::kResidualInput, 4);

  // A BatchNorm that is not folded.
  std::vector<unsigned char> graph(lsuv::QuantizedModel::graph_bytes(lsuv_test::kResidualCount) +
                                   64);
  lsuv::Arena graph_arena(graph.data(), graph.size());
  lsuv::QuantizedModel refused;
  CHECK(refused.configure(original->model, graph_arena) == Status::unsupported);
  CHECK(graph_arena.used() == 0);
  lsuv::Arena tiny_graph(graph.data(), 100);
  CHECK(refused.configure(f->model, tiny_graph) == Status::arena_too_small);

  auto q = lsuv_test::quantized(f->model, source);
  std::vector<unsigned char> scratch(lsuv::quantize_scratch_bytes(f->model, source) + 64);
  const auto quantize_with = [&](lsuv::BatchSource& s, lsuv::Model& model, std::size_t bytes) {
    lsuv::Arena arena(scratch.data(), bytes);
    return lsuv::quantize(model, s, {}, arena, q->model);
  };
  const lsuv::QuantParams before = q->model.layer(0).output_quant;
  const std::int32_t multiplier = q->model.layer(0).multiplier[0];
  CHECK(quantize_with(source, f->model, 100) == Status::arena_too_small);
  // Another network.
  auto other = lsuv_test::make_model(lsuv_test::kDepthwise, lsuv_test::kDepthwiseCount,
                                     lsuv_test::kDepthwiseInput, 4);
  CHECK(quantize_with(source, other->model, scratch.size()) == Status::invalid_argument);
  // Batches larger than the model takes.
  lsuv::ArrayBatchSource large(images.data(), 8, lsuv_test::kResidualInput, 8);
  CHECK(quantize_with(large, f->model, scratch.size()) == Status::invalid_argument);
  // NaN in the calibration data.
  images[17] = NAN;
  CHECK(quantize_with(source, f->model, scratch.size()) == Status::non_finite);
  CHECK(q->model.layer(0).output_quant.scale == before.scale);
  CHECK(q->model.layer(0).multiplier[0] == multiplier);
  images[17] = 0.0f;
  // An Inf weight.
  const float kept = f->model.layer(0).weights[3];
  f->model.layer(0).weights[3] = INFINITY;
  CHECK(quantize_with(source, f->model, scratch.size()) == Status::non_finite);
  f->model.layer(0).weights[3] = kept;
  CHECK(quantize_with(source, f->model, scratch.size()) == Status::ok);

  // Forward's own refusals; NaN pixels read as real 0.
  CHECK(q->model.forward(static_cast<const float*>(nullptr), 1) == Status::invalid_argument);
  CHECK(q->model.forward(images.data(), 5) == Status::invalid_argument);
  float out[5 * 4];
  CHECK(q->model.dequantize_output(out, 5) == Status::invalid_argument);  // no forward yet
  images[0] = NAN;
  REQUIRE(q->model.forward(images.data(), 4) == Status::ok);
  CHECK(q->model.dequantize_output(out, 5) == Status::invalid_argument);
  CHECK(q->model.dequantize_output(out, 20) == Status::ok);
  for (float v : out) CHECK(std::isfinite(v));
}

TEST_CASE("quantize: check_parameters refuses every damaged parameter") {
  auto original = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                        lsuv_test::kResidualInput, 2);
  auto f = lsuv_test::folded_copy(original->model);
  const std::vector<float> images = lsuv_test::gaussian_images(4, lsuv_test::kResidualInput, 7);
  lsuv::ArrayBatchSource source(images.data(), 4, lsuv_test::kResidualInput, 2);
  auto q = lsuv_test::quantized(f->model, source);
  lsuv::QuantizedModel& m = q->model;
  const auto refused = [&](auto&& damage, auto&& repair) {
    damage();
    const Status status = m.check_parameters();
    repair();
    return status == Status::bad_format && m.check_parameters() == Status::ok;
  };
  lsuv::QuantizedLayer& stem = m.mutable_layer(0);
  const std::int32_t add = f->model.find_layer("b1_add");
  const std::int32_t pool = f->model.find_layer("pool");
  lsuv::QuantizedLayer& join = m.mutable_layer(add);
  const lsuv::QuantParams input = m.input_quant();
  CHECK(refused([&] { m.set_input_quant({0.0f, 0}); }, [&] { m.set_input_quant(input); }));
  CHECK(refused([&] { m.set_input_quant({NAN, 0}); }, [&] { m.set_input_quant(input); }));
  CHECK(refused([&] { m.set_input_quant({1.0f, 128}); }, [&] { m.set_input_quant(input); }));
  const std::int32_t mult = stem.multiplier[2];
  CHECK(refused([&] { stem.multiplier[2] = 5; }, [&] { stem.multiplier[2] = mult; }));
  const std::int32_t shift = stem.shift[1];
  CHECK(refused([&] { stem.shift[1] = 31; }, [&] { stem.shift[1] = shift; }));
  const std::int32_t bias = stem.bias[0];
  CHECK(refused([&] { stem.bias[0] = INT32_MAX; }, [&] { stem.bias[0] = bias; }));
  const float ws = stem.weight_scale[0];
  CHECK(refused([&] { stem.weight_scale[0] = -1.0f; }, [&] { stem.weight_scale[0] = ws; }));
  CHECK(refused([&] { stem.output_min = 100, stem.output_max = 99; },
                [&] { stem.output_min = stem.output_quant.zero_point, stem.output_max = 127; }));
  const std::int32_t add_shift = join.add_shift[1];
  CHECK(refused([&] { join.add_shift[1] = 1; }, [&] { join.add_shift[1] = add_shift; }));
  CHECK(refused([&] { join.add_left_shift = 21; }, [&] { join.add_left_shift = 20; }));
  const lsuv::QuantParams pooled = m.layer(pool).output_quant;
  CHECK(refused([&] { m.mutable_layer(pool).output_quant.zero_point ^= 1; },
                [&] { m.mutable_layer(pool).output_quant = pooled; }));
  lsuv::QuantizedModel unbound;
  CHECK(unbound.check_parameters() == Status::not_bound);
  CHECK(unbound.forward(images.data(), 1) == Status::not_bound);
}
