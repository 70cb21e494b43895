// The int8 modes of `lsuv init` (LSUV in fixed point on an int8 model file) and `lsuv stats`
// (per-layer statistics of an int8 model file's dequantised accumulators).
#pragma once

#include "cli/commands.hpp"

namespace lsuv::cli {

// `lsuv init --int8 IN --out OUT`: LSUV in fixed point (lsuv/lsuv_int8.hpp) of the file's model
// on the images, the report printed, the model written to OUT atomically (IN may be OUT).
void run_init_int8(const InitCommand& command);
// `lsuv stats --int8 FILE`: each conv2d / linear op's accumulators dequantised (what LSUV in
// fixed point measures: the pre-activation output, as `lsuv stats` prints for a float model).
void run_stats_int8(const StatsCommand& command);

}  // namespace lsuv::cli
