#include "lsuv/io/tensor_layout.hpp"

namespace lsuv {

void nchw_to_nhwc(const float* from, std::int32_t batch, ImageShape shape, float* to) {
  const std::size_t plane = static_cast<std::size_t>(shape.height) * shape.width;
  const std::size_t channels = static_cast<std::size_t>(shape.channels);
  for (std::size_t b = 0; b < static_cast<std::size_t>(batch); ++b)
    for (std::size_t c = 0; c < channels; ++c)
      for (std::size_t p = 0; p < plane; ++p)
        to[(b * plane + p) * channels + c] = from[(b * channels + c) * plane + p];
}

void nhwc_to_nchw(const float* from, std::int32_t batch, ImageShape shape, float* to) {
  const std::size_t plane = static_cast<std::size_t>(shape.height) * shape.width;
  const std::size_t channels = static_cast<std::size_t>(shape.channels);
  for (std::size_t b = 0; b < static_cast<std::size_t>(batch); ++b)
    for (std::size_t c = 0; c < channels; ++c)
      for (std::size_t p = 0; p < plane; ++p)
        to[(b * channels + c) * plane + p] = from[(b * plane + p) * channels + c];
}

namespace {

bool keeps_layout(LayerKind kind) {
  return kind == LayerKind::relu || kind == LayerKind::relu6 || kind == LayerKind::hardtanh ||
         kind == LayerKind::batch_norm2d || kind == LayerKind::add;
}

}  // namespace

TorchOutputLayout torch_output_layout(const Model& model) {
  TorchOutputLayout layout;
  layout.order = model.layer(model.layer_count() - 1).output;
  // Walk back from the last op, each step to the first tensor the op reads, through the ops that
  // keep their input's layout; a run of Flattens numbers the features by what the first of them
  // received.
  for (std::int32_t i = model.layer_count() - 1; i >= 0; i = model.layer(i).inputs[0]) {
    const Layer& layer = model.layer(i);
    if (layer.spec.kind == LayerKind::flatten) {
      layout.flat = true;
      layout.order = layer.input;
      continue;
    }
    if (keeps_layout(layer.spec.kind)) continue;
    if (layer.spec.kind == LayerKind::linear) layout.flat = true;
    break;
  }
  return layout;
}

void output_to_torch(const Model& model, std::int32_t batch, float* to) {
  const TorchOutputLayout layout = torch_output_layout(model);
  nhwc_to_nchw(model.output().data, batch, layout.order, to);
}

}  // namespace lsuv
