// The `lsuv` subcommands other than demo and bench: each takes its parsed options and either
// finishes or throws Failure after printing what went wrong to stderr.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "lsuv/init.hpp"
#include "lsuv/io/file_error.hpp"
#include "lsuv/io/idx.hpp"
#include "lsuv/io/model_spec.hpp"
#include "lsuv/lsuv_initialize.hpp"

namespace lsuv::cli {

// Where calibration or evaluation images come from: an IDX image file (.gz or plain), a range
// of it, the batch size and the normalisation (pixel/255 - mean) / std.
struct DataOptions {
  std::string images;
  std::int32_t first_image = 0;
  std::int32_t batches = 1;
  std::int32_t batch_size = 64;
  float mean = 0.0f;
  float std = 1.0f;
};

struct InitCommand {
  std::string spec;
  std::string output;  // weights directory (with int8: the int8 model file)
  std::string int8;    // an int8 model file (lsuv quantize): LSUV in fixed point instead
  DataOptions data;
  Initializer initializer = Initializer::pytorch_default;
  LsuvOptions lsuv;
  // --layers: the conv2d / linear ops LSUV normalises, by name; empty: all of them.
  std::vector<std::string> layers;
  bool skip_lsuv = false;
};

struct StatsCommand {
  std::string spec;
  std::string weights;
  std::string int8;  // an int8 model file instead of spec + weights
  DataOptions data;
};

struct ForwardCommand {
  std::string spec;
  std::string weights;
  std::string input;             // NCHW float32 .npy
  std::string output;            // .npy
  std::int32_t batch_size = 64;  // images per forward call: bounds the model's memory
  std::string int8;              // an int8 model file (lsuv quantize) instead of spec + weights
};

// `lsuv fold`: each BatchNorm2d folded into the conv2d or linear before it (lsuv/fold.hpp).
struct FoldCommand {
  std::string spec;
  std::string weights;
  std::string out_spec;  // the folded network's spec
  std::string output;    // its weights directory
};

void run_init(const InitCommand& command);
void run_stats(const StatsCommand& command);
void run_forward(const ForwardCommand& command);
void run_fold(const FoldCommand& command);

// Shared with the int8 commands (quantize.cpp): fails with the io layer's words, batches the
// images the options ask for, and checks they are the spec's input shape.
void check_file(Status status, const char* verb, const std::string& path, const FileError& error);
IdxBatchSource make_source(const IdxImages& images, const DataOptions& data);
void check_input_shape(const ModelSpec& spec, const IdxImages& images, const std::string& path);
// --layers: the indices of the named ops, each a conv2d or linear op of the model.
std::vector<std::int32_t> select_layers(const Model& model, const std::vector<std::string>& names);
// Whether LSUV normalised at least one layer (converged or max_iterations).
bool normalised_any(const LsuvReport& report);

}  // namespace lsuv::cli
