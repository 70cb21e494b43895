#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/orthonormal.hpp"
#include "core/random.hpp"
#include "graph_memory.hpp"
#include "lsuv/init.hpp"
#include "lsuv/model.hpp"

namespace {

using lsuv::Initializer;
using lsuv::Status;

constexpr Initializer kAllInitializers[] = {Initializer::pytorch_default, Initializer::he_normal,
                                            Initializer::orthonormal};

// A byte buffer whose data() is aligned to Arena::kAlignment, so byte counts are exact.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(std::size_t bytes) : storage_(bytes + lsuv::Arena::kAlignment) {}
  unsigned char* data() {
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.data());
    const std::size_t skip =
        (lsuv::Arena::kAlignment - address % lsuv::Arena::kAlignment) % lsuv::Arena::kAlignment;
    return storage_.data() + skip;
  }

 private:
  std::vector<unsigned char> storage_;
};

class BoundModel {
 public:
  BoundModel(const lsuv::LayerSpec* layers, std::int32_t count, lsuv::ImageShape input)
      : buffer_(0) {
    REQUIRE(model.configure(layers, count, input, 1, lsuv_test::graph(count)) == Status::ok);
    buffer_ = AlignedBuffer(model.required_bytes());
    lsuv::Arena arena(buffer_.data(), model.required_bytes());
    REQUIRE(model.bind(arena) == Status::ok);
  }
  lsuv::Model model;

 private:
  AlignedBuffer buffer_;
};

// Status of initialize() with an exactly sized scratch arena.
Status initialize_all(lsuv::Model& model, Initializer initializer, std::uint64_t seed,
                      float gain = 1.0f) {
  const std::size_t bytes = lsuv::initialize_scratch_bytes(model, initializer);
  AlignedBuffer scratch_bytes(bytes);
  lsuv::Arena scratch(scratch_bytes.data(), bytes);
  lsuv::InitOptions options;
  options.seed = seed;
  options.gain = gain;
  return lsuv::initialize(model, initializer, options, scratch);
}

// PyTorch's weight.view(out, -1), row-major.
std::vector<float> pytorch_weights(const lsuv::Layer& layer) {
  const std::int32_t rows = layer.output.channels;
  const std::int32_t columns = layer.fan_in();
  std::vector<float> w(static_cast<std::size_t>(rows) * columns);
  for (std::int32_t r = 0; r < rows; ++r)
    for (std::int32_t c = 0; c < columns; ++c)
      w[static_cast<std::size_t>(r) * columns + c] = layer.weights[layer.parameter_index(r, c)];
  return w;
}

std::vector<float> all_parameters(const lsuv::Model& model) {
  std::vector<float> values;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    values.insert(values.end(), layer.weights, layer.weights + layer.weight_count);
    values.insert(values.end(), layer.bias, layer.bias + layer.bias_count);
  }
  return values;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

struct Moments {
  double mean = 0.0;
  double variance = 0.0;  // population
  double skewness = 0.0;
  double kurtosis = 0.0;  // not excess: 3 for a normal
};

template <class T>
Moments moments_of(const T* values, std::size_t n) {
  Moments result;
  for (std::size_t i = 0; i < n; ++i) result.mean += static_cast<double>(values[i]);
  result.mean /= static_cast<double>(n);
  double m2 = 0.0, m3 = 0.0, m4 = 0.0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(values[i]) - result.mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  const auto count = static_cast<double>(n);
  result.variance = m2 / count;
  result.skewness = (m3 / count) / std::pow(result.variance, 1.5);
  result.kurtosis = (m4 / count) / (result.variance * result.variance);
  return result;
}

// Checks sample mean and std of n draws against a zero-mean distribution with standard
// deviation `sigma` and fourth moment `fourth` = E[x^4], at five standard errors.
void check_mean_and_std(const std::vector<float>& values, double sigma, double fourth) {
  const Moments m = moments_of(values.data(), values.size());
  const auto n = static_cast<double>(values.size());
  const double mean_error = sigma / std::sqrt(n);
  const double variance_error = std::sqrt((fourth - sigma * sigma * sigma * sigma) / n);
  const double std_error = variance_error / (2.0 * sigma);  // delta method
  CHECK(std::fabs(m.mean) < 5.0 * mean_error);
  CHECK(std::fabs(std::sqrt(m.variance) - sigma) < 5.0 * std_error);
}

