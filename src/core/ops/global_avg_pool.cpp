// torch.nn.AdaptiveAvgPool2d(1): the mean over H and W of every channel.
#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

Status shape(const LayerSpec&, const ImageShape* inputs, std::int32_t, Layer* layer, ShapeError*) {
  layer->output = {1, 1, inputs[0].channels};
  return Status::ok;
}

void run(const OpRun& op) {
  const ImageShape in = op.layer.input;
  op.k.global_avg_pool(op.batch, in.height * in.width, in.channels, op.inputs[0], op.output);
}

void backward(const OpBackward& op) {
  if (op.grad_inputs[0] == nullptr) return;
  const ImageShape in = op.layer.input;
  op.k.global_avg_pool(op.batch, in.height * in.width, in.channels, op.grad_output,
                       op.grad_inputs[0], op.modes[0], op.input_gate);
}

}  // namespace

const OpTraits kGlobalAvgPool = {shape, run,      nullptr,       false,   false, 1,
                                 1,     backward, saves_nothing, nullptr, true};

}  // namespace lsuv::ops
