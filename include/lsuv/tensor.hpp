// Tensor views: non-owning windows onto activations, NHWC (channels innermost).
//
// Inside lsuv every activation is N x H x W x C, the layout embedded runtimes use (TFLM,
// CMSIS-NN, XNNPACK): per-channel statistics and per-channel scales then run over contiguous C.
// Interchange with NumPy and PyTorch is NCHW and is converted at the edges (see lsuv/io).
#pragma once

#include <cstddef>
#include <cstdint>

namespace lsuv {

// The shape of one image (or one feature vector: height = width = 1).
struct ImageShape {
  std::int32_t height = 0;
  std::int32_t width = 0;
  std::int32_t channels = 0;

  std::size_t elements() const {
    return static_cast<std::size_t>(height) * static_cast<std::size_t>(width) *
           static_cast<std::size_t>(channels);
  }
  friend bool operator==(const ImageShape& a, const ImageShape& b) {
    return a.height == b.height && a.width == b.width && a.channels == b.channels;
  }
  friend bool operator!=(const ImageShape& a, const ImageShape& b) { return !(a == b); }
};

template <class T>
struct BasicTensorView {
  T* data = nullptr;
  std::int32_t batch = 0;
  ImageShape shape;

  std::size_t elements() const { return static_cast<std::size_t>(batch) * shape.elements(); }
  // Element (n, y, x, c).
  T& at(std::int32_t n, std::int32_t y, std::int32_t x, std::int32_t c) const {
    const std::size_t index =
        ((static_cast<std::size_t>(n) * shape.height + y) * shape.width + x) * shape.channels + c;
    return data[index];
  }
};

using TensorView = BasicTensorView<float>;
using ConstTensorView = BasicTensorView<const float>;

}  // namespace lsuv
