// Weight initialisers: deterministic, seeded, identical on every target.
//
//   lsuv::InitOptions options;
//   options.seed = 42;
//   lsuv::Arena scratch(scratch_buffer, lsuv::initialize_scratch_bytes(model, kind));
//   LSUV_TRY(lsuv::initialize(model, lsuv::Initializer::orthonormal, options, scratch));
//
// Conv2d and linear layers are initialised as PyTorch would initialise the same module, in
// PyTorch's numbering of the weights (weight.view(out, -1)[out][column]), whatever the packed
// layout the kernels read. Values come from lsuv's own generator, not PyTorch's: the
// distributions match PyTorch, the individual numbers do not. The same seed gives bit-identical
// weights on x86-64, aarch64, armv7 and Cortex-M, because only integer arithmetic and IEEE basic
// operations produce them. Each layer draws from its own stream, derived from (seed, layer
// index), so initialising one layer never changes what another one gets.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/arena.hpp"
#include "lsuv/model.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

enum class Initializer : std::uint8_t {
  // torch.nn.Conv2d / Linear reset_parameters(): weights U(-b, b) with b = 1 / sqrt(fan_in)
  // (kaiming_uniform_ with a = sqrt(5)), biases U(-b, b) with the same b.
  pytorch_default,
  // kaiming_normal_(mode='fan_in', nonlinearity='relu'): weights N(0, 2 / fan_in), zero bias.
  he_normal,
  // orthogonal_(): a Gaussian out x fan_in matrix (transposed when out < fan_in) replaced by the
  // orthonormal factor of its Householder QR, columns signed by R's diagonal. The weight matrix
  // has orthonormal rows when out <= fan_in (W W^T = I) and orthonormal columns otherwise
  // (W^T W = I). Zero bias. Needs scratch: see initialize_scratch_bytes().
  orthonormal,
};

// "pytorch_default", "he_normal", "orthonormal"; never null ("unknown_initializer" for a value
// outside the enum).
const char* initializer_name(Initializer initializer);
// The initializer called `name` (as initializer_name() spells it); false when there is none.
bool initializer_from_name(const char* name, Initializer* initializer);

struct InitOptions {
  std::uint64_t seed = 0;
  // Multiplies every weight (not the biases): 1 gives the distributions above. Finite, > 0.
  float gain = 1.0f;
};

// Initialises the weights and bias of layer `layer_index` (a conv2d or linear layer).
// Errors: not_bound; invalid_argument (index out of range, a layer without parameters, gain not
// finite and positive, an initializer outside the enum); arena_too_small and size_overflow
// (orthonormal only: `scratch` cannot hold initialize_scratch_bytes()). On failure nothing is
// written. `scratch` is returned to where it was either way.
Status initialize_layer(Model& model, std::int32_t layer_index, Initializer initializer,
                        const InitOptions& options, Arena& scratch);

// Initialises every conv2d and linear layer of the model, each as initialize_layer() would.
// The scratch check comes first, so a failure leaves every layer as it was.
Status initialize(Model& model, Initializer initializer, const InitOptions& options,
                  Arena& scratch);

// Exact bytes of scratch initialize() and initialize_layer() take from an arena whose used()
// is a multiple of Arena::kAlignment (a fresh one over an aligned buffer): the largest
// (max(out, fan_in) + 2) * min(out, fan_in) doubles over the parameter layers for orthonormal,
// 0 for the others. The model needs to be configured, not bound. SIZE_MAX when the count
// overflows size_t (then no arena can hold it).
std::size_t initialize_scratch_bytes(const Model& model, Initializer initializer);

}  // namespace lsuv
