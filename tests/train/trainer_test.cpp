// Trainer: exact memory, a plan whose live blocks never share bytes, partial updates that change
// only what they select (and keep less), refused input that changes nothing, and a few steps
// that learn a small problem.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../graph_models.hpp"
#include "../support.hpp"
#include "lsuv/seed_model.hpp"
#include "lsuv/trainer.hpp"
#include "trainer_support.hpp"

namespace {

using lsuv::Status;

// Each live block of the plan against every other one alive at a common step, and the region.
void check_plan(const lsuv::Trainer& trainer) {
  struct Live {
    std::size_t offset, bytes;
    std::int32_t first, last;
  };
  std::vector<Live> blocks;
  const std::int32_t n = trainer.op_count();
  for (std::int32_t i = 0; i < n; ++i) {
    const lsuv::TrainingOp& op = trainer.op(i);
    if (!op.in_place)
      blocks.push_back({op.output_offset, op.output_bytes, op.output_first, op.output_last});
    if (op.needs_gradient)
      blocks.push_back(
          {op.gradient_offset, op.gradient_bytes, op.gradient_first, op.gradient_last});
    blocks.push_back({op.scratch_offset, op.scratch_bytes, i, i});
    if (op.needs_gradient)
      blocks.push_back(
          {op.backward_scratch_offset, op.backward_scratch_bytes, 2 * n - i, 2 * n - i});
  }
  const lsuv::TrainingMemory memory = trainer.memory();
  std::size_t overlaps = 0;
  for (std::size_t a = 0; a < blocks.size(); ++a) {
    CHECK(blocks[a].offset + blocks[a].bytes <= memory.region_bytes);
    CHECK(blocks[a].first <= blocks[a].last);
    for (std::size_t b = a + 1; b < blocks.size(); ++b) {
      const Live &x = blocks[a], &y = blocks[b];
      if (x.bytes == 0 || y.bytes == 0 || x.last < y.first || y.last < x.first) continue;
      if (x.offset < y.offset + y.bytes && y.offset < x.offset + x.bytes) ++overlaps;
    }
  }
  CHECK(overlaps == 0);
  CHECK(memory.region_lower_bound <= memory.region_bytes);
}

TEST_CASE("trainer: training_bytes is exact, one byte less is arena_too_small") {
  auto m = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                 lsuv_test::kResidualInput, 4);
  for (float momentum : {0.0f, 0.9f}) {
    CAPTURE(momentum);
    lsuv::TrainOptions options;
    options.sgd.momentum = momentum;
    std::vector<unsigned char> records(lsuv::Trainer::plan_bytes(lsuv_test::kResidualCount) + 64);
    lsuv::Arena plan(records.data(), records.size());
    lsuv::Trainer trainer;
    REQUIRE(trainer.configure(m->model, options, plan) == Status::ok);
    check_plan(trainer);
    const std::size_t bytes = trainer.training_bytes();
    const lsuv::TrainingMemory memory = trainer.memory();
    CHECK(bytes == memory.gradient_bytes + memory.velocity_bytes + memory.region_bytes);
    CHECK((momentum == 0.0f ? memory.velocity_bytes == 0
                            : memory.velocity_bytes == memory.gradient_bytes));
    CHECK(memory.gradient_bytes >= memory.trainable_values * sizeof(float));
    unsigned char* const buffer = lsuv_test::shared_buffer();
    REQUIRE(bytes <= lsuv_test::kSharedBufferBytes);
    lsuv::Arena short_arena(buffer, bytes - 1);
    CHECK(trainer.bind(short_arena) == Status::arena_too_small);
    CHECK(short_arena.used() == 0);
    CHECK_FALSE(trainer.bound());
    lsuv::Arena exact(buffer, bytes);
    CHECK(trainer.bind(exact) == Status::ok);
    CHECK(exact.used() == bytes);
    CHECK(trainer.bound());
  }
}

