// A residual join: the element-wise sum of two to four tensors of one shape, with an optional
// ReLU (`relu=True`) in the same pass.
#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

Status shape(const LayerSpec&, const ImageShape* inputs, std::int32_t count, Layer* layer,
             ShapeError* why) {
  for (std::int32_t i = 1; i < count; ++i)
    if (inputs[i] != inputs[0])
      return why->fail(Status::shape_mismatch, "input %d is %dx%dx%d, input 1 is %dx%dx%d", i + 1,
                       inputs[i].height, inputs[i].width, inputs[i].channels, inputs[0].height,
                       inputs[0].width, inputs[0].channels);
  layer->output = inputs[0];
  return Status::ok;
}

void run(const OpRun& op) {
  const ImageShape shape = op.layer.output;
  kernels::F32Epilogue epilogue = op.epilogue;
  if (op.layer.spec.relu && epilogue.clamp_min < 0.0f) epilogue.clamp_min = 0.0f;
  op.k.add(static_cast<std::size_t>(op.batch) * shape.height * shape.width,
           static_cast<std::size_t>(shape.channels), op.inputs, op.layer.input_count, op.output,
           epilogue);
}

// A fused ReLU masks the output gradient first (from the stored sum after the ReLU); then every
// input gets it.
void backward(const OpBackward& op) {
  const std::size_t elements = static_cast<std::size_t>(op.batch) * op.layer.output.elements();
  if (op.layer.spec.relu)
    op.k.clamp(elements, op.output, op.grad_output, op.grad_output, 0.0f,
               kernels::F32Epilogue().clamp_max, kernels::GradWrite::assign);
  pass_gradient(op, elements);
}

std::uint8_t saves(const Layer& layer, bool) {
  return layer.spec.relu ? kSavesOutput : kSavesNothing;
}

}  // namespace

const OpTraits kAdd = {shape,    run,   nullptr, true, true, 2, LayerSpec::kMaxInputs,
                       backward, saves, nullptr, false};

}  // namespace lsuv::ops
