// LayerSpec: what one op of a network is, before any memory exists.
//
// A network is an array of LayerSpec in execution order, built in code with the helpers below or
// parsed from a text spec (lsuv/io/model_spec.hpp). Each op reads the output of the op before it
// unless it names its inputs (with_input): a chain is written as a plain list, a residual block
// names the tensors it joins. The name "input" is the network's input. Hyper-parameters mirror
// PyTorch's modules so a model written for torch.nn translates line by line:
//
//   constexpr lsuv::LayerSpec layers[] = {
//       lsuv::conv2d("conv1", 1, 8, 3).with_padding(1),
//       lsuv::relu("relu1"),
//       lsuv::conv2d("conv2", 8, 8, 3).with_padding(1),
//       lsuv::add("add", "conv2", "relu1").with_relu(),  // residual: conv2 + relu1, then ReLU
//       lsuv::adaptive_avg_pool2d("avg"),
//       lsuv::linear("l1", 8, 10),
//   };
#pragma once

#include <cstdint>

namespace lsuv {

enum class LayerKind : std::uint8_t {
  conv2d,               // torch.nn.Conv2d: stride, padding, dilation, groups, optional bias
  linear,               // torch.nn.Linear; flattens its input (like Flatten then Linear)
  relu,                 // torch.nn.ReLU
  max_pool2d,           // torch.nn.MaxPool2d: kernel, stride, padding (padding never wins)
  avg_pool2d,           // torch.nn.AvgPool2d: kernel, stride, padding (count_include_pad=True)
  adaptive_avg_pool2d,  // torch.nn.AdaptiveAvgPool2d(1): mean over H and W
  flatten,              // torch.nn.Flatten: C x H x W -> one vector (PyTorch's CHW order)
  add,                  // element-wise sum of two or more inputs of one shape (a residual join)
  batch_norm2d,         // torch.nn.BatchNorm2d in eval mode: per-channel affine from running stats
  relu6,                // torch.nn.ReLU6: clamp to [0, 6]
  hardtanh,             // torch.nn.Hardtanh: clamp to [clamp_min, clamp_max]
};

// "conv2d", "linear", ... ; never null.
const char* layer_kind_name(LayerKind kind);
// True for the layers LSUV normalises (conv2d and linear: those with weights).
constexpr bool has_parameters(LayerKind kind) {
  return kind == LayerKind::conv2d || kind == LayerKind::linear;
}

struct LayerSpec {
  static constexpr int kMaxNameLength = 31;
  // Inputs an op may name (Add joins up to this many tensors).
  static constexpr int kMaxInputs = 4;

  LayerKind kind = LayerKind::relu;
  char name[kMaxNameLength + 1] = {};  // as in PyTorch's state_dict: "conv1", "l1"
  // conv2d: in/out channels; linear: in/out features. in_channels = 0 means "whatever the
  // previous layer produces"; a non-zero value is checked against it.
  std::int32_t in_channels = 0;
  std::int32_t out_channels = 0;
  std::int32_t kernel_h = 1, kernel_w = 1;  // conv2d and pooling
  std::int32_t stride_h = 1, stride_w = 1;
  std::int32_t pad_h = 0, pad_w = 0;
  std::int32_t dilation_h = 1, dilation_w = 1;  // conv2d
  std::int32_t groups = 1;                      // conv2d; in_channels for depthwise
  bool bias = true;                             // conv2d and linear
  bool relu = false;                            // add: ReLU applied to the sum
  float clamp_min = -1.0f, clamp_max = 1.0f;    // hardtanh (relu6 is fixed at [0, 6])
  float eps = 1e-5f;                            // batch_norm2d, as PyTorch's default
  float momentum = 0.1f;                        // batch_norm2d: kept for the round trip only
  // Names of the ops whose outputs this op reads, in order; input_count = 0 means "the op
  // before" (or the network input for the first op).
  char inputs[kMaxInputs][kMaxNameLength + 1] = {};
  std::int32_t input_count = 0;

