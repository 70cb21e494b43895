// torch.nn.ReLU, ReLU6 and Hardtanh: an element-wise clamp, in place when nothing else reads its
// input, and folded into the epilogue of the op before it when it is that op's only reader.
#include <cmath>

#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

Status shape(const LayerSpec& s, const ImageShape* inputs, std::int32_t, Layer* layer,
             ShapeError* why) {
  float lo = 0.0f, hi = 0.0f;
  (void)clamp_range(s, &lo, &hi);
  if (std::isnan(lo) || std::isnan(hi) || lo > hi)
    return why->fail(Status::invalid_argument, "min_val %g must not exceed max_val %g",
                     static_cast<double>(lo), static_cast<double>(hi));
  layer->output = inputs[0];
  return Status::ok;
}

void run(const OpRun& op) {
  float lo = 0.0f, hi = 0.0f;
  (void)clamp_range(op.layer.spec, &lo, &hi);
  op.k.clamp(static_cast<std::size_t>(op.batch) * op.layer.input.elements(), op.inputs[0],
             op.output, lo, hi);
}

// From the forward output (see clamp_backward_f32_ref), so a clamp fused into the op before it
// has a backward too.
void backward(const OpBackward& op) {
  if (op.grad_inputs[0] == nullptr) return;
  float lo = 0.0f, hi = 0.0f;
  (void)clamp_range(op.layer.spec, &lo, &hi);
  op.k.clamp(static_cast<std::size_t>(op.batch) * op.layer.input.elements(), op.output,
             op.grad_output, op.grad_inputs[0], lo, hi, op.modes[0]);
}

std::uint8_t saves(const Layer&, bool) {
  return kSavesOutput;
}

}  // namespace

const OpTraits kClamp = {shape, run, nullptr, true, false, 1, 1, backward, saves, nullptr, false};

}  // namespace lsuv::ops
