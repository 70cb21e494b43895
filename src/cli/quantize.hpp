// `lsuv quantize` (a float model and calibration images -> one int8 model file) and the int8
// mode of `lsuv forward`.
#pragma once

#include <string>

#include "cli/commands.hpp"
#include "lsuv/quantized_model.hpp"

namespace lsuv::cli {

struct QuantizeCommand {
  std::string spec;
  std::string weights;
  std::string output;  // the int8 model file
  DataOptions data;    // calibration images
  QuantizeOptions options;
};

// Folds every BatchNorm2d, calibrates on the images, writes the file atomically and prints the
// per-tensor scales and what the int8 model takes against the float one.
void run_quantize(const QuantizeCommand& command);
// `lsuv forward --int8 FILE`: the file's model on the input .npy, the output dequantised to
// float32 in PyTorch's layout (as the float forward writes it).
void run_forward_int8(const ForwardCommand& command);

}  // namespace lsuv::cli
