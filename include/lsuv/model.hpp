// Model: a graph of ops over named tensors, with all of its memory planned up front.
//
//   alignas(lsuv::Arena::kAlignment) static unsigned char records[lsuv::Model::graph_bytes(10)];
//   lsuv::Arena graph(records, sizeof records);
//   lsuv::Model model;
//   LSUV_TRY(model.configure(layers, 10, {28, 28, 1}, /*max_batch=*/64, graph));
//   // model.required_bytes() is exact for a buffer aligned to Arena::kAlignment.
//   lsuv::Arena arena(buffer, sizeof buffer);
//   LSUV_TRY(model.bind(arena));
//   LSUV_TRY(model.forward(images, batch));   // no heap allocation, ever
//   lsuv::ConstTensorView logits = model.output();
//
// configure() resolves every op's inputs, checks shapes and sizes, writes one record per op
// into the `graph` arena (so the number of ops is bounded by the caller's memory only) and plans
// the activations: each tensor gets an offset that is reserved from the op that produces it to
// the last op that reads it, and an op that allows it (ReLU and the other clamps, BatchNorm,
// Flatten) writes over its input when nothing reads that input later. bind() then takes the
// parameters and the planned activation region from the arena. Parameters are stored in the
// layout the kernels read (see Layer); import and export through lsuv/io convert from and to
// PyTorch's layouts.
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
  // The ops whose outputs this op reads, in order; -1 is the network input.
  std::int32_t inputs[LayerSpec::kMaxInputs] = {-1, -1, -1, -1};
  std::int32_t input_count = 1;
  ImageShape input;   // per image, of the first input
  ImageShape output;  // per image, as it leaves
  // For linear layers: the shape whose C x H x W order numbers the input features in PyTorch
  // (the input of a preceding Flatten); equal to `input` otherwise.
  ImageShape feature_shape;
  // Parameters, null for ops without. Conv2d weights are [kh][kw][in_c / groups][out_c],
  // linear weights [in][out] with inputs in NHWC order (use parameter_index() to address them in
  // PyTorch's numbering); batch_norm2d keeps gamma in `weights` and beta in `bias`.
  float* weights = nullptr;
  float* bias = nullptr;
  std::size_t weight_count = 0;
  std::size_t bias_count = 0;
  // batch_norm2d only: the running statistics of eval mode, and PyTorch's num_batches_tracked.
  float* running_mean = nullptr;
  float* running_var = nullptr;
  std::int64_t* batches_tracked = nullptr;

  // The plan (set by configure): where the output lives in the activation region, in bytes for
  // max_batch images; the kernel scratch this op needs while it runs; the last op that reads the
  // output (layer_count() for the network's output).
  std::size_t output_offset = 0;
  std::size_t output_bytes = 0;
  std::size_t scratch_offset = 0;
  std::size_t scratch_bytes = 0;
  std::int32_t last_use = 0;
  bool in_place = false;  // the output shares its first input's storage

  // PyTorch's fan-in: the length of one row of weight.view(out, -1).
  std::int32_t fan_in() const;
  // Index into `weights` of PyTorch's weight.view(out, -1)[out][column].
  std::size_t parameter_index(std::int32_t out, std::int32_t column) const;
};

// Why configure() refused a network: the op (index into the LayerSpec array, -1 for the network
// as a whole) and a sentence naming it and the shapes involved, e.g.
// "conv2: Conv2d(8, ...) expects 8 input channels, 16 arrive (13x13x16)".
struct ConfigureError {
  std::int32_t op = -1;
  char message[160] = {};
};

// Bytes of activations for max_batch images: what the plan reserves, the least any plan could
// (the largest sum of tensors and scratch live at one op), and what two ping-pong buffers of
// the largest tensor (the chain plan this planner replaced) would take, for comparison.
struct MemoryPlan {
  std::size_t parameter_bytes = 0;
  std::size_t activation_bytes = 0;
  std::size_t lower_bound_bytes = 0;
  std::size_t ping_pong_bytes = 0;
};

// Sees the output of every op during Model::forward (for statistics tables, debugging).
class LayerObserver {
 public:
  virtual void observe(std::int32_t layer_index, const Layer& layer, ConstTensorView output) = 0;

 protected:
  ~LayerObserver() = default;
};

class Model {
 public:
  // Bytes configure() takes from its `graph` arena for a network of `count` ops (exact for a
  // buffer aligned to Arena::kAlignment).
  static constexpr std::size_t graph_bytes(std::int32_t count) {
    return count <= 0 ? 0 : static_cast<std::size_t>(count) * sizeof(Layer);
  }