TEST_CASE("trainer: configure refuses bad options and too small a plan arena, unchanged") {
  auto m = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                 lsuv_test::kResidualInput, 2);
  alignas(lsuv::Arena::kAlignment) static unsigned char records[8192];
  const std::size_t exact = lsuv::Trainer::plan_bytes(lsuv_test::kResidualCount);
  REQUIRE(exact <= sizeof records);
  lsuv::Trainer trainer;
  const auto configure = [&](const lsuv::TrainOptions& options, std::size_t bytes) {
    lsuv::Arena plan(records, bytes);
    const Status status = trainer.configure(m->model, options, plan);
    if (status != Status::ok) CHECK(plan.used() == 0);
    return status;
  };
  lsuv::TrainOptions options;
  CHECK(configure(options, exact - 1) == Status::arena_too_small);
  CHECK(trainer.training_bytes() == 0);
  const char* unknown[] = {"no_such_op"};
  options.trainable.frozen = unknown;
  options.trainable.frozen_count = 1;
  CHECK(configure(options, exact) == Status::invalid_argument);
  // Freezing everything that reaches the loss leaves nothing to train.
  options = {};
  options.trainable.last_layers = 1;
  const char* fc[] = {"fc"};
  options.trainable.frozen = fc;
  options.trainable.frozen_count = 1;
  CHECK(configure(options, exact) == Status::invalid_argument);
  options = {};
  options.sgd.momentum = 1.0f;
  CHECK(configure(options, exact) == Status::invalid_argument);
  options = {};
  options.max_batch = -1;
  CHECK(configure(options, exact) == Status::invalid_argument);
  CHECK(trainer.training_bytes() == 0);
  // The exact plan_bytes is enough.
  options = {};
  CHECK(configure(options, exact) == Status::ok);
  CHECK(trainer.training_bytes() > 0);

  // Cross-entropy needs one vector per image.
  constexpr lsuv::LayerSpec spatial[] = {lsuv::conv2d("c", 1, 2, 3)};
  auto s = lsuv_test::make_model(spatial, 1, {5, 5, 1}, 1);
  lsuv::Arena plan(records, sizeof records);
  CHECK(trainer.configure(s->model, lsuv::TrainOptions(), plan) == Status::shape_mismatch);
  lsuv::TrainOptions mse;
  mse.loss = lsuv::LossKind::mse;
  CHECK(trainer.configure(s->model, mse, plan) == Status::ok);
}

// Bytes of a plan with this selection, and after one step whether each op's weights and bias
// changed.
struct PartialRun {
  std::size_t bytes = 0;
  std::vector<bool> weights_changed, bias_changed;
};

// Every batch norm's running mean and variance, which training never changes.
std::vector<float> running_statistics(const lsuv::Model& model) {
  std::vector<float> all;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& l = model.layer(i);
    if (l.spec.kind != lsuv::LayerKind::batch_norm2d) continue;
    all.insert(all.end(), l.running_mean, l.running_mean + l.weight_count);
    all.insert(all.end(), l.running_var, l.running_var + l.weight_count);
  }
  return all;
}

PartialRun run_partial(const lsuv::TrainableSelection& selection) {
  const std::int32_t batch = 4;
  auto m = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                 lsuv_test::kResidualInput, batch);
  std::mt19937 gen(41);
  lsuv_test::randomize_batch_norms(m->model, gen);
  lsuv::TrainOptions options;
  options.trainable = selection;
  options.sgd.momentum = 0.9f;
  lsuv_test::BoundTrainer t(m->model, options);
  check_plan(t.trainer);
  const lsuv::Model& model = m->model;
  std::vector<std::vector<float>> before;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& l = model.layer(i);
    before.emplace_back(l.weights, l.weights + l.weight_count);
    before.back().insert(before.back().end(), l.bias, l.bias + l.bias_count);
  }
  const std::vector<float> running_before = running_statistics(model);
  const std::vector<float> images = lsuv_test::gaussian_images(batch, lsuv_test::kResidualInput, 3);
  const std::vector<std::int32_t> labels = {0, 1, 2, 3};
  REQUIRE(t.trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr) == Status::ok);
  PartialRun run;
  run.bytes = t.trainer.training_bytes();
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& l = model.layer(i);
    const std::vector<float>& old = before[static_cast<std::size_t>(i)];
    run.weights_changed.push_back(l.weight_count > 0 &&
                                  std::memcmp(old.data(), l.weights, l.weight_count * 4) != 0);
    run.bias_changed.push_back(l.bias_count > 0 && std::memcmp(old.data() + l.weight_count, l.bias,
                                                               l.bias_count * 4) != 0);
  }
  CHECK(lsuv_test::same_bits(running_statistics(model), running_before));
  return run;
}

