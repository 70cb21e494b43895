// The seed model in XNNPACK's operator API (Debian's XNNPACK 0.0~git20220216), beside lsuv's
// forward on the same numbers (see xnnpack_seed.hpp).
#include "kernels/bench/xnnpack_seed.hpp"

#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/bench/kernel_bench.hpp"
#include "lsuv/layer.hpp"

namespace lsuv::bench {
namespace {

constexpr float kInfinity = std::numeric_limits<float>::infinity();

struct OperatorDeleter {
  void operator()(xnn_operator* op) const { xnn_delete_operator(op); }
};
using Operator = std::unique_ptr<xnn_operator, OperatorDeleter>;

// XNNPACK's operators for the network, each with the buffer it writes.
struct XnnpackNet {
  std::vector<Operator> ops;
  std::vector<std::vector<float>> outputs;
  const float* input = nullptr;
  const float* logits = nullptr;
  std::size_t logit_count = 0;
};

void run_net(void* context) {
  for (const Operator& op : static_cast<XnnpackNet*>(context)->ops)
    (void)xnn_run_operator(op.get(), nullptr);
}

// lsuv's weights [kh][kw][in_c / groups][out_c] in XNNPACK's [out_c][kh][kw][in_c / groups].
std::vector<float> ohwi_weights(const Layer& layer) {
  const LayerSpec& s = layer.spec;
  const std::size_t in_c = static_cast<std::size_t>(s.in_channels / s.groups);
  const std::size_t out_c = static_cast<std::size_t>(s.out_channels);
  const std::size_t taps = static_cast<std::size_t>(s.kernel_h) * s.kernel_w;
  std::vector<float> w(layer.weight_count);
  for (std::size_t t = 0; t < taps; ++t)
    for (std::size_t i = 0; i < in_c; ++i)
      for (std::size_t o = 0; o < out_c; ++o)
        w[(o * taps + t) * in_c + i] = layer.weights[(t * in_c + i) * out_c + o];
  return w;
}

// lsuv's linear weights [in][out] in XNNPACK's [out][in].
std::vector<float> transposed_weights(const Layer& layer) {
  const std::size_t in = static_cast<std::size_t>(layer.spec.in_channels);
  const std::size_t out = static_cast<std::size_t>(layer.spec.out_channels);
  std::vector<float> w(layer.weight_count);
  for (std::size_t i = 0; i < in; ++i)
    for (std::size_t o = 0; o < out; ++o) w[o * in + i] = layer.weights[i * out + o];
  return w;
}

// Builds and sets up the operators of `model` for `batch` images at `input`; a ReLU after a
// convolution becomes that convolution's output clamp. Null on success, else what failed.
const char* build_net(const Model& model, std::int32_t batch, const float* input, XnnpackNet* net) {
  const std::size_t n = static_cast<std::size_t>(batch);
  const float* x = input;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    const LayerSpec& s = layer.spec;
    std::vector<float> y(n * layer.output.elements());
    xnn_operator_t op = nullptr;
    if (s.kind == LayerKind::conv2d) {
      const bool relu =
          i + 1 < model.layer_count() && model.layer(i + 1).spec.kind == LayerKind::relu;
      const std::vector<float> w = ohwi_weights(layer);
      if (xnn_create_convolution2d_nhwc_f32(
              s.pad_h, s.pad_w, s.pad_h, s.pad_w, s.kernel_h, s.kernel_w, s.stride_h, s.stride_w,
              s.dilation_h, s.dilation_w, s.groups, s.in_channels / s.groups,
              s.out_channels / s.groups, s.in_channels, s.out_channels, w.data(), layer.bias,
              relu ? 0.0f : -kInfinity, kInfinity, 0, &op) != xnn_status_success)
        return "xnn_create_convolution2d_nhwc_f32 failed";
      net->ops.emplace_back(op);
      if (xnn_setup_convolution2d_nhwc_f32(op, n, layer.input.height, layer.input.width, x,
                                           y.data(), nullptr) != xnn_status_success)
        return "xnn_setup_convolution2d_nhwc_f32 failed";
      if (relu) ++i;
    } else if (s.kind == LayerKind::adaptive_avg_pool2d) {
      const std::size_t c = static_cast<std::size_t>(layer.input.channels);
      if (xnn_create_global_average_pooling_nwc_f32(c, c, c, -kInfinity, kInfinity, 0, &op) !=
          xnn_status_success)
        return "xnn_create_global_average_pooling_nwc_f32 failed";
      net->ops.emplace_back(op);
      if (xnn_setup_global_average_pooling_nwc_f32(
              op, n, static_cast<std::size_t>(layer.input.height) * layer.input.width, x, y.data(),
              nullptr) != xnn_status_success)
        return "xnn_setup_global_average_pooling_nwc_f32 failed";
    } else if (s.kind == LayerKind::linear) {
      const std::vector<float> w = transposed_weights(layer);
      const std::size_t in = static_cast<std::size_t>(s.in_channels);
      const std::size_t out = static_cast<std::size_t>(s.out_channels);
      if (xnn_create_fully_connected_nc_f32(in, out, in, out, w.data(), layer.bias, -kInfinity,
                                            kInfinity, 0, &op) != xnn_status_success)
        return "xnn_create_fully_connected_nc_f32 failed";
      net->ops.emplace_back(op);
      if (xnn_setup_fully_connected_nc_f32(op, n, x, y.data(), nullptr) != xnn_status_success)
        return "xnn_setup_fully_connected_nc_f32 failed";
    } else {
      return "a layer kind the XNNPACK peer does not build";
    }
    net->outputs.push_back(std::move(y));
    x = net->outputs.back().data();
  }
  net->input = input;
  net->logits = x;
  net->logit_count = net->outputs.empty() ? 0 : net->outputs.back().size();
  return nullptr;
}

}  // namespace

const char* xnnpack_missing() {
  return nullptr;
}

PeerTiming xnnpack_seed_model(std::int32_t batch) {
  PeerTiming t;
  if (xnn_initialize(nullptr) != xnn_status_success) {
    t.error = "xnn_initialize failed (a CPU XNNPACK does not support?)";
    return t;
  }
  // One xnn_deinitialize per successful xnn_initialize, after the operators are deleted.
  struct Deinitialize {
    ~Deinitialize() { (void)xnn_deinitialize(); }
  } deinitialize;
  const std::unique_ptr<SeedModelRun> run = make_seed_model_run(batch);
  if (run == nullptr) {
    t.error = "the seed model could not be built";
    return t;
  }
  XnnpackNet net;
  t.error = build_net(run->model, batch, run->images.data(), &net);
  if (t.error != nullptr) return t;
  if (run->model.forward(run->images.data(), batch) != Status::ok) {
    t.error = "lsuv's forward failed";
    return t;
  }
  run_net(&net);
  const ConstTensorView reference = run->model.output();
  if (reference.elements() != net.logit_count) {
    t.error = "XNNPACK's output has another size than lsuv's";
    return t;
  }
  double largest = 0.0, difference = 0.0;
  for (std::size_t i = 0; i < net.logit_count; ++i) {
    largest = std::max(largest, std::fabs(static_cast<double>(reference.data[i])));
    difference = std::max(difference, std::fabs(static_cast<double>(net.logits[i]) -
                                                static_cast<double>(reference.data[i])));
  }
  t.max_relative_difference = largest > 0.0 ? difference / largest : difference;
  t.images_per_second = batch / median_seconds_per_call(run_net, &net, 9, 0.05);
  return t;
}

}  // namespace lsuv::bench
