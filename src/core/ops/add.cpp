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

}  // namespace

const OpTraits kAdd = {shape, run, nullptr, true, true, 2, LayerSpec::kMaxInputs};

}  // namespace lsuv::ops