// Largest |(W W^T or W^T W) - gain^2 I| for W rows x columns (row-major): the Gram matrix of
// the shorter side, which must be the orthonormal one.
double orthonormality_error(const std::vector<float>& w, std::int32_t rows, std::int32_t columns,
                            double gain) {
  const bool row_gram = rows <= columns;
  const std::int32_t size = row_gram ? rows : columns;
  const std::int32_t length = row_gram ? columns : rows;
  auto at = [&](std::int32_t vector, std::int32_t k) {
    return row_gram ? static_cast<double>(w[static_cast<std::size_t>(vector) * columns + k])
                    : static_cast<double>(w[static_cast<std::size_t>(k) * columns + vector]);
  };
  double worst = 0.0;
  for (std::int32_t i = 0; i < size; ++i)
    for (std::int32_t j = 0; j <= i; ++j) {
      double dot = 0.0;
      for (std::int32_t k = 0; k < length; ++k) dot += at(i, k) * at(j, k);
      const double expected = i == j ? gain * gain : 0.0;
      worst = std::fmax(worst, std::fabs(dot - expected));
    }
  return worst;
}

// FNV-1a (64-bit) over the parameters in PyTorch's order, each float as its IEEE bits least
// significant byte first, so the hash does not depend on the host's byte order or on the
// kernels' packed layout.
std::uint64_t parameter_hash(const lsuv::Model& model) {
  std::uint64_t hash = 0xCBF29CE484222325ULL;
  auto add = [&hash](float value) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    for (int byte = 0; byte < 4; ++byte) {
      hash ^= (bits >> (8 * byte)) & 0xFFu;
      hash *= 0x100000001B3ULL;
    }
  };
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const lsuv::Layer& layer = model.layer(i);
    if (!lsuv::has_parameters(layer.spec.kind)) continue;
    for (const float w : pytorch_weights(layer)) add(w);
    for (std::size_t b = 0; b < layer.bias_count; ++b) add(layer.bias[b]);
  }
  return hash;
}

std::string hexadecimal(std::uint64_t value) {
  std::string digits = "0x";
  for (int shift = 60; shift >= 0; shift -= 4) digits += "0123456789abcdef"[(value >> shift) & 0xF];
  return digits;
}

// FNV-1a (64-bit) over doubles' IEEE bits, least significant byte first.
std::uint64_t double_hash(const std::vector<double>& values) {
  std::uint64_t hash = 0xCBF29CE484222325ULL;
  for (const double value : values) {
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    for (int byte = 0; byte < 8; ++byte) {
      hash ^= (bits >> (8 * byte)) & 0xFFu;
      hash *= 0x100000001B3ULL;
    }
  }
  return hash;
}

constexpr lsuv::LayerSpec kLinear512To256[] = {lsuv::linear("l", 512, 256)};
constexpr lsuv::LayerSpec kConv64To64[] = {lsuv::conv2d("c", 64, 64, 3)};

// Three parameter layers of different shapes (wide, wide grouped, tall) between others.
constexpr lsuv::LayerSpec kSmallModel[] = {
    lsuv::conv2d("c1", 2, 4, 3),
    lsuv::relu("r1"),
    lsuv::conv2d("c2", 4, 8, 3).with_groups(2),
    lsuv::flatten("f"),
    lsuv::linear("l1", 32, 40),
};
constexpr lsuv::ImageShape kSmallInput{6, 6, 2};

}  // namespace

TEST_CASE("init: PCG32 and SplitMix64 reproduce their reference sequences") {
  // pcg32-demo (pcg32_srandom_r(&rng, 42, 54)), the generator's published first outputs.
  lsuv::detail::Pcg32 rng(42, 54);
  const std::uint32_t expected[] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                    0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
  for (const std::uint32_t value : expected) CHECK(rng.next() == value);
  // SplitMix64 from state 0: first output.
  CHECK(lsuv::detail::splitmix64(0, 0) == 0xE220A8397B1DCDAFULL);
}

