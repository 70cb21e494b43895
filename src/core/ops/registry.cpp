#include <cstdarg>
#include <cstdio>

#include "core/ops/op.hpp"

namespace lsuv::ops {

Status ShapeError::fail(Status status, const char* format, ...) {
  va_list args;
  va_start(args, format);
  std::vsnprintf(text, sizeof text, format, args);
  va_end(args);
  return status;
}

const OpTraits& traits(LayerKind kind) {
  switch (kind) {
    case LayerKind::conv2d:
      return kConv2d;
    case LayerKind::linear:
      return kLinear;
    case LayerKind::relu:
    case LayerKind::relu6:
    case LayerKind::hardtanh:
      return kClamp;
    case LayerKind::max_pool2d:
      return kMaxPool2d;
    case LayerKind::avg_pool2d:
      return kAvgPool2d;
    case LayerKind::adaptive_avg_pool2d:
      return kGlobalAvgPool;
    case LayerKind::flatten:
      return kFlatten;
    case LayerKind::add:
      return kAdd;
    case LayerKind::batch_norm2d:
      return kBatchNorm2d;
  }
  return kFlatten;  // unreachable: configure() refuses kinds outside the enum first
}

bool clamp_range(const LayerSpec& spec, float* lo, float* hi) {
  switch (spec.kind) {
    case LayerKind::relu:
      *lo = 0.0f;
      *hi = kernels::F32Epilogue().clamp_max;
      return true;
    case LayerKind::relu6:
      *lo = 0.0f;
      *hi = 6.0f;
      return true;
    case LayerKind::hardtanh:
      *lo = spec.clamp_min;
      *hi = spec.clamp_max;
      return true;
    default:
      return false;
  }
}

std::uint8_t saves_nothing(const Layer&, bool) {
  return kSavesNothing;
}

void pass_gradient(const OpBackward& op, std::size_t elements) {
  for (std::int32_t k = 0; k < op.layer.input_count; ++k) {
    float* const into[2] = {op.grad_inputs[k], nullptr};
    if (into[0] != nullptr) op.k.add(elements, op.grad_output, into, 2, op.modes[k]);
  }
}

std::int64_t window_output(std::int32_t in, std::int32_t kernel, std::int32_t stride,
                           std::int32_t pad, std::int32_t dilation) {
  const std::int64_t span = static_cast<std::int64_t>(dilation) * (kernel - 1) + 1;
  const std::int64_t padded = static_cast<std::int64_t>(in) + 2 * static_cast<std::int64_t>(pad);
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

}  // namespace lsuv::ops