TEST_CASE("trainer: partial updates change only the selected parameters and keep less") {
  using lsuv_test::kResidual;
  const auto index = [](const char* name) {
    for (std::int32_t i = 0; i < lsuv_test::kResidualCount; ++i)
      if (std::string(kResidual[i].name) == name) return static_cast<std::size_t>(i);
    FAIL("no op " << name);
    return std::size_t{0};
  };
  const PartialRun all = run_partial({});
  const char* frozen_names[] = {"stem", "stem_bn", "b2_conv2"};
  lsuv::TrainableSelection frozen;
  frozen.frozen = frozen_names;
  frozen.frozen_count = 3;
  const PartialRun some = run_partial(frozen);
  lsuv::TrainableSelection bias_only;
  bias_only.bias_only = true;
  const PartialRun biases = run_partial(bias_only);
  lsuv::TrainableSelection last;
  last.last_layers = 1;
  const PartialRun head = run_partial(last);
  MESSAGE("training bytes, batch 4: all " << all.bytes << ", 3 ops frozen " << some.bytes
                                          << ", bias only " << biases.bytes << ", last layer "
                                          << head.bytes);
  CHECK(some.bytes < all.bytes);
  CHECK(biases.bytes < all.bytes);
  CHECK(head.bytes < biases.bytes);

  for (std::int32_t i = 0; i < lsuv_test::kResidualCount; ++i) {
    const std::size_t k = static_cast<std::size_t>(i);
    CAPTURE(std::string(kResidual[i].name));
    const bool has_weights = lsuv::has_parameters(kResidual[i].kind) ||
                             kResidual[i].kind == lsuv::LayerKind::batch_norm2d;
    const bool has_bias =
        has_weights && (kResidual[i].kind == lsuv::LayerKind::batch_norm2d || kResidual[i].bias);
    const bool dead = k == index("dead");
    CHECK(all.weights_changed[k] == (has_weights && !dead));
    CHECK(all.bias_changed[k] == (has_bias && !dead));
    const bool is_frozen = k == index("stem") || k == index("stem_bn") || k == index("b2_conv2");
    CHECK(some.weights_changed[k] == (has_weights && !dead && !is_frozen));
    CHECK(some.bias_changed[k] == (has_bias && !dead && !is_frozen));
    CHECK_FALSE(biases.weights_changed[k]);
    CHECK(biases.bias_changed[k] == (has_bias && !dead));
    CHECK(head.weights_changed[k] == (k == index("fc")));
    CHECK(head.bias_changed[k] == (k == index("fc")));
  }
}

TEST_CASE("trainer: refused steps change no parameter") {
  const std::int32_t batch = 2;
  auto m = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                 lsuv_test::kResidualInput, batch);
  lsuv::TrainOptions options;
  options.sgd.momentum = 0.5f;
  std::vector<unsigned char> records(lsuv::Trainer::plan_bytes(lsuv_test::kResidualCount) + 64);
  lsuv::Arena plan(records.data(), records.size());
  lsuv::Trainer trainer;
  REQUIRE(trainer.configure(m->model, options, plan) == Status::ok);
  std::vector<float> images = lsuv_test::gaussian_images(batch, lsuv_test::kResidualInput, 9);
  std::vector<std::int32_t> labels = {1, 3};
  const std::vector<float> targets(batch * 5, 0.0f);
  CHECK(trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr) ==
        Status::not_bound);
  std::vector<unsigned char> memory(trainer.training_bytes() + 64);
  lsuv::Arena arena(memory.data(), memory.size());
  REQUIRE(trainer.bind(arena) == Status::ok);
  // A first good step, so that velocities are non-zero and must survive the refusals too.
  REQUIRE(trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr) == Status::ok);
  const std::vector<float> before = lsuv_test::snapshot(m->model);
  const auto refused = [&](Status expected, auto&& step) {
    CHECK(step() == expected);
    CHECK(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
  };
  refused(Status::invalid_argument,
          [&] { return trainer.train_step(nullptr, labels.data(), batch, 0.1f, nullptr); });
  refused(Status::invalid_argument, [&] {
    return trainer.train_step(images.data(), static_cast<const std::int32_t*>(nullptr), batch, 0.1f,
                              nullptr);
  });
  refused(Status::invalid_argument,
          [&] { return trainer.train_step(images.data(), labels.data(), 0, 0.1f, nullptr); });
  refused(Status::invalid_argument, [&] {
    return trainer.train_step(images.data(), labels.data(), batch + 1, 0.1f, nullptr);
  });
  refused(Status::invalid_argument,
          [&] { return trainer.train_step(images.data(), labels.data(), batch, -1.0f, nullptr); });
  refused(Status::invalid_argument,
          [&] { return trainer.train_step(images.data(), labels.data(), batch, NAN, nullptr); });
  refused(Status::invalid_argument,
          [&] { return trainer.train_step(images.data(), targets.data(), batch, 0.1f, nullptr); });
  labels[1] = 5;
  refused(Status::invalid_argument,
          [&] { return trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr); });
  labels[1] = -1;
  refused(Status::invalid_argument,
          [&] { return trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr); });
  labels[1] = 3;
  images[7] = NAN;
  refused(Status::non_finite,
          [&] { return trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr); });
  images[7] = INFINITY;
  refused(Status::non_finite,
          [&] { return trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr); });
  // The same step as a refused one, once the input is good again, goes through.
  images[7] = 0.5f;
  CHECK(trainer.train_step(images.data(), labels.data(), batch, 0.1f, nullptr) == Status::ok);
  CHECK_FALSE(lsuv_test::same_bits(lsuv_test::snapshot(m->model), before));
}