TEST_CASE("init: natural_log agrees with std::log to 1e-15 relative") {
  double worst = 0.0;
  auto check = [&worst](double x) {
    const double expected = std::log(x);
    const double ours = lsuv::detail::natural_log(x);
    if (expected == 0.0) {
      CHECK(ours == 0.0);
      return;
    }
    worst = std::fmax(worst, std::fabs(ours - expected) / std::fabs(expected));
  };
  for (double x = 1e-300; x < 1e300; x *= 1.0137) check(x);
  for (int k = -2000; k <= 2000; ++k) check(1.0 + k * 1e-6);  // cancellation near 1
  for (int k = 1; k <= 60; ++k) {
    check(1.0 + std::ldexp(1.0, -k));
    check(1.0 - std::ldexp(1.0, -k));
  }
  for (double x = 0.70; x < 1.42; x += 1e-4) check(x);  // both sides of the sqrt(2) split
  check(std::numeric_limits<double>::denorm_min());
  check(1e-310);
  check(std::numeric_limits<double>::min());
  check(std::numeric_limits<double>::max());
  // Polar-method inputs: s from 32-bit uniforms.
  lsuv::detail::Pcg32 rng(7, 3);
  for (int i = 0; i < 100000; ++i) check((rng.next() + 1.0) / 4294967296.0);
  MESSAGE("largest relative error: " << worst);
  CHECK(worst < 1e-15);

  CHECK(lsuv::detail::natural_log(0.0) == -std::numeric_limits<double>::infinity());
  CHECK(std::isnan(lsuv::detail::natural_log(-1.0)));
  CHECK(std::isnan(lsuv::detail::natural_log(std::numeric_limits<double>::quiet_NaN())));
  CHECK(lsuv::detail::natural_log(std::numeric_limits<double>::infinity()) ==
        std::numeric_limits<double>::infinity());
}

TEST_CASE("init: uniform floats are 24-bit multiples on [0, 1) with the uniform's moments") {
  lsuv::detail::Pcg32 rng(1, 2);
  constexpr int kCount = 1 << 20;
  std::vector<float> values(kCount);
  bool on_grid = true, in_range = true;
  for (float& u : values) {
    u = rng.uniform_float();
    in_range = in_range && u >= 0.0f && u < 1.0f;
    const float scaled = u * 16777216.0f;
    on_grid = on_grid && scaled == std::floor(scaled);
  }
  CHECK(in_range);
  CHECK(on_grid);
  const Moments m = moments_of(values.data(), values.size());
  const double n = kCount;
  CHECK(std::fabs(m.mean - 0.5) < 5.0 * std::sqrt(1.0 / 12.0 / n));
  CHECK(std::fabs(m.variance - 1.0 / 12.0) < 5.0 * std::sqrt((1.0 / 80.0 - 1.0 / 144.0) / n));
}

TEST_CASE("init: Gaussian samples have the standard normal's moments and tails") {
  lsuv::detail::Pcg32 rng(123, 0);
  lsuv::detail::GaussianSampler gaussian(rng);
  constexpr std::size_t kCount = 1000000;
  std::vector<double> z(kCount);
  for (double& value : z) value = gaussian.next();
  const Moments m = moments_of(z.data(), z.size());
  const double n = kCount;
  // Standard errors of the sample moments of a normal: 1, sqrt(2), sqrt(6), sqrt(24) over sqrt(n).
  CHECK(std::fabs(m.mean) < 5.0 / std::sqrt(n));
  CHECK(std::fabs(m.variance - 1.0) < 5.0 * std::sqrt(2.0 / n));
  CHECK(std::fabs(m.skewness) < 5.0 * std::sqrt(6.0 / n));
  CHECK(std::fabs(m.kurtosis - 3.0) < 5.0 * std::sqrt(24.0 / n));
  // The CDF at a few points, including the tails a wrong logarithm would distort.
  for (const double t : {-3.0, -2.0, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0}) {
    std::size_t below = 0;
    for (const double value : z) below += value < t ? 1 : 0;
    const double p = 0.5 * std::erfc(-t / std::sqrt(2.0));
    const double fraction = static_cast<double>(below) / n;
    CHECK(std::fabs(fraction - p) < 5.0 * std::sqrt(p * (1.0 - p) / n));
  }
}

