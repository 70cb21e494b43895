#include "lsuv/layer.hpp"

#include "lsuv/model.hpp"

namespace lsuv {

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::conv2d:
      return "conv2d";
    case LayerKind::linear:
      return "linear";
    case LayerKind::relu:
      return "relu";
    case LayerKind::max_pool2d:
      return "max_pool2d";
    case LayerKind::avg_pool2d:
      return "avg_pool2d";
    case LayerKind::adaptive_avg_pool2d:
      return "adaptive_avg_pool2d";
    case LayerKind::flatten:
      return "flatten";
    case LayerKind::add:
      return "add";
    case LayerKind::batch_norm2d:
      return "batch_norm2d";
    case LayerKind::relu6:
      return "relu6";
    case LayerKind::hardtanh:
      return "hardtanh";
  }
  return "unknown";
}

std::int32_t Layer::fan_in() const {
  if (spec.kind == LayerKind::conv2d)
    return spec.kernel_h * spec.kernel_w * (input.channels / spec.groups);
  return static_cast<std::int32_t>(input.elements());
}

std::size_t Layer::parameter_index(std::int32_t out, std::int32_t column) const {
  const std::size_t outs = static_cast<std::size_t>(output.channels);
  if (spec.kind == LayerKind::conv2d) {
    // PyTorch column = (i * kh + ky) * kw + kx; ours [ky][kx][i][out].
    const std::int32_t window = spec.kernel_h * spec.kernel_w;
    const std::int32_t i = column / window;
    const std::int32_t ky = (column % window) / spec.kernel_w;
    const std::int32_t kx = column % spec.kernel_w;
    const std::size_t group_in = static_cast<std::size_t>(input.channels / spec.groups);
    return ((static_cast<std::size_t>(ky) * spec.kernel_w + kx) * group_in + i) * outs + out;
  }
  // Linear: PyTorch numbers features C x H x W; ours are H x W x C.
  const ImageShape& f = feature_shape;
  const std::int32_t plane = f.height * f.width;
  const std::int32_t c = column / plane;
  const std::int32_t y = (column % plane) / f.width;
  const std::int32_t x = column % f.width;
  const std::size_t feature = (static_cast<std::size_t>(y) * f.width + x) * f.channels + c;
  return feature * outs + out;
}

}  // namespace lsuv
