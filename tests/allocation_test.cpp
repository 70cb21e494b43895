// Proves the promise "forward, LSUV and a training step never allocate": every operator new and
// (on glibc) every malloc in this test program is counted, and the count must not move across
// those calls.
#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <new>
#include <vector>

#include "graph_models.hpp"
#include "lsuv/batch_source.hpp"
#include "lsuv/lsuv_initialize.hpp"
#include "lsuv/lsuv_int8.hpp"
#include "lsuv/seed_model.hpp"
#include "lsuv/trainer.hpp"
#include "quantized_support.hpp"
#include "support.hpp"

namespace {
std::atomic<long> g_allocations{0};
}  // namespace

// Sanitizers interpose malloc themselves (GCC says so with __SANITIZE_ADDRESS__, clang with
// __has_feature): then only operator new is counted.
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer) || \
    __has_feature(thread_sanitizer)
#define LSUV_TEST_SANITIZED 1
#endif
#endif
#if defined(__GLIBC__) && !defined(__SANITIZE_ADDRESS__) && !defined(LSUV_TEST_SANITIZED)
// glibc lets a program interpose malloc and reach the real one by its internal name.
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void* malloc(std::size_t size) {
  ++g_allocations;
  return __libc_malloc(size);
}
extern "C" void* calloc(std::size_t n, std::size_t size) {
  ++g_allocations;
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, std::size_t size) {
  ++g_allocations;
  return __libc_realloc(p, size);
}
#define LSUV_TEST_COUNTS_MALLOC 1
static void* uncounted_malloc(std::size_t size) {
  return __libc_malloc(size);
}
#else
static void* uncounted_malloc(std::size_t size) {
  return std::malloc(size);
}
#endif

void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = uncounted_malloc(size == 0 ? 1 : size)) return p;
  std::abort();
}
void* operator new[](std::size_t size) {
  return operator new(size);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++g_allocations;
  return uncounted_malloc(size == 0 ? 1 : size);
}
void* operator new[](std::size_t size, const std::nothrow_t& tag) noexcept {
  return operator new(size, tag);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

namespace {

constexpr lsuv::LayerSpec kNet[] = {
    lsuv::conv2d("conv1", 1, 4, 3).with_stride(2).with_padding(1),
    lsuv::relu("relu1"),
    lsuv::conv2d("conv2", 4, 8, 3).with_padding(1),
    lsuv::relu("relu2"),
    lsuv::avg_pool2d("pool", 2),
    lsuv::conv2d("dw", 8, 8, 3).with_padding(1).with_groups(8),
    lsuv::adaptive_avg_pool2d("avg"),
    lsuv::linear("l1", 8, 3),
};
constexpr lsuv::ImageShape kInput = {12, 12, 1};

template <class F>
long allocations_during(F&& f) {
  const long before = g_allocations.load();
  f();
  return g_allocations.load() - before;
}

}  // namespace

TEST_CASE("the allocation counter sees allocations (so a zero below means something)") {
  // A direct call: unlike a new-expression, the compiler may not elide it.
  CHECK(allocations_during([] { ::operator delete(::operator new(4)); }) == 1);
#ifdef LSUV_TEST_COUNTS_MALLOC
  CHECK(allocations_during([] {
          void* volatile block = std::malloc(16);  // volatile: clang may elide a malloc/free pair
          std::free(block);
        }) == 1);
#else
  MESSAGE("malloc is not interposed on this platform: only operator new is counted");
#endif
}

TEST_CASE("forward and LSUV allocate nothing") {
  auto m = lsuv_test::make_model(kNet, 8, kInput, 4);
  const std::vector<float> images = lsuv_test::gaussian_images(14, kInput, 1);
  lsuv::ArrayBatchSource source(images.data(), 14, kInput, 4);

  lsuv::Status status = lsuv::Status::invalid_argument;
  CHECK(allocations_during([&] { status = m->model.forward(images.data(), 4); }) == 0);
  CHECK(status == lsuv::Status::ok);

  std::vector<unsigned char> scratch(1 << 20);
  for (lsuv::LsuvVariant variant : {lsuv::LsuvVariant::seed, lsuv::LsuvVariant::paper}) {
    for (lsuv::LsuvCache cache : {lsuv::LsuvCache::always, lsuv::LsuvCache::never}) {
      lsuv::LsuvOptions options;
      options.variant = variant;
      options.cache = cache;
      options.orthonormal_preinit = variant == lsuv::LsuvVariant::paper;
      options.per_channel = cache == lsuv::LsuvCache::never;
      lsuv::Arena arena(scratch.data(), scratch.size());
      lsuv_test::Report report;
      CHECK(allocations_during([&] {
              status = lsuv::lsuv_initialize(m->model, source, options, arena, &report);
            }) == 0);
      CHECK(status == lsuv::Status::ok);
    }
  }
  // Failure paths allocate nothing either.
  lsuv::Arena tiny(scratch.data(), 100);
  CHECK(allocations_during([&] {
          status = lsuv::lsuv_initialize(m->model, source, lsuv::LsuvOptions(), tiny, nullptr);
        }) == 0);
  CHECK(status == lsuv::Status::arena_too_small);
}

TEST_CASE("forward and LSUV on graph networks allocate nothing") {
  struct Net {
    const lsuv::LayerSpec* layers;
    std::int32_t count;
    lsuv::ImageShape input;
  };
  for (const Net& net :
       {Net{lsuv_test::kResidual, lsuv_test::kResidualCount, lsuv_test::kResidualInput},
        Net{lsuv_test::kDepthwise, lsuv_test::kDepthwiseCount, lsuv_test::kDepthwiseInput}}) {
    CAPTURE(net.layers[0].name);
    auto m = lsuv_test::make_model(net.layers, net.count, net.input, 4);
    const std::vector<float> images = lsuv_test::gaussian_images(11, net.input, 2);
    lsuv::ArrayBatchSource source(images.data(), 11, net.input, 4);
    lsuv::Status status = lsuv::Status::invalid_argument;
    CHECK(allocations_during([&] { status = m->model.forward(images.data(), 3); }) == 0);
    CHECK(status == lsuv::Status::ok);
    std::vector<unsigned char> scratch(1 << 20);
    for (lsuv::LsuvCache cache : {lsuv::LsuvCache::always, lsuv::LsuvCache::never}) {
      lsuv::LsuvOptions options;
      options.cache = cache;
      lsuv::Arena arena(scratch.data(), scratch.size());
      lsuv_test::Report report;
      CHECK(allocations_during([&] {
              status = lsuv::lsuv_initialize(m->model, source, options, arena, &report);
            }) == 0);
      CHECK(status == lsuv::Status::ok);
    }
  }
}

TEST_CASE("quantisation and int8 forward allocate nothing") {
  auto original = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                        lsuv_test::kResidualInput, 4);
  auto f = lsuv_test::folded_copy(original->model);
  const std::vector<float> images = lsuv_test::gaussian_images(8, lsuv_test::kResidualInput, 3);
  lsuv::ArrayBatchSource source(images.data(), 8, lsuv_test::kResidualInput, 4);
  auto q = lsuv_test::configure_quantized(f->model);
  std::vector<unsigned char> scratch(lsuv::quantize_scratch_bytes(f->model, source) + 64);
  lsuv::Arena arena(scratch.data(), scratch.size());
  lsuv::Status status = lsuv::Status::invalid_argument;
  CHECK(allocations_during(
            [&] { status = lsuv::quantize(f->model, source, {}, arena, q->model); }) == 0);
  CHECK(status == lsuv::Status::ok);
  CHECK(allocations_during([&] { status = q->model.forward(images.data(), 4); }) == 0);
  CHECK(status == lsuv::Status::ok);
}

