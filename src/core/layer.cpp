#include "lsuv/layer.hpp"

namespace lsuv {

const char* layer_kind_name(LayerKind kind) {
  switch (kind) {
    case LayerKind::conv2d: return "conv2d";
    case LayerKind::linear: return "linear";
    case LayerKind::relu: return "relu";
    case LayerKind::max_pool2d: return "max_pool2d";
    case LayerKind::avg_pool2d: return "avg_pool2d";
    case LayerKind::adaptive_avg_pool2d: return "adaptive_avg_pool2d";
    case LayerKind::flatten: return "flatten";
    case LayerKind::add: return "add";
    case LayerKind::batch_norm2d: return "batch_norm2d";
    case LayerKind::relu6: return "relu6";
    case LayerKind::hardtanh: return "hardtanh";
  }
  return "unknown";
}

}  // namespace lsuv