namespace {

// A single-layer model with many weights: linear 512 -> 256 or conv2d 64 -> 64 3x3.
struct LargeLayerCase {
  const char* name;
  const lsuv::LayerSpec* spec;
  lsuv::ImageShape input;
};
const LargeLayerCase kLargeLayers[] = {
    {"linear 512 -> 256", kLinear512To256, {1, 1, 512}},
    {"conv2d 64 -> 64 3x3", kConv64To64, {3, 3, 64}},
};

}  // namespace

TEST_CASE("init: pytorch_default draws weights and biases from U(-1/sqrt(fan_in), +)") {
  for (const LargeLayerCase& c : kLargeLayers) {
    CAPTURE(std::string(c.name));
    BoundModel bound(c.spec, 1, c.input);
    REQUIRE(initialize_all(bound.model, Initializer::pytorch_default, 5) == Status::ok);
    const lsuv::Layer& layer = bound.model.layer(0);
    const auto bound_value = static_cast<float>(1.0 / std::sqrt(double(layer.fan_in())));
    const std::vector<float> w = pytorch_weights(layer);
    float low = w[0], high = w[0];
    for (const float value : w) {
      low = std::fmin(low, value);
      high = std::fmax(high, value);
    }
    CHECK(low >= -bound_value);
    CHECK(high <= bound_value);
    // The range is used to its ends, not a narrower one.
    CHECK(low < -0.999f * bound_value);
    CHECK(high > 0.999f * bound_value);
    const double b = bound_value;
    check_mean_and_std(w, b / std::sqrt(3.0), b * b * b * b / 5.0);

    std::vector<float> bias(layer.bias, layer.bias + layer.bias_count);
    const Moments m = moments_of(bias.data(), bias.size());
    for (const float value : bias) CHECK(std::fabs(value) <= bound_value);
    CHECK(m.variance > 0.5 * b * b / 3.0);  // spread over the range, not zeroed
  }
}

TEST_CASE("init: pytorch_default's gain scales the weight range, not the bias range") {
  BoundModel bound(kLinear512To256, 1, {1, 1, 512});
  REQUIRE(initialize_all(bound.model, Initializer::pytorch_default, 5, 3.0f) == Status::ok);
  const lsuv::Layer& layer = bound.model.layer(0);
  const double b = 1.0 / std::sqrt(512.0);
  const std::vector<float> w = pytorch_weights(layer);
  check_mean_and_std(w, 3.0 * b / std::sqrt(3.0), 81.0 * b * b * b * b / 5.0);
  for (std::size_t i = 0; i < layer.bias_count; ++i)
    CHECK(std::fabs(layer.bias[i]) <= static_cast<float>(b));
}

TEST_CASE("init: he_normal draws N(0, 2/fan_in) weights and zero biases") {
  for (const LargeLayerCase& c : kLargeLayers) {
    CAPTURE(std::string(c.name));
    BoundModel bound(c.spec, 1, c.input);
    const lsuv::Layer& layer = bound.model.layer(0);
    for (std::size_t i = 0; i < layer.bias_count; ++i) layer.bias[i] = 1.0f;
    REQUIRE(initialize_all(bound.model, Initializer::he_normal, 9) == Status::ok);
    const double sigma = std::sqrt(2.0 / layer.fan_in());
    const std::vector<float> w = pytorch_weights(layer);
    check_mean_and_std(w, sigma, 3.0 * sigma * sigma * sigma * sigma);
    const Moments m = moments_of(w.data(), w.size());
    const auto n = static_cast<double>(w.size());
    CHECK(std::fabs(m.kurtosis - 3.0) < 5.0 * std::sqrt(24.0 / n));
    for (std::size_t i = 0; i < layer.bias_count; ++i) CHECK(layer.bias[i] == 0.0f);
  }
}

