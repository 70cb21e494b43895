// Small graph networks the test suites share: residual joins, batch norm, clamps, branches.
#pragma once

#include <cstdint>

#include "lsuv/layer.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv_test {

// A ResNet-8-shaped network: a stem, an identity block, a projection block (1x1 stride 2), a
// three-way join, a tensor read twice and late, a dead branch, then pooling and a head.
inline constexpr lsuv::LayerSpec kResidual[] = {
    lsuv::conv2d("stem", 3, 8, 3).with_padding(1).without_bias(),
    lsuv::batch_norm2d("stem_bn", 8),
    lsuv::relu("stem_relu"),
    lsuv::conv2d("b1_conv1", 8, 8, 3).with_padding(1).without_bias(),
    lsuv::batch_norm2d("b1_bn1", 8),
    lsuv::relu("b1_relu"),
    lsuv::conv2d("b1_conv2", 8, 8, 3).with_padding(1).without_bias(),
    lsuv::batch_norm2d("b1_bn2", 8),
    lsuv::add("b1_add", "b1_bn2", "stem_relu").with_relu(),
    lsuv::conv2d("b2_conv1", 8, 16, 3).with_stride(2).with_padding(1),
    lsuv::relu6("b2_relu6"),
    lsuv::conv2d("b2_conv2", 16, 16, 3).with_padding(1),
    lsuv::conv2d("b2_proj", 8, 16, 1).with_stride(2).with_input("b1_add"),
    lsuv::conv2d("dead", 8, 4, 1).with_input("b1_add"),
    lsuv::add("b2_add", "b2_conv2", "b2_proj").with_input("b2_proj"),
    lsuv::hardtanh("b2_clip", -0.75f, 1.5f),
    lsuv::adaptive_avg_pool2d("pool"),
    lsuv::flatten("flat"),
    lsuv::linear("fc", 16, 5),
};
inline constexpr std::int32_t kResidualCount = sizeof kResidual / sizeof kResidual[0];

// A DS-CNN-shaped network: a strided conv, depthwise + pointwise blocks with batch norm,
// average pooling, and a Linear reading a flattened spatial tensor.
inline constexpr lsuv::LayerSpec kDepthwise[] = {
    lsuv::conv2d("conv", 1, 12, 3, 2).with_stride(2, 1).with_padding(1, 0),
    lsuv::batch_norm2d("bn", 12).with_eps(1e-3f),
    lsuv::relu("relu"),
    lsuv::conv2d("dw1", 12, 12, 3).with_padding(1).with_groups(12).without_bias(),
    lsuv::batch_norm2d("dw1_bn", 12),
    lsuv::relu("dw1_relu"),
    lsuv::conv2d("pw1", 12, 10, 1).without_bias(),
    lsuv::batch_norm2d("pw1_bn", 10),
    lsuv::relu("pw1_relu"),
    lsuv::conv2d("dw2", 10, 20, 3).with_dilation(2).with_padding(2).with_groups(10),
    lsuv::relu6("dw2_relu"),
    lsuv::avg_pool2d("avg", 2),
    lsuv::linear("fc", 0, 6),
};
inline constexpr std::int32_t kDepthwiseCount = sizeof kDepthwise / sizeof kDepthwise[0];

inline constexpr lsuv::ImageShape kResidualInput = {9, 10, 3};
inline constexpr lsuv::ImageShape kDepthwiseInput = {12, 11, 1};

}  // namespace lsuv_test
