// torch.nn.Conv2d: stride, padding, dilation, groups (depthwise when groups = channels), bias.
#include "core/checked_math.hpp"
#include "core/ops/op.hpp"

namespace lsuv::ops {
namespace {

kernels::Conv2dParams params(const Layer& layer, std::int32_t batch) {
  const LayerSpec& s = layer.spec;
  const ImageShape in = layer.input;
  const ImageShape out = layer.output;
  return {batch,        in.height,    in.width,     in.channels, out.height, out.width,
          out.channels, s.kernel_h,   s.kernel_w,   s.stride_h,  s.stride_w, s.pad_h,
          s.pad_w,      s.dilation_h, s.dilation_w, s.groups};
}

Status shape(const LayerSpec& s, const ImageShape* inputs, std::int32_t, Layer* layer,
             ShapeError* why) {
  const ImageShape in = inputs[0];
  if (s.out_channels <= 0 || s.groups <= 0 || s.kernel_h <= 0 || s.kernel_w <= 0 ||
      s.stride_h <= 0 || s.stride_w <= 0 || s.dilation_h <= 0 || s.dilation_w <= 0 || s.pad_h < 0 ||
      s.pad_w < 0 || s.in_channels < 0)
    return why->fail(Status::invalid_argument,
                     "sizes, strides, dilations and groups must be positive, padding >= 0");
  if (s.in_channels != 0 && s.in_channels != in.channels)
    return why->fail(Status::shape_mismatch, "expects %d input channels, %d arrive (%dx%dx%d)",
                     s.in_channels, in.channels, in.height, in.width, in.channels);
  if (in.channels % s.groups != 0 || s.out_channels % s.groups != 0)
    return why->fail(Status::invalid_argument,
                     "groups=%d must divide the %d input and %d output channels", s.groups,
                     in.channels, s.out_channels);
  if (s.kernel_h > kMaxDimension || s.kernel_w > kMaxDimension || s.out_channels > kMaxDimension ||
      s.pad_h > kMaxDimension || s.pad_w > kMaxDimension || s.dilation_h > kMaxDimension ||
      s.dilation_w > kMaxDimension)
    return why->fail(Status::size_overflow, "a size is above %d", kMaxDimension);
  const std::int64_t h = window_output(in.height, s.kernel_h, s.stride_h, s.pad_h, s.dilation_h);
  const std::int64_t w = window_output(in.width, s.kernel_w, s.stride_w, s.pad_w, s.dilation_w);
  if (h <= 0 || w <= 0)
    return why->fail(Status::shape_mismatch,
                     "a %dx%d window (dilation %dx%d) does not fit in %dx%d", s.kernel_h,
                     s.kernel_w, s.dilation_h, s.dilation_w, in.height, in.width);
  if (h > kMaxDimension || w > kMaxDimension)
    return why->fail(Status::size_overflow, "output above %d pixels a side", kMaxDimension);
  layer->output = {static_cast<std::int32_t>(h), static_cast<std::int32_t>(w), s.out_channels};
  // The fan-in numbers PyTorch's weight columns (Layer::fan_in, parameter_index): int32.
  std::size_t fan_in = 0;
  std::size_t count = 0;
  if (!detail::checked_multiply(static_cast<std::size_t>(s.kernel_h),
                                static_cast<std::size_t>(s.kernel_w), &fan_in) ||
      !detail::checked_multiply(fan_in, static_cast<std::size_t>(in.channels / s.groups),
                                &fan_in) ||
      fan_in > static_cast<std::size_t>(INT32_MAX) ||
      !detail::checked_multiply(fan_in, static_cast<std::size_t>(s.out_channels), &count))
    return why->fail(Status::size_overflow, "too many weights");
  layer->weight_count = count;
  layer->bias_count = s.bias ? static_cast<std::size_t>(s.out_channels) : 0;
  return Status::ok;
}

void run(const OpRun& op) {
  op.k.conv2d(params(op.layer, op.batch), op.inputs[0], op.layer.weights, op.layer.bias, op.output,
              op.epilogue, op.scratch);
}

std::size_t scratch_bytes(const Layer& layer, std::int32_t batch) {
  return kernels::conv2d_scratch_bytes_any_level(params(layer, batch));
}

void backward(const OpBackward& op) {
  const kernels::Conv2dParams p = params(op.layer, op.batch);
  if (op.grad_weights != nullptr)
    op.k.conv2d_weights(p, op.input, op.grad_output, op.grad_weights, kernels::GradWrite::assign,
                        op.scratch);
  if (op.grad_bias != nullptr)
    op.k.bias(static_cast<std::size_t>(op.batch) * p.out_h * p.out_w,
              static_cast<std::size_t>(p.out_c), op.grad_output, op.grad_bias,
              kernels::GradWrite::assign);
  if (op.grad_inputs[0] != nullptr)
    op.k.conv2d_input(p, op.grad_output, op.layer.weights, op.grad_inputs[0], op.modes[0],
                      op.input_gate, op.scratch);
}

std::uint8_t saves(const Layer&, bool weights_train) {
  return weights_train ? kSavesInput : kSavesNothing;
}

// The two kernels run one after the other: the larger of their needs.
std::size_t backward_scratch_bytes(const Layer& layer, std::int32_t batch) {
  const kernels::Conv2dParams p = params(layer, batch);
  const std::size_t input = kernels::conv2d_backward_input_scratch_bytes_any_level(p);
  const std::size_t weights = kernels::conv2d_backward_weights_scratch_bytes_any_level(p);
  return input > weights ? input : weights;
}

}  // namespace

const OpTraits kConv2d = {shape,    run,   scratch_bytes,          false, true, 1, 1,
                          backward, saves, backward_scratch_bytes, true};

}  // namespace lsuv::ops
