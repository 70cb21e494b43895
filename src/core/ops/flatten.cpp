// torch.nn.Flatten: the same bytes seen as one vector per image, so in place it costs nothing;
// a copy only when its input must stay (the network input, or a tensor read later).
#include <cstring>

#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

Status shape(const LayerSpec&, const ImageShape* inputs, std::int32_t, Layer* layer,
             ShapeError* why) {
  const std::size_t elements = inputs[0].elements();
  if (elements > static_cast<std::size_t>(INT32_MAX))
    return why->fail(Status::size_overflow, "more than 2^31 features");
  layer->output = {1, 1, static_cast<std::int32_t>(elements)};
  return Status::ok;
}

void run(const OpRun& op) {
  if (op.output != op.inputs[0])
    std::memcpy(op.output, op.inputs[0],
                static_cast<std::size_t>(op.batch) * op.layer.input.elements() * sizeof(float));
}

void backward(const OpBackward& op) {
  pass_gradient(op, static_cast<std::size_t>(op.batch) * op.layer.input.elements());
}

}  // namespace

const OpTraits kFlatten = {shape, run,      nullptr,       true,    false, 1,
                           1,     backward, saves_nothing, nullptr, false};

}  // namespace lsuv::ops
