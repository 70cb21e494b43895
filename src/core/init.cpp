#include "lsuv/init.hpp"

#include <cmath>
#include <cstring>

#include "core/checked_math.hpp"
#include "core/orthonormal.hpp"
#include "core/random.hpp"

namespace lsuv {
namespace {

constexpr Initializer kInitializers[] = {Initializer::pytorch_default, Initializer::he_normal,
                                         Initializer::orthonormal};

bool valid_initializer(Initializer initializer) {
  for (const Initializer known : kInitializers)
    if (initializer == known) return true;
  return false;
}

bool valid_options(Initializer initializer, const InitOptions& options) {
  return valid_initializer(initializer) && std::isfinite(options.gain) && options.gain > 0.0f;
}

// The Gaussian matrix orthogonal_() factors: rows = out, columns = fan_in, worked on as its
// transpose when it is wide, so the factored matrix is always tall (m >= n).
struct OrthonormalShape {
  std::int32_t rows = 0;
  std::int32_t columns = 0;
  bool transposed = false;
  std::int32_t m = 0;
  std::int32_t n = 0;
};

OrthonormalShape orthonormal_shape(const Layer& layer) {
  OrthonormalShape shape;
  shape.rows = layer.output.channels;
  shape.columns = layer.fan_in();
  shape.transposed = shape.rows < shape.columns;
  shape.m = shape.transposed ? shape.columns : shape.rows;
  shape.n = shape.transposed ? shape.rows : shape.columns;
  return shape;
}

// Scratch bytes of one layer: the m x n matrix and 2 n doubles of QR workspace, one block.
std::size_t orthonormal_scratch_bytes(const Layer& layer) {
  const OrthonormalShape shape = orthonormal_shape(layer);
  std::size_t doubles = 0;
  std::size_t bytes = 0;
  if (!detail::checked_multiply(static_cast<std::size_t>(shape.m) + 2,
                                static_cast<std::size_t>(shape.n), &doubles) ||
      !detail::checked_multiply(doubles, sizeof(double), &bytes))
    return SIZE_MAX;
  return bytes;
}

// Takes `bytes` from `scratch`; on failure rewinds it and says why.
Status take_scratch(Arena& scratch, std::size_t bytes, double** block) {
  const Arena::Mark mark = scratch.mark();
  if (bytes == SIZE_MAX) return Status::size_overflow;
  *block = static_cast<double*>(scratch.allocate_bytes(bytes));
  if (*block != nullptr) return Status::ok;
  const Status status = scratch.status();
  scratch.rewind(mark);
  return status == Status::ok ? Status::arena_too_small : status;  // ok: a measuring arena
}

void zero_bias(const Layer& layer) {
  for (std::size_t i = 0; i < layer.bias_count; ++i) layer.bias[i] = 0.0f;
}

// U(-bound, bound) rounded once: (2u - 1) * bound is exact in double (24-bit by 24-bit
// significands), so the float result never leaves [-bound, bound].
float symmetric_uniform(detail::Pcg32& rng, float bound) {
  const double u = 2.0 * static_cast<double>(rng.uniform_float()) - 1.0;
  return static_cast<float>(u * static_cast<double>(bound));
}

void fill_pytorch_default(const Layer& layer, float gain, detail::Pcg32& rng) {
  const std::int32_t fan_in = layer.fan_in();
  const double inverse_sqrt_fan_in = 1.0 / std::sqrt(static_cast<double>(fan_in));
  const auto weight_bound = static_cast<float>(static_cast<double>(gain) * inverse_sqrt_fan_in);
  const auto bias_bound = static_cast<float>(inverse_sqrt_fan_in);
  for (std::int32_t out = 0; out < layer.output.channels; ++out)
    for (std::int32_t column = 0; column < fan_in; ++column)
      layer.weights[layer.parameter_index(out, column)] = symmetric_uniform(rng, weight_bound);
  for (std::size_t i = 0; i < layer.bias_count; ++i)
    layer.bias[i] = symmetric_uniform(rng, bias_bound);
}

void fill_he_normal(const Layer& layer, float gain, detail::Pcg32& rng) {
  const std::int32_t fan_in = layer.fan_in();
  const double std_dev = static_cast<double>(gain) * std::sqrt(2.0 / static_cast<double>(fan_in));
  detail::GaussianSampler gaussian(rng);
  for (std::int32_t out = 0; out < layer.output.channels; ++out)
    for (std::int32_t column = 0; column < fan_in; ++column)
      layer.weights[layer.parameter_index(out, column)] =
          static_cast<float>(gaussian.next() * std_dev);
  zero_bias(layer);
}

// `block` holds orthonormal_scratch_bytes(layer).
void fill_orthonormal(const Layer& layer, float gain, detail::Pcg32& rng, double* block) {
  const OrthonormalShape shape = orthonormal_shape(layer);
  const auto m = static_cast<std::size_t>(shape.m);
  double* matrix = block;  // column-major m x n
  double* workspace = block + m * static_cast<std::size_t>(shape.n);
  // Drawn in PyTorch's order (row-major out x fan_in); A(i, j) sits at matrix[j * m + i].
  detail::GaussianSampler gaussian(rng);
  for (std::int32_t r = 0; r < shape.rows; ++r)
    for (std::int32_t c = 0; c < shape.columns; ++c) {
      const std::size_t at = shape.transposed ? static_cast<std::size_t>(r) * m + c
                                              : static_cast<std::size_t>(c) * m + r;
      matrix[at] = gaussian.next();
    }
  detail::orthonormalize_columns(matrix, shape.m, shape.n, workspace);
  for (std::int32_t r = 0; r < shape.rows; ++r)
    for (std::int32_t c = 0; c < shape.columns; ++c) {
      const std::size_t at = shape.transposed ? static_cast<std::size_t>(r) * m + c
                                              : static_cast<std::size_t>(c) * m + r;
      layer.weights[layer.parameter_index(r, c)] =
          static_cast<float>(static_cast<double>(gain) * matrix[at]);
    }
  zero_bias(layer);
}

// Preconditions checked; for orthonormal `block` is the layer's scratch.
void fill_layer(const Layer& layer, std::int32_t layer_index, Initializer initializer,
                const InitOptions& options, double* block) {
  detail::Pcg32 rng = detail::stream_for(options.seed, static_cast<std::uint32_t>(layer_index));
  switch (initializer) {
    case Initializer::pytorch_default:
      fill_pytorch_default(layer, options.gain, rng);
      break;
    case Initializer::he_normal:
      fill_he_normal(layer, options.gain, rng);
      break;
    case Initializer::orthonormal:
      fill_orthonormal(layer, options.gain, rng, block);
      break;
  }
}

}  // namespace

const char* initializer_name(Initializer initializer) {
  switch (initializer) {
    case Initializer::pytorch_default:
      return "pytorch_default";
    case Initializer::he_normal:
      return "he_normal";
    case Initializer::orthonormal:
      return "orthonormal";
  }
  return "unknown_initializer";
}

bool initializer_from_name(const char* name, Initializer* initializer) {
  if (name == nullptr || initializer == nullptr) return false;
  for (const Initializer candidate : kInitializers) {
    if (std::strcmp(name, initializer_name(candidate)) == 0) {
      *initializer = candidate;
      return true;
    }
  }
  return false;
}

Status initialize_layer(Model& model, std::int32_t layer_index, Initializer initializer,
                        const InitOptions& options, Arena& scratch) {
  if (!valid_options(initializer, options)) return Status::invalid_argument;
  if (!model.bound()) return Status::not_bound;
  if (layer_index < 0 || layer_index >= model.layer_count()) return Status::invalid_argument;
  const Layer& layer = model.layer(layer_index);
  if (!has_parameters(layer.spec.kind)) return Status::invalid_argument;

  const Arena::Mark mark = scratch.mark();
  double* block = nullptr;
  if (initializer == Initializer::orthonormal)
    LSUV_TRY(take_scratch(scratch, orthonormal_scratch_bytes(layer), &block));
  fill_layer(layer, layer_index, initializer, options, block);
  scratch.rewind(mark);
  return Status::ok;
}

Status initialize(Model& model, Initializer initializer, const InitOptions& options,
                  Arena& scratch) {
  if (!valid_options(initializer, options)) return Status::invalid_argument;
  if (!model.bound()) return Status::not_bound;

  const Arena::Mark mark = scratch.mark();
  const std::size_t largest_block = initialize_scratch_bytes(model, initializer);
  if (largest_block > 0) {
    // Every layer's block starts where this probe does, so if the largest fits, all do.
    double* probe = nullptr;
    LSUV_TRY(take_scratch(scratch, largest_block, &probe));
    scratch.rewind(mark);
  }
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    if (!has_parameters(layer.spec.kind)) continue;
    double* block = nullptr;
    if (initializer == Initializer::orthonormal)
      LSUV_TRY(take_scratch(scratch, orthonormal_scratch_bytes(layer), &block));
    fill_layer(layer, i, initializer, options, block);
    scratch.rewind(mark);
  }
  return Status::ok;
}

std::size_t initialize_scratch_bytes(const Model& model, Initializer initializer) {
  if (initializer != Initializer::orthonormal) return 0;
  std::size_t largest = 0;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    if (!has_parameters(layer.spec.kind)) continue;
    const std::size_t bytes = orthonormal_scratch_bytes(layer);
    if (bytes > largest) largest = bytes;
  }
  return largest;
}

}  // namespace lsuv
