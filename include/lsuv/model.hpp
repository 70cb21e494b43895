// Model: a sequential network with all of its memory planned up front.
//
//   lsuv::Model model;
//   LSUV_TRY(model.configure(layers, n_layers, {28, 28, 1}, /*max_batch=*/64));
//   // model.required_bytes() is exact for a buffer aligned to Arena::kAlignment.
//   lsuv::Arena arena(buffer, sizeof buffer);
//   LSUV_TRY(model.bind(arena));
//   LSUV_TRY(model.forward(images, batch));   // no heap allocation, ever
//   lsuv::ConstTensorView logits = model.output();
//
// configure() checks shapes and sizes only; bind() takes parameters and two activation buffers
// from the arena. Parameters are stored in the layout the kernels read (see Layer); import and
// export through lsuv/io convert from and to PyTorch's layouts.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/arena.hpp"
#include "lsuv/layer.hpp"
#include "lsuv/running_stats.hpp"
#include "lsuv/status.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv {

namespace kernels {
struct ChannelMoments;
}

struct Layer {
  LayerSpec spec;
  ImageShape input;   // per image, as it arrives at this layer
  ImageShape output;  // per image, as it leaves
  // For linear layers: the shape whose C x H x W order numbers the input features in PyTorch
  // (the input of a preceding Flatten); equal to `input` otherwise.
  ImageShape feature_shape;
  // Parameters, null for layers without. Conv2d weights are [kh][kw][in_c / groups][out_c],
  // linear weights [in][out] with inputs in NHWC order; use parameter_index() to address them
  // in PyTorch's numbering.
  float* weights = nullptr;
  float* bias = nullptr;
  std::size_t weight_count = 0;
  std::size_t bias_count = 0;

  // PyTorch's fan-in: the length of one row of weight.view(out, -1).
  std::int32_t fan_in() const;
  // Index into `weights` of PyTorch's weight.view(out, -1)[out][column].
  std::size_t parameter_index(std::int32_t out, std::int32_t column) const;
};

// Sees the output of every layer during Model::forward (for statistics tables, debugging).
class LayerObserver {
 public:
  virtual void observe(std::int32_t layer_index, const Layer& layer, ConstTensorView output) = 0;

 protected:
  ~LayerObserver() = default;
};

class Model {
 public:
  static constexpr std::int32_t kMaxLayers = 32;

  // Validates the network for images of `input` shape and batches of up to `max_batch`.
  // Errors: invalid_argument (non-positive sizes, missing or duplicate names, groups that do
  // not divide), shape_mismatch (in_channels differs from what arrives, empty output),
  // too_many_layers, size_overflow. On success the model is configured and unbound (call bind
  // again); on failure it is as it was.
  Status configure(const LayerSpec* layers, std::int32_t count, ImageShape input,
                   std::int32_t max_batch);

  // Exact bytes bind() takes from an arena whose buffer is aligned to Arena::kAlignment.
  std::size_t required_bytes() const;
  // Takes parameters (zeroed) and activation buffers from `arena`. On failure the model is as it
  // was (unbound, or still bound to its old memory) and the arena is rewound; the status says
  // why (arena_too_small, size_overflow).
  Status bind(Arena& arena);
  bool bound() const { return bound_; }

  // Runs all layers on `batch` NHWC images of input_shape(); the result is output().
  // A conv2d or linear layer directly followed by a ReLU runs as one kernel that applies the
  // ReLU as it stores (same values, one pass less).
  // Errors: not_bound, invalid_argument (batch outside 1..max_batch, null input).
  Status forward(const float* input, std::int32_t batch);
  // The same, showing every layer's output to `observer` (nothing fused: the observer sees
  // each layer's own output).
  Status forward(const float* input, std::int32_t batch, LayerObserver& observer);
  ConstTensorView output() const { return output_; }

  // Runs layers [first, last) on `input` (the input of layer `first`) through the model's own
  // activation buffers and returns where the result is in *result. The building block of
  // LSUV's layer-by-layer passes.
  // A conv2d or linear layer is fused with a ReLU that follows it inside the range.
  Status forward_range(std::int32_t first, std::int32_t last, ConstTensorView input,
                       ConstTensorView* result);
  // The same, also merging the per-channel statistics of layer `first`'s own output (before any
  // fused ReLU) into first_layer_stats[0 .. its output channels). For conv2d and linear they are
  // accumulated while the output is stored, to ~1e-6 relative rather than RunningStats' double
  // exactness (blocks of up to 64 rows, shifted float sums, merged in double: see
  // kernels::F32Epilogue); other layers use add_per_channel.
  Status forward_range(std::int32_t first, std::int32_t last, ConstTensorView input,
                       ConstTensorView* result, RunningStats* first_layer_stats);
  // Runs one layer from `input` into `output` (caller's buffer, sized for the layer's output).
  Status run_layer(std::int32_t index, ConstTensorView input, TensorView output) const;
  // The same, merging the per-channel statistics of the output into channel_stats (one per
  // output channel; precision as for forward_range). Errors as run_layer, and invalid_argument
  // for null channel_stats.
  Status run_layer_with_statistics(std::int32_t index, ConstTensorView input, TensorView output,
                                   RunningStats* channel_stats) const;

  std::int32_t layer_count() const { return count_; }
  // Shapes are fixed; parameter values may be written through the pointers.
  const Layer& layer(std::int32_t index) const { return layers_[index]; }
  // Index of the layer with this name, or -1.
  std::int32_t find_layer(const char* name) const;

  // Every parameter as one array: each layer's weights then its bias, in layer order and kernel
  // layout. A snapshot to restore later (say, to retry an initialisation) or to keep in flash.
  std::size_t parameter_count() const;
  // Errors: not_bound; invalid_argument (null pointer, count != parameter_count()).
  Status copy_parameters_to(float* destination, std::size_t count) const;
  // The same errors, and non_finite when any value is NaN or Inf: as with load_weights, no NaN
  // or Inf reaches a weight. On any error no parameter changes.
  Status copy_parameters_from(const float* source, std::size_t count);
  ImageShape input_shape() const { return input_; }
  ImageShape output_shape() const { return count_ > 0 ? layers_[count_ - 1].output : input_; }
  std::int32_t max_batch() const { return max_batch_; }
  // Floats in one activation buffer: max_batch times the largest per-image activation.
  std::size_t activation_capacity() const { return activation_capacity_; }

 private:
  Status plan(Arena& arena);
  // Without an observer, a conv2d or linear layer followed by a ReLU in the range runs fused.
  Status run_range(std::int32_t first, std::int32_t last, ConstTensorView input,
                   LayerObserver* observer, RunningStats* first_layer_stats);
  // run_layer with the output stage: ReLU on store (conv2d and linear only) and statistics of
  // the pre-activation output (null: none).
  Status run_layer_staged(std::int32_t index, ConstTensorView input, TensorView output, bool relu,
                          RunningStats* channel_stats) const;

  Layer layers_[kMaxLayers];
  std::int32_t count_ = 0;
  ImageShape input_;
  std::int32_t max_batch_ = 0;
  std::size_t activation_capacity_ = 0;
  float* activations_[2] = {nullptr, nullptr};
  // Kernel scratch (the largest any conv2d / linear layer asks for at any level) and one
  // moments entry per channel of the widest layer output, for the statistics.
  std::size_t kernel_scratch_bytes_ = 0;
  std::int32_t max_channels_ = 0;
  void* kernel_scratch_ = nullptr;
  kernels::ChannelMoments* moments_ = nullptr;
  ConstTensorView output_;
  bool configured_ = false;
  bool bound_ = false;
};

}  // namespace lsuv
