// Folding eval-mode BatchNorm2d into the conv2d (or linear) op before it, for inference and
// before quantisation: an op whose only reader is the BatchNorm2d right after it (as
// lsuv_measured_op pairs them) becomes one op with a bias,
//   W' = W * a,  b' = (b - running_mean) * a + beta,  a = gamma / sqrt(running_var + eps)
// per output channel, and the BatchNorm disappears.
//
//   std::int32_t n = lsuv::folded_layer_count(model);
//   std::vector<lsuv::LayerSpec> folded(n);
//   LSUV_TRY(lsuv::fold_batch_norm_specs(model, folded.data(), n));
//   // configure and bind `fused` from folded, then:
//   LSUV_TRY(lsuv::fold_batch_norm_parameters(model, fused));
#pragma once

#include <cstdint>

#include "lsuv/layer.hpp"
#include "lsuv/model.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

// Ops of the network once every foldable BatchNorm2d is folded.
std::int32_t folded_layer_count(const Model& model);

// The network without the folded BatchNorm2d ops: each op they followed gains a bias, and an op
// that read a folded BatchNorm reads the op before it instead. Errors: invalid_argument (null
// out, or capacity below folded_layer_count()).
Status fold_batch_norm_specs(const Model& model, LayerSpec* out, std::int32_t capacity);

// Writes `from`'s parameters, folded, into `to`, which must be configured from
// fold_batch_norm_specs(from) and bound. Errors: not_bound, shape_mismatch (`to` is not that
// network), non_finite (a fold overflows); on error `to` is unchanged.
Status fold_batch_norm_parameters(const Model& from, Model& to);

}  // namespace lsuv