TEST_CASE("init: orthonormal weights have orthonormal rows (wide) or columns (tall)") {
  struct Case {
    const char* name;
    lsuv::LayerSpec spec;
    lsuv::ImageShape input;
  };
  const Case cases[] = {
      {"wide linear 512 -> 256", lsuv::linear("l", 512, 256), {1, 1, 512}},
      {"tall linear 16 -> 64", lsuv::linear("l", 16, 64), {1, 1, 16}},
      {"square linear 32 -> 32", lsuv::linear("l", 32, 32), {1, 1, 32}},
      {"linear 1 -> 5 (one column)", lsuv::linear("l", 1, 5), {1, 1, 1}},
      {"linear 7 -> 1 (one row)", lsuv::linear("l", 7, 1), {1, 1, 7}},
      {"flattened linear 2x3x4 -> 10", lsuv::linear("l", 24, 10), {2, 3, 4}},
      {"wide conv 64 -> 64 3x3", lsuv::conv2d("c", 64, 64, 3), {3, 3, 64}},
      {"wide grouped conv 8 -> 12 3x3 groups 2",
       lsuv::conv2d("c", 8, 12, 3).with_groups(2),
       {5, 5, 8}},
      {"tall grouped conv 32 -> 64 1x1 groups 4",
       lsuv::conv2d("c", 32, 64, 1).with_groups(4),
       {2, 2, 32}},
      {"square conv 4 -> 36 3x3", lsuv::conv2d("c", 4, 36, 3), {3, 3, 4}},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.name));
    BoundModel bound(&c.spec, 1, c.input);
    const lsuv::Layer& layer = bound.model.layer(0);
    for (std::size_t i = 0; i < layer.bias_count; ++i) layer.bias[i] = 1.0f;
    REQUIRE(initialize_all(bound.model, Initializer::orthonormal, 11) == Status::ok);
    const std::vector<float> w = pytorch_weights(layer);
    CHECK(orthonormality_error(w, layer.output.channels, layer.fan_in(), 1.0) < 1e-5);
    for (std::size_t i = 0; i < layer.bias_count; ++i) CHECK(layer.bias[i] == 0.0f);
  }
}

TEST_CASE("init: orthonormal's gain scales the orthonormal matrix") {
  const lsuv::LayerSpec spec = lsuv::conv2d("c", 8, 12, 3).with_groups(2);
  BoundModel bound(&spec, 1, {5, 5, 8});
  REQUIRE(initialize_all(bound.model, Initializer::orthonormal, 11, 2.0f) == Status::ok);
  const lsuv::Layer& layer = bound.model.layer(0);
  CHECK(orthonormality_error(pytorch_weights(layer), 12, 36, 2.0) < 4e-5);
}

TEST_CASE("init: orthonormalize_columns gives the QR factor with R's diagonal positive") {
  // Q^T A must be R: upper triangular with a positive diagonal (which makes Q unique).
  struct Shape {
    std::int32_t m, n;
  };
  for (const Shape shape : {Shape{7, 4}, Shape{5, 5}, Shape{9, 1}, Shape{1, 1}, Shape{40, 13}}) {
    CAPTURE(shape.m);
    CAPTURE(shape.n);
    lsuv::detail::Pcg32 rng(99, static_cast<std::uint64_t>(shape.m * 100 + shape.n));
    lsuv::detail::GaussianSampler gaussian(rng);
    const std::size_t size = static_cast<std::size_t>(shape.m) * shape.n;
    std::vector<double> a(size);
    for (double& value : a) value = gaussian.next();
    a[0] = -std::fabs(a[0]);  // a negative first pivot: the sign correction must flip it
    std::vector<double> q = a;
    std::vector<double> workspace(2 * static_cast<std::size_t>(shape.n));
    lsuv::detail::orthonormalize_columns(q.data(), shape.m, shape.n, workspace.data());
    double worst_orthonormality = 0.0, worst_lower = 0.0, smallest_diagonal = 1e300;
    for (std::int32_t i = 0; i < shape.n; ++i)
      for (std::int32_t j = 0; j < shape.n; ++j) {
        double qtq = 0.0, qta = 0.0;
        for (std::int32_t k = 0; k < shape.m; ++k) {
          qtq += q[static_cast<std::size_t>(i) * shape.m + k] *
                 q[static_cast<std::size_t>(j) * shape.m + k];
          qta += q[static_cast<std::size_t>(i) * shape.m + k] *
                 a[static_cast<std::size_t>(j) * shape.m + k];
        }
        worst_orthonormality = std::fmax(worst_orthonormality, std::fabs(qtq - (i == j)));
        if (i > j) worst_lower = std::fmax(worst_lower, std::fabs(qta));
        if (i == j) smallest_diagonal = std::fmin(smallest_diagonal, qta);
      }
    CHECK(worst_orthonormality < 1e-13);
    CHECK(worst_lower < 1e-13);
    CHECK(smallest_diagonal > 0.0);
  }
}

