// torch.nn.BatchNorm2d in eval mode: y = (x - running_mean) / sqrt(running_var + eps) * gamma +
// beta per channel, as one per-channel affine whose scale and shift are derived in scratch on
// every run (so new weights or running statistics take effect at once).
#include <cmath>

#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

Status shape(const LayerSpec& s, const ImageShape* inputs, std::int32_t, Layer* layer,
             ShapeError* why) {
  const ImageShape in = inputs[0];
  if (s.in_channels <= 0)
    return why->fail(Status::invalid_argument, "num_features must be positive");
  if (s.in_channels != in.channels)
    return why->fail(Status::shape_mismatch, "expects %d channels, %d arrive (%dx%dx%d)",
                     s.in_channels, in.channels, in.height, in.width, in.channels);
  if (!(s.eps > 0.0f) || !std::isfinite(s.eps))
    return why->fail(Status::invalid_argument, "eps must be positive and finite");
  layer->output = in;
  layer->weight_count = static_cast<std::size_t>(in.channels);
  layer->bias_count = static_cast<std::size_t>(in.channels);
  return Status::ok;
}

void run(const OpRun& op) {
  const Layer& layer = op.layer;
  const std::int32_t channels = layer.output.channels;
  float* scale = static_cast<float*>(op.scratch);
  float* shift = scale + channels;
  for (std::int32_t c = 0; c < channels; ++c) {
    scale[c] = layer.weights[c] / std::sqrt(layer.running_var[c] + layer.spec.eps);
    shift[c] = layer.bias[c] - layer.running_mean[c] * scale[c];
  }
  const ImageShape shape = layer.output;
  op.k.channel_affine(static_cast<std::size_t>(op.batch) * shape.height * shape.width,
                      static_cast<std::size_t>(channels), op.inputs[0], scale, shift, op.output,
                      op.epilogue);
}

std::size_t scratch_bytes(const Layer& layer, std::int32_t) {
  return 2 * static_cast<std::size_t>(layer.output.channels) * sizeof(float);
}

// Frozen statistics (see batch_norm2d_backward_input_f32_ref): gamma and beta train, the running
// mean and variance are constants of the step.
void backward(const OpBackward& op) {
  const Layer& layer = op.layer;
  const std::size_t rows =
      static_cast<std::size_t>(op.batch) * layer.output.height * layer.output.width;
  const std::size_t channels = static_cast<std::size_t>(layer.output.channels);
  if (op.grad_weights != nullptr)
    op.k.batch_norm2d_gamma(rows, channels, op.input, op.grad_output, layer.running_mean,
                            layer.running_var, layer.spec.eps, op.grad_weights,
                            kernels::GradWrite::assign);
  if (op.grad_bias != nullptr)
    op.k.bias(rows, channels, op.grad_output, op.grad_bias, kernels::GradWrite::assign);
  if (op.grad_inputs[0] != nullptr)
    op.k.batch_norm2d_input(rows, channels, op.grad_output, layer.weights, layer.running_var,
                            layer.spec.eps, op.grad_inputs[0], op.modes[0]);
}

std::uint8_t saves(const Layer&, bool weights_train) {
  return weights_train ? kSavesInput : kSavesNothing;
}

}  // namespace

const OpTraits kBatchNorm2d = {shape, run,      scratch_bytes, true,    true, 1,
                               1,     backward, saves,         nullptr, false};

}  // namespace lsuv::ops
