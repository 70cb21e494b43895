// torch.nn.Linear over whatever arrives, flattened (NHWC order here; Layer::parameter_index maps
// PyTorch's C x H x W feature numbering).
#include "core/checked_math.hpp"
#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

kernels::LinearParams params(const Layer& layer, std::int32_t batch) {
  return {batch, static_cast<std::int32_t>(layer.input.elements()), layer.output.channels};
}

Status shape(const LayerSpec& s, const ImageShape* inputs, std::int32_t, Layer* layer,
             ShapeError* why) {
  const ImageShape in = inputs[0];
  if (s.out_channels <= 0 || s.in_channels < 0)
    return why->fail(Status::invalid_argument, "out_features must be positive");
  if (s.out_channels > kMaxDimension)
    return why->fail(Status::size_overflow, "out_features above %d", kMaxDimension);
  const std::size_t features = in.elements();
  if (features > static_cast<std::size_t>(INT32_MAX))
    return why->fail(Status::size_overflow, "more than 2^31 input features");
  if (s.in_channels != 0 && static_cast<std::size_t>(s.in_channels) != features)
    return why->fail(Status::shape_mismatch, "expects %d input features, %zu arrive (%dx%dx%d)",
                     s.in_channels, features, in.height, in.width, in.channels);
  layer->output = {1, 1, s.out_channels};
  std::size_t count = 0;
  if (!detail::checked_multiply(features, static_cast<std::size_t>(s.out_channels), &count))
    return why->fail(Status::size_overflow, "too many weights");
  layer->weight_count = count;
  layer->bias_count = s.bias ? static_cast<std::size_t>(s.out_channels) : 0;
  return Status::ok;
}

void run(const OpRun& op) {
  op.k.linear(params(op.layer, op.batch), op.inputs[0], op.layer.weights, op.layer.bias, op.output,
              op.epilogue, op.scratch);
}

std::size_t scratch_bytes(const Layer& layer, std::int32_t batch) {
  return kernels::linear_scratch_bytes_any_level(params(layer, batch));
}

void backward(const OpBackward& op) {
  const kernels::LinearParams p = params(op.layer, op.batch);
  if (op.grad_weights != nullptr)
    op.k.linear_weights(p, op.input, op.grad_output, op.grad_weights, kernels::GradWrite::assign,
                        op.scratch);
  if (op.grad_bias != nullptr)
    op.k.bias(static_cast<std::size_t>(op.batch), static_cast<std::size_t>(p.out_features),
              op.grad_output, op.grad_bias, kernels::GradWrite::assign);
  if (op.grad_inputs[0] != nullptr)
    op.k.linear_input(p, op.grad_output, op.layer.weights, op.grad_inputs[0], op.modes[0],
                      op.input_gate, op.scratch);
}

std::uint8_t saves(const Layer&, bool weights_train) {
  return weights_train ? kSavesInput : kSavesNothing;
}

std::size_t backward_scratch_bytes(const Layer& layer, std::int32_t batch) {
  const kernels::LinearParams p = params(layer, batch);
  const std::size_t input = kernels::linear_backward_input_scratch_bytes_any_level(p);
  const std::size_t weights = kernels::linear_backward_weights_scratch_bytes_any_level(p);
  return input > weights ? input : weights;
}

}  // namespace

const OpTraits kLinear = {shape,    run,   scratch_bytes,          false, true, 1, 1,
                          backward, saves, backward_scratch_bytes, true};

}  // namespace lsuv::ops