  // Validates the network for images of `input` shape and batches of up to `max_batch`, and
  // plans its memory; the op records go into `graph`, which must outlive the model's use of
  // them (or the next configure). Errors: invalid_argument (non-positive sizes, missing or
  // duplicate names, an input that names no earlier op, groups that do not divide),
  // shape_mismatch (channels or features that differ from what arrives, Add inputs of different
  // shapes, an empty output), size_overflow, arena_too_small (graph holds less than
  // graph_bytes(count)). `error`, when given, says which op and why. On success the model is
  // configured and unbound (call bind again); on failure it is as it was and graph is rewound.
  Status configure(const LayerSpec* layers, std::int32_t count, ImageShape input,
                   std::int32_t max_batch, Arena& graph, ConfigureError* error = nullptr);

  // Exact bytes bind() takes from an arena whose buffer is aligned to Arena::kAlignment:
  // parameters, then the planned activations and every kernel's scratch.
  std::size_t required_bytes() const;
  MemoryPlan memory_plan() const;
  // Takes parameters and the activation region from `arena`. Parameters start as PyTorch
  // constructs them before any initialiser: conv2d and linear zero, batch_norm2d gamma 1,
  // beta 0, running mean 0, running variance 1. On failure the model is as it was (unbound, or
  // still bound to its old memory) and the arena is rewound; the status says why
  // (arena_too_small, size_overflow).
  Status bind(Arena& arena);
  bool bound() const { return bound_; }

  // Runs all ops on `batch` NHWC images of input_shape(); the result is output().
  // A clamp (ReLU, ReLU6, Hardtanh) that is the only reader of a conv2d, linear, add or
  // batch_norm2d output runs inside that op's kernel as it stores (same values, one pass less).
  // Errors: not_bound, invalid_argument (batch outside 1..max_batch, null input).
  Status forward(const float* input, std::int32_t batch);
  // The same, showing every op's output to `observer` (nothing fused: the observer sees each
  // op's own output).
  Status forward(const float* input, std::int32_t batch, LayerObserver& observer);
  ConstTensorView output() const;

  // The building blocks of layer-by-layer passes (LSUV). Runs ops [first, last) on `batch`
  // images: every tensor those ops read that an op before `first` produced must already be in
  // its storage (tensor()), as an earlier run or a restore left it; ops that read the network
  // input read `network_input`. first_stats, when given, receives the per-channel statistics of
  // op first's output before any clamp (one per output channel; accumulated as the kernel stores
  // it for conv2d, linear, add and batch_norm2d, to ~1e-6 relative rather than RunningStats'
  // double exactness, see kernels::F32Epilogue). Errors: not_bound, invalid_argument.
  Status run(std::int32_t first, std::int32_t last, const float* network_input, std::int32_t batch,
             RunningStats* first_stats = nullptr);
  // The storage of op `index`'s output for `batch` images (null data before bind).
  TensorView tensor(std::int32_t index, std::int32_t batch) const;
  // Whether a pass that starts at op `step` reads op `index`'s output (index < step), or the
  // network input (index = -1): the tensors a restore before run(step, ...) must provide.
  bool read_from(std::int32_t index, std::int32_t step) const;

  std::int32_t layer_count() const { return count_; }
  // Shapes are fixed; parameter values may be written through the pointers.
  const Layer& layer(std::int32_t index) const { return layers_[index]; }
  // Index of the op with this name, or -1.
  std::int32_t find_layer(const char* name) const;

  // Every parameter as one array: each op's weights, bias, then (batch_norm2d) running mean and
  // running variance, in op order and kernel layout. A snapshot to restore later (say, to retry
  // an initialisation) or to keep in flash.
  std::size_t parameter_count() const;
  // Errors: not_bound; invalid_argument (null pointer, count != parameter_count()).
  Status copy_parameters_to(float* destination, std::size_t count) const;
  // The same errors, and non_finite when any value is NaN or Inf: as with load_weights, no NaN
  // or Inf reaches a weight. On any error no parameter changes.
  Status copy_parameters_from(const float* source, std::size_t count);
  ImageShape input_shape() const { return input_; }
  ImageShape output_shape() const { return count_ > 0 ? layers_[count_ - 1].output : input_; }
  std::int32_t max_batch() const { return max_batch_; }

 private:
  Status take_memory(Arena& arena, bool commit, std::size_t* parameter_bytes);
  Status run_ops(std::int32_t first, std::int32_t last, const float* network_input,
                 std::int32_t batch, LayerObserver* observer, RunningStats* first_stats);

  Layer* layers_ = nullptr;
  std::int32_t count_ = 0;
  ImageShape input_;
  std::int32_t max_batch_ = 0;
  std::size_t parameter_bytes_ = 0;
  std::size_t activation_bytes_ = 0;
  std::size_t lower_bound_bytes_ = 0;
  std::size_t ping_pong_bytes_ = 0;
  unsigned char* activations_ = nullptr;
  kernels::ChannelMoments* moments_ = nullptr;
  std::int32_t output_batch_ = 0;
  bool configured_ = false;
  bool bound_ = false;
};

}  // namespace lsuv