TEST_CASE("init: the same seed gives bit-identical weights, another seed different ones") {
  for (const Initializer initializer : kAllInitializers) {
    CAPTURE(std::string(lsuv::initializer_name(initializer)));
    BoundModel first(kSmallModel, 5, kSmallInput);
    BoundModel second(kSmallModel, 5, kSmallInput);
    BoundModel other(kSmallModel, 5, kSmallInput);
    REQUIRE(initialize_all(first.model, initializer, 42) == Status::ok);
    REQUIRE(initialize_all(second.model, initializer, 42) == Status::ok);
    REQUIRE(initialize_all(other.model, initializer, 43) == Status::ok);
    const std::vector<float> a = all_parameters(first.model);
    CHECK(same_bits(a, all_parameters(second.model)));
    CHECK_FALSE(same_bits(a, all_parameters(other.model)));
    // Every parameter layer changes with the seed, not just one.
    for (const std::int32_t i : {0, 2, 4}) {
      const lsuv::Layer& x = first.model.layer(i);
      const lsuv::Layer& y = other.model.layer(i);
      CHECK(std::memcmp(x.weights, y.weights, x.weight_count * sizeof(float)) != 0);
    }
  }
}

TEST_CASE("init: re-initialising one layer leaves the others untouched") {
  for (const Initializer initializer : kAllInitializers) {
    CAPTURE(std::string(lsuv::initializer_name(initializer)));
    BoundModel bound(kSmallModel, 5, kSmallInput);
    REQUIRE(initialize_all(bound.model, initializer, 42) == Status::ok);
    const lsuv::Layer& first = bound.model.layer(0);
    const lsuv::Layer& middle = bound.model.layer(2);
    const lsuv::Layer& last = bound.model.layer(4);
    const std::vector<float> first_before(first.weights, first.weights + first.weight_count);
    const std::vector<float> last_before(last.weights, last.weights + last.weight_count);
    const std::vector<float> middle_seed_42(middle.weights, middle.weights + middle.weight_count);

    AlignedBuffer scratch_bytes(lsuv::initialize_scratch_bytes(bound.model, initializer));
    lsuv::Arena scratch(scratch_bytes.data(),
                        lsuv::initialize_scratch_bytes(bound.model, initializer));
    lsuv::InitOptions options;
    options.seed = 7;
    REQUIRE(lsuv::initialize_layer(bound.model, 2, initializer, options, scratch) == Status::ok);
    CHECK(scratch.used() == 0);
    const std::vector<float> middle_seed_7(middle.weights, middle.weights + middle.weight_count);
    CHECK_FALSE(same_bits(middle_seed_7, middle_seed_42));
    CHECK(same_bits(first_before, {first.weights, first.weights + first.weight_count}));
    CHECK(same_bits(last_before, {last.weights, last.weights + last.weight_count}));

    // Layer 2's own stream: alone with seed 42 it gets what the whole-model pass gave it.
    options.seed = 42;
    REQUIRE(lsuv::initialize_layer(bound.model, 2, initializer, options, scratch) == Status::ok);
    CHECK(same_bits(middle_seed_42, {middle.weights, middle.weights + middle.weight_count}));
  }
}