  constexpr LayerSpec with_stride(std::int32_t s) const { return with_stride(s, s); }
  constexpr LayerSpec with_stride(std::int32_t h, std::int32_t w) const {
    LayerSpec copy = *this;
    copy.stride_h = h;
    copy.stride_w = w;
    return copy;
  }
  constexpr LayerSpec with_padding(std::int32_t p) const { return with_padding(p, p); }
  constexpr LayerSpec with_padding(std::int32_t h, std::int32_t w) const {
    LayerSpec copy = *this;
    copy.pad_h = h;
    copy.pad_w = w;
    return copy;
  }
  constexpr LayerSpec with_dilation(std::int32_t d) const { return with_dilation(d, d); }
  constexpr LayerSpec with_dilation(std::int32_t h, std::int32_t w) const {
    LayerSpec copy = *this;
    copy.dilation_h = h;
    copy.dilation_w = w;
    return copy;
  }
  constexpr LayerSpec with_groups(std::int32_t g) const {
    LayerSpec copy = *this;
    copy.groups = g;
    return copy;
  }
  constexpr LayerSpec without_bias() const {
    LayerSpec copy = *this;
    copy.bias = false;
    return copy;
  }
  constexpr LayerSpec with_relu() const {
    LayerSpec copy = *this;
    copy.relu = true;
    return copy;
  }
  constexpr LayerSpec with_eps(float value) const {
    LayerSpec copy = *this;
    copy.eps = value;
    return copy;
  }
  // Appends one input by name (ignored past kMaxInputs; Model::configure then reports the op).
  constexpr LayerSpec with_input(const char* tensor) const {
    LayerSpec copy = *this;
    if (copy.input_count < kMaxInputs) {
      for (int i = 0; i < kMaxNameLength && tensor[i] != '\0'; ++i)
        copy.inputs[copy.input_count][i] = tensor[i];
      ++copy.input_count;
    }
    return copy;
  }
};

namespace detail {
constexpr LayerSpec named(LayerKind kind, const char* name) {
  LayerSpec spec;
  spec.kind = kind;
  for (int i = 0; i < LayerSpec::kMaxNameLength && name[i] != '\0'; ++i) spec.name[i] = name[i];
  return spec;
}
}  // namespace detail

constexpr LayerSpec conv2d(const char* name, std::int32_t in_channels, std::int32_t out_channels,
                           std::int32_t kernel_h, std::int32_t kernel_w) {
  LayerSpec spec = detail::named(LayerKind::conv2d, name);
  spec.in_channels = in_channels;
  spec.out_channels = out_channels;
  spec.kernel_h = kernel_h;
  spec.kernel_w = kernel_w;
  return spec;
}
constexpr LayerSpec conv2d(const char* name, std::int32_t in_channels, std::int32_t out_channels,
                           std::int32_t kernel) {
  return conv2d(name, in_channels, out_channels, kernel, kernel);
}
constexpr LayerSpec linear(const char* name, std::int32_t in_features, std::int32_t out_features) {
  LayerSpec spec = detail::named(LayerKind::linear, name);
  spec.in_channels = in_features;
  spec.out_channels = out_features;
  return spec;
}
constexpr LayerSpec relu(const char* name) {
  return detail::named(LayerKind::relu, name);
}
// Pooling: stride defaults to the kernel size, as in PyTorch.
constexpr LayerSpec max_pool2d(const char* name, std::int32_t kernel) {
  LayerSpec spec = detail::named(LayerKind::max_pool2d, name);
  spec.kernel_h = spec.kernel_w = spec.stride_h = spec.stride_w = kernel;
  return spec;
}
constexpr LayerSpec avg_pool2d(const char* name, std::int32_t kernel) {
  LayerSpec spec = detail::named(LayerKind::avg_pool2d, name);
  spec.kernel_h = spec.kernel_w = spec.stride_h = spec.stride_w = kernel;
  return spec;
}
constexpr LayerSpec adaptive_avg_pool2d(const char* name) {
  return detail::named(LayerKind::adaptive_avg_pool2d, name);
}
constexpr LayerSpec flatten(const char* name) {
  return detail::named(LayerKind::flatten, name);
}
// a + b; chain with_input for more terms.
constexpr LayerSpec add(const char* name, const char* a, const char* b) {
  return detail::named(LayerKind::add, name).with_input(a).with_input(b);
}
constexpr LayerSpec batch_norm2d(const char* name, std::int32_t channels) {
  LayerSpec spec = detail::named(LayerKind::batch_norm2d, name);
  spec.in_channels = spec.out_channels = channels;
  return spec;
}
constexpr LayerSpec relu6(const char* name) {
  LayerSpec spec = detail::named(LayerKind::relu6, name);
  spec.clamp_min = 0.0f;
  spec.clamp_max = 6.0f;
  return spec;
}
constexpr LayerSpec hardtanh(const char* name, float min_value = -1.0f, float max_value = 1.0f) {
  LayerSpec spec = detail::named(LayerKind::hardtanh, name);
  spec.clamp_min = min_value;
  spec.clamp_max = max_value;
  return spec;
}

}  // namespace lsuv
