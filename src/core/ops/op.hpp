// What the graph core knows about one kind of op, in one place: its shape rule and parameter
// counts, how it runs through the kernel table, what scratch it needs, and whether it may write
// over its input. Each kind lives in its own file here; Model only walks the graph.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/backward_dispatch.hpp"
#include "kernels/dispatch.hpp"
#include "lsuv/layer.hpp"
#include "lsuv/model.hpp"
#include "lsuv/status.hpp"

namespace lsuv::ops {

// Why a shape rule refused an op: a sentence for ConfigureError (the op's name is added in
// front by the caller).
struct ShapeError {
  char text[128] = {};
  Status fail(Status status, const char* format, ...) __attribute__((format(printf, 3, 4)));
};

// One op about to run: its record, the kernels, its inputs and output for `batch` images, its
// planned scratch, and the epilogue (a fused clamp, a moment sink) its kernel applies.
struct OpRun {
  const Layer& layer;
  const kernels::F32Kernels& k;
  const float* const* inputs;  // layer.input_count pointers
  float* output;
  std::int32_t batch;
  void* scratch;  // layer.scratch_bytes bytes, aligned to kernels::kScratchAlignment
  kernels::F32Epilogue epilogue;
};

// One op's backward step in a training plan: the gradient of its output, and where its input
// and parameter gradients go. Inputs appear once per occurrence (an Add of a tensor to itself
// names it twice): each entry is written by its mode.
struct OpBackward {
  const Layer& layer;
  const kernels::F32BackwardKernels& k;
  std::int32_t batch;
  const float* input;   // the forward's first input, when saves() asks for it; else null
  const float* output;  // the forward's output, when saves() asks for it; else null
  // dL/d output. The op may overwrite it: nothing reads it after this step.
  float* grad_output;
  float* const* grad_inputs;        // per input, null: no gradient wanted
  const kernels::GradWrite* modes;  // per input: assign for the first writer, then accumulate
  float* grad_weights;              // assigned; null when the weights (gamma) do not train
  float* grad_bias;                 // assigned; null when the bias (beta) does not train
  void* scratch;                    // backward_scratch_bytes bytes
  // Ops that gates_input: the clamp whose output is input 0 and whose backward runs here
  // (grad_inputs[0] is then the clamp's input gradient); null otherwise.
  const kernels::ClampGate* input_gate;
};

// What an op's backward reads of its forward pass besides its parameters (a bit set).
enum : std::uint8_t { kSavesNothing = 0, kSavesInput = 1, kSavesOutput = 2 };

struct OpTraits {
  // Sets layer->output and the parameter counts from the spec and the input shapes
  // (layer->inputs and layer->input are set), or fails with a reason.
  Status (*shape)(const LayerSpec& spec, const ImageShape* inputs, std::int32_t input_count,
                  Layer* layer, ShapeError* why);
  void (*run)(const OpRun& op);
  // Kernel scratch for `batch` images at any kernel level; null: none.
  std::size_t (*scratch_bytes)(const Layer& layer, std::int32_t batch);
  bool in_place;  // may write its output over its first input
  bool epilogue;  // its kernel applies F32Epilogue (a clamp after it can be fused)
  std::int32_t min_inputs, max_inputs;
  void (*backward)(const OpBackward& op);
  // The forward tensors backward reads (kSaves*), given whether the op's weights train.
  std::uint8_t (*saves)(const Layer& layer, bool weights_train);
  // Backward kernel scratch for `batch` images; null: none.
  std::size_t (*backward_scratch_bytes)(const Layer& layer, std::int32_t batch);
  // Its backward can run the backward of a clamp feeding its first input (OpBackward::input_gate).
  bool gates_input;
};

// saves() of ops whose backward needs nothing of the forward.
std::uint8_t saves_nothing(const Layer& layer, bool weights_train);
// Writes grad_output into every wanted input gradient by its mode (the identity's backward).
void pass_gradient(const OpBackward& op, std::size_t elements);

const OpTraits& traits(LayerKind kind);

// The clamp range of relu, relu6 and hardtanh ops; false for other kinds.
bool clamp_range(const LayerSpec& spec, float* lo, float* hi);

// Output length of a sliding window, or <= 0 when the window does not fit.
std::int64_t window_output(std::int32_t in, std::int32_t kernel, std::int32_t stride,
                           std::int32_t pad, std::int32_t dilation);

// Per-dimension ceiling: keeps every per-image index well inside int32 arithmetic.
constexpr std::int32_t kMaxDimension = 1 << 20;

extern const OpTraits kConv2d, kLinear, kClamp, kMaxPool2d, kAvgPool2d, kGlobalAvgPool, kFlatten,
    kAdd, kBatchNorm2d;

}  // namespace lsuv::ops
