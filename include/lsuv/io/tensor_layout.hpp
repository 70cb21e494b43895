// Tensor layout between lsuv (NHWC) and PyTorch (NCHW, and C x H x W feature order once
// flattened): the conversion of activations, and the PyTorch shape of a model's output.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/model.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv {

// `batch` images of `shape`, NCHW -> NHWC and back; `from` and `to` must not overlap.
void nchw_to_nhwc(const float* from, std::int32_t batch, ImageShape shape, float* to);
void nhwc_to_nchw(const float* from, std::int32_t batch, ImageShape shape, float* to);

// How PyTorch lays out a model's output. The last op that fixed the layout decides it:
// Flatten and Linear make it flat, (N, F), features in C x H x W order of the tensor the first
// of a run of Flattens received; ReLU, ReLU6, Hardtanh, BatchNorm2d and Add keep the layout of
// their input; anything else gives (N, C, H, W).
struct TorchOutputLayout {
  bool flat = false;
  // flat: the tensor whose C x H x W order numbers the features (1 x 1 x F after a Linear);
  // otherwise the output's shape.
  ImageShape order;
};
TorchOutputLayout torch_output_layout(const Model& model);

// Model::output() of `batch` images in PyTorch's order, per torch_output_layout; `to` holds
// batch * the output's elements.
void output_to_torch(const Model& model, std::int32_t batch, float* to);

}  // namespace lsuv