TEST_CASE("init: orthonormal with scratch one byte too small fails and changes nothing") {
  BoundModel bound(kSmallModel, 5, kSmallInput);
  REQUIRE(initialize_all(bound.model, Initializer::he_normal, 1) == Status::ok);
  const std::vector<float> before = all_parameters(bound.model);
  const std::size_t bytes = lsuv::initialize_scratch_bytes(bound.model, Initializer::orthonormal);
  // The tall linear 32 -> 40 is the largest: (40 + 2) x 32 doubles.
  CHECK(bytes == (40 + 2) * 32 * sizeof(double));
  AlignedBuffer scratch_bytes(bytes);
  lsuv::InitOptions options;
  {
    lsuv::Arena scratch(scratch_bytes.data(), bytes - 1);
    CHECK(lsuv::initialize(bound.model, Initializer::orthonormal, options, scratch) ==
          Status::arena_too_small);
    CHECK(lsuv::initialize_layer(bound.model, 4, Initializer::orthonormal, options, scratch) ==
          Status::arena_too_small);
    CHECK(same_bits(before, all_parameters(bound.model)));
    // The scratch arena is handed back as it was, usable.
    CHECK(scratch.status() == Status::ok);
    CHECK(scratch.used() == 0);
  }
  {
    lsuv::Arena measuring;
    CHECK(lsuv::initialize(bound.model, Initializer::orthonormal, options, measuring) ==
          Status::arena_too_small);
    CHECK(same_bits(before, all_parameters(bound.model)));
  }
  lsuv::Arena scratch(scratch_bytes.data(), bytes);
  CHECK(lsuv::initialize(bound.model, Initializer::orthonormal, options, scratch) == Status::ok);
  CHECK(scratch.used() == 0);
  CHECK_FALSE(same_bits(before, all_parameters(bound.model)));
  // A smaller layer fits in less.
  lsuv::Arena small(scratch_bytes.data(), (18 + 2) * 4 * sizeof(double));
  CHECK(lsuv::initialize_layer(bound.model, 0, Initializer::orthonormal, options, small) ==
        Status::ok);
}

TEST_CASE("init: the other initialisers need no scratch") {
  BoundModel bound(kSmallModel, 5, kSmallInput);
  lsuv::Arena none;
  for (const Initializer initializer : {Initializer::pytorch_default, Initializer::he_normal}) {
    CHECK(lsuv::initialize_scratch_bytes(bound.model, initializer) == 0);
    CHECK(lsuv::initialize(bound.model, initializer, {}, none) == Status::ok);
    CHECK(lsuv::initialize_layer(bound.model, 0, initializer, {}, none) == Status::ok);
  }
}

TEST_CASE("init: bad calls are refused and change nothing") {
  lsuv::Arena none;
  SUBCASE("a configured but unbound model") {
    lsuv::Model model;
    REQUIRE(model.configure(kSmallModel, 5, kSmallInput, 1, lsuv_test::graph(5)) == Status::ok);
    CHECK(lsuv::initialize(model, Initializer::he_normal, {}, none) == Status::not_bound);
    CHECK(lsuv::initialize_layer(model, 0, Initializer::he_normal, {}, none) == Status::not_bound);
    // Scratch can be sized before binding.
    CHECK(lsuv::initialize_scratch_bytes(model, Initializer::orthonormal) ==
          (40 + 2) * 32 * sizeof(double));
  }
  SUBCASE("arguments outside their range") {
    BoundModel bound(kSmallModel, 5, kSmallInput);
    REQUIRE(initialize_all(bound.model, Initializer::pytorch_default, 3) == Status::ok);
    const std::vector<float> before = all_parameters(bound.model);
    lsuv::InitOptions options;
    const Initializer he = Initializer::he_normal;
    CHECK(lsuv::initialize_layer(bound.model, -1, he, options, none) == Status::invalid_argument);
    CHECK(lsuv::initialize_layer(bound.model, 5, he, options, none) == Status::invalid_argument);
    CHECK(lsuv::initialize_layer(bound.model, 1, he, options, none) ==
          Status::invalid_argument);  // relu: no parameters
    const auto bogus = static_cast<Initializer>(7);
    CHECK(lsuv::initialize(bound.model, bogus, options, none) == Status::invalid_argument);
    CHECK(lsuv::initialize_layer(bound.model, 0, bogus, options, none) == Status::invalid_argument);
    for (const float gain : {0.0f, -1.0f, std::numeric_limits<float>::infinity(),
                             std::numeric_limits<float>::quiet_NaN()}) {
      options.gain = gain;
      CHECK(lsuv::initialize(bound.model, he, options, none) == Status::invalid_argument);
      CHECK(lsuv::initialize_layer(bound.model, 0, he, options, none) == Status::invalid_argument);
    }
    CHECK(same_bits(before, all_parameters(bound.model)));
  }
}

