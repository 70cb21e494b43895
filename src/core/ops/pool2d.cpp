// torch.nn.MaxPool2d and AvgPool2d (count_include_pad=True): kernel, stride, padding.
#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

Status shape(const LayerSpec& s, const ImageShape* inputs, std::int32_t, Layer* layer,
             ShapeError* why) {
  const ImageShape in = inputs[0];
  if (s.kernel_h <= 0 || s.kernel_w <= 0 || s.stride_h <= 0 || s.stride_w <= 0 || s.pad_h < 0 ||
      s.pad_w < 0)
    return why->fail(Status::invalid_argument, "kernel and stride must be positive, padding >= 0");
  // PyTorch's rule: padding at most half the window, so no window is all padding.
  if (s.pad_h > s.kernel_h / 2 || s.pad_w > s.kernel_w / 2)
    return why->fail(Status::invalid_argument, "padding %dx%d is more than half the %dx%d window",
                     s.pad_h, s.pad_w, s.kernel_h, s.kernel_w);
  const std::int64_t h = window_output(in.height, s.kernel_h, s.stride_h, s.pad_h, 1);
  const std::int64_t w = window_output(in.width, s.kernel_w, s.stride_w, s.pad_w, 1);
  if (h <= 0 || w <= 0)
    return why->fail(Status::shape_mismatch, "a %dx%d window does not fit in %dx%d", s.kernel_h,
                     s.kernel_w, in.height, in.width);
  layer->output = {static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), in.channels};
  return Status::ok;
}

kernels::Pool2dParams params(const Layer& layer, std::int32_t batch) {
  const LayerSpec& s = layer.spec;
  const ImageShape in = layer.input;
  const ImageShape out = layer.output;
  return {batch,      in.height,  in.width,   in.channels, out.height, out.width,
          s.kernel_h, s.kernel_w, s.stride_h, s.stride_w,  s.pad_h,    s.pad_w};
}

void run_max(const OpRun& op) {
  op.k.max_pool2d(params(op.layer, op.batch), op.inputs[0], op.output);
}

void run_avg(const OpRun& op) {
  op.k.avg_pool2d(params(op.layer, op.batch), op.inputs[0], op.output);
}

// The arg max is found again in the forward input (no saved indices).
void backward_max(const OpBackward& op) {
  if (op.grad_inputs[0] != nullptr)
    op.k.max_pool2d(params(op.layer, op.batch), op.input, op.grad_output, op.grad_inputs[0],
                    op.modes[0]);
}

std::uint8_t saves_max(const Layer&, bool) {
  return kSavesInput;
}

void backward_avg(const OpBackward& op) {
  if (op.grad_inputs[0] != nullptr)
    op.k.avg_pool2d(params(op.layer, op.batch), op.grad_output, op.grad_inputs[0], op.modes[0]);
}

}  // namespace

const OpTraits kMaxPool2d = {shape, run_max,      nullptr,   false,   false, 1,
                             1,     backward_max, saves_max, nullptr, false};
const OpTraits kAvgPool2d = {shape, run_avg,      nullptr,       false,   false, 1,
                             1,     backward_avg, saves_nothing, nullptr, false};

}  // namespace lsuv::ops