TEST_CASE("int8 LSUV and its statistics allocate nothing") {
  constexpr lsuv::ImageShape input = {12, 12, 1};
  auto f = lsuv_test::make_model(lsuv::kSeedLayers, lsuv::kSeedLayerCount, input, 4);
  const std::vector<float> images = lsuv_test::gaussian_images(8, input, 3);
  lsuv::ArrayBatchSource source(images.data(), 8, input, 4);
  auto q = lsuv_test::quantized(f->model, source);
  const lsuv::LsuvOptions options;
  std::vector<unsigned char> scratch(lsuv::lsuv_scratch_bytes(q->model, source, options) + 64);
  std::vector<lsuv::LsuvLayerReport> entries(5);
  lsuv::LsuvReport report(entries.data(), 5);
  std::vector<lsuv::RunningStats> stats(static_cast<std::size_t>(q->model.layer_count()));
  lsuv::Arena arena(scratch.data(), scratch.size());
  lsuv::Status status = lsuv::Status::invalid_argument;
  CHECK(allocations_during([&] {
          status = lsuv::lsuv_initialize(q->model, source, options, arena, &report);
        }) == 0);
  CHECK(status == lsuv::Status::ok);
  REQUIRE(lsuv::accumulator_statistics_scratch_bytes(q->model, source) <= scratch.size() - 64);
  CHECK(allocations_during([&] {
          status = lsuv::accumulator_statistics(q->model, source, arena, stats.data());
        }) == 0);
  CHECK(status == lsuv::Status::ok);
}

TEST_CASE("a training step allocates nothing, nor does a refused one") {
  auto m = lsuv_test::make_model(lsuv_test::kResidual, lsuv_test::kResidualCount,
                                 lsuv_test::kResidualInput, 4);
  lsuv::TrainOptions options;
  options.sgd.momentum = 0.9f;
  options.sgd.max_gradient_norm = 1.0f;
  std::vector<unsigned char> records(lsuv::Trainer::plan_bytes(lsuv_test::kResidualCount) + 64);
  lsuv::Arena plan(records.data(), records.size());
  lsuv::Trainer trainer;
  lsuv::Status status = lsuv::Status::invalid_argument;
  CHECK(allocations_during([&] { status = trainer.configure(m->model, options, plan); }) == 0);
  REQUIRE(status == lsuv::Status::ok);
  std::vector<unsigned char> memory(trainer.training_bytes() + 64);
  lsuv::Arena arena(memory.data(), memory.size());
  CHECK(allocations_during([&] { status = trainer.bind(arena); }) == 0);
  REQUIRE(status == lsuv::Status::ok);
  std::vector<float> images = lsuv_test::gaussian_images(4, lsuv_test::kResidualInput, 3);
  const std::int32_t labels[] = {0, 1, 2, 3};
  lsuv::TrainStepReport report;
  for (int step = 0; step < 2; ++step) {
    CHECK(allocations_during(
              [&] { status = trainer.train_step(images.data(), labels, 4, 0.05f, &report); }) == 0);
    CHECK(status == lsuv::Status::ok);
  }
  images[0] = NAN;
  CHECK(allocations_during(
            [&] { status = trainer.train_step(images.data(), labels, 4, 0.05f, &report); }) == 0);
  CHECK(status == lsuv::Status::non_finite);
}