// Three classes of 8x8 images, each a bright quadrant plus noise: separable by a small conv net.
void make_problem(std::int32_t count, std::mt19937& gen, std::vector<float>* images,
                  std::vector<std::int32_t>* labels) {
  std::normal_distribution<float> noise(0.0f, 0.3f);
  images->assign(static_cast<std::size_t>(count) * 64, 0.0f);
  labels->resize(static_cast<std::size_t>(count));
  for (std::int32_t b = 0; b < count; ++b) {
    const std::int32_t label = b % 3;
    (*labels)[static_cast<std::size_t>(b)] = label;
    for (std::int32_t y = 0; y < 8; ++y)
      for (std::int32_t x = 0; x < 8; ++x) {
        const bool bright = (label == 0 && y < 4 && x < 4) || (label == 1 && y >= 4 && x >= 4) ||
                            (label == 2 && y < 4 && x >= 4);
        (*images)[static_cast<std::size_t>(b) * 64 + static_cast<std::size_t>(y) * 8 + x] =
            (bright ? 1.0f : 0.0f) + noise(gen);
      }
  }
}

TEST_CASE("trainer: a few steps of SGD with momentum learn a small problem") {
  constexpr lsuv::LayerSpec net[] = {
      lsuv::conv2d("c1", 1, 4, 3).with_padding(1),
      lsuv::relu("r1"),
      lsuv::max_pool2d("mp", 2),
      lsuv::conv2d("c2", 4, 8, 3).with_padding(1),
      lsuv::relu("r2"),
      lsuv::adaptive_avg_pool2d("gap"),
      lsuv::linear("fc", 8, 3),
  };
  const std::int32_t batch = 12;
  auto m = lsuv_test::make_model(net, 7, {8, 8, 1}, batch, lsuv::Initializer::he_normal);
  lsuv::TrainOptions options;
  options.sgd.momentum = 0.9f;
  lsuv_test::BoundTrainer t(m->model, options);
  std::mt19937 gen(5);
  std::vector<float> images;
  std::vector<std::int32_t> labels;
  float first = 0.0f, last = 0.0f;
  std::int32_t correct_at_end = 0;
  for (int step = 0; step < 40; ++step) {
    make_problem(batch, gen, &images, &labels);
    lsuv::TrainStepReport report;
    REQUIRE(t.trainer.train_step(images.data(), labels.data(), batch, 0.1f, &report) == Status::ok);
    CHECK(std::isfinite(report.gradient_norm));
    if (step == 0) first = report.loss;
    if (step >= 35) {
      last += report.loss / 5.0f;
      correct_at_end += report.correct;
    }
  }
  MESSAGE("loss " << first << " -> " << last << ", " << correct_at_end << " of 60 right");
  CHECK(first > 0.9f);  // about log 3 at the start
  CHECK(last < 0.5f * first);
  CHECK(correct_at_end > 45);
}

}  // namespace
