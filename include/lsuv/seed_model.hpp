// The network of the blog post that started lsuv, for 1x28x28 Fashion-MNIST images: the model
// the demo, the benchmarks and several tests use. models/fashion_mnist_seed.spec is the same
// network as a spec file; its layer names are the PyTorch module's (conv1 ... conv4, l1).
#pragma once

#include <cstdint>

#include "lsuv/layer.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv {

inline constexpr LayerSpec kSeedLayers[] = {
    conv2d("conv1", 1, 8, 5).with_stride(2).with_padding(1),
    relu("relu1"),
    conv2d("conv2", 8, 16, 3).with_padding(2),
    relu("relu2"),
    conv2d("conv3", 16, 32, 3).with_padding(2),
    relu("relu3"),
    conv2d("conv4", 32, 32, 3).with_padding(2),
    relu("relu4"),
    adaptive_avg_pool2d("avg"),
    linear("l1", 32, 10),
};
inline constexpr std::int32_t kSeedLayerCount =
    static_cast<std::int32_t>(sizeof kSeedLayers / sizeof kSeedLayers[0]);
inline constexpr ImageShape kSeedInput = {28, 28, 1};  // H, W, C

}  // namespace lsuv