TEST_CASE("init: initializer names round-trip") {
  for (const Initializer initializer : kAllInitializers) {
    Initializer parsed = Initializer::pytorch_default;
    REQUIRE(lsuv::initializer_from_name(lsuv::initializer_name(initializer), &parsed));
    CHECK(parsed == initializer);
  }
  Initializer untouched = Initializer::he_normal;
  CHECK_FALSE(lsuv::initializer_from_name("orthogonal", &untouched));
  CHECK_FALSE(lsuv::initializer_from_name(nullptr, &untouched));
  CHECK(untouched == Initializer::he_normal);
  CHECK(std::string(lsuv::initializer_name(static_cast<Initializer>(9))) == "unknown_initializer");
}

TEST_CASE("init: golden hashes: seed 42 gives the same weights on every target") {
  // Recorded on x86-64 and checked under qemu on aarch64 and armv7 (NEON): any change in the
  // generator, the Gaussian, the logarithm, the QR or the draw order shows up here.
  struct Golden {
    Initializer initializer;
    std::uint64_t hash;
  };
  const Golden golden[] = {
      {Initializer::pytorch_default, 0xdc8b164f9a76c634ULL},
      {Initializer::he_normal, 0x0e44ca98b1714571ULL},
      {Initializer::orthonormal, 0x6ebdb3648afc1911ULL},
  };
  for (const Golden& g : golden) {
    CAPTURE(std::string(lsuv::initializer_name(g.initializer)));
    BoundModel bound(kSmallModel, 5, kSmallInput);
    REQUIRE(initialize_all(bound.model, g.initializer, 42) == Status::ok);
    const std::uint64_t hash = parameter_hash(bound.model);
    MESSAGE("hash " << hexadecimal(hash));
    CHECK(hash == g.hash);
  }
}

TEST_CASE("init: golden hashes of the double-precision internals, bit for bit") {
  // Weights are rounded to float, which hides most last-bit differences in double; these
  // hashes see every bit of the Gaussian stream and of the QR (an FMA contraction changes them).
  lsuv::detail::Pcg32 rng = lsuv::detail::stream_for(42, 0);
  lsuv::detail::GaussianSampler gaussian(rng);
  std::vector<double> samples(4096);
  for (double& value : samples) value = gaussian.next();
  const std::uint64_t gaussian_hash = double_hash(samples);
  MESSAGE("gaussian hash " << hexadecimal(gaussian_hash));
  CHECK(gaussian_hash == 0x764c44d19b1ebd7eULL);

  constexpr std::int32_t kRows = 24, kColumns = 10;
  std::vector<double> q(samples.begin(), samples.begin() + kRows * kColumns);
  std::vector<double> workspace(2 * kColumns);
  lsuv::detail::orthonormalize_columns(q.data(), kRows, kColumns, workspace.data());
  const std::uint64_t q_hash = double_hash(q);
  MESSAGE("orthonormal factor hash " << hexadecimal(q_hash));
  CHECK(q_hash == 0x3466bb97dfe129e4ULL);
}
