// Model spec: a network written as text, close to what PyTorch prints.
//
//   # the seed's network
//   input: 1x28x28                       # C x H x W, as PyTorch's NCHW
//   conv1: Conv2d(1, 8, kernel_size=5, stride=2, padding=1)
//   relu1: ReLU()
//   avg: AdaptiveAvgPool2d(1)
//   l1: Linear(32, 10)
//
// One op a line, `name: Type(arguments)`; `#` starts a comment; blank lines are ignored; a UTF-8
// byte order mark at the start is skipped. An op reads the output of the op before it (the
// network input for the first op) unless a trailing call names its inputs, as PyTorch's forward
// would: `proj: Conv2d(16, 32, kernel_size=1, stride=2)(relu1)` reads op `relu1`;
// `add1: Add(relu=True)(bn2, proj)` sums two tensors, then applies a ReLU. `input` names the
// network input. Only earlier ops may be named.
//
// The output of `print(model)` pastes in: `(name): Type(arguments)` lines, the wrapper line of
// the model class (`Net(`) and its closing `)`. A nested block (`(layer1): Sequential(`,
// `(0): BasicBlock(`) prefixes its layers' names as PyTorch's state_dict does (`layer1.0.conv1`);
// inside a block an input name is looked up in the block first, then outwards. A repr lists a
// non-sequential block's modules, not its forward: add the Add lines and the trailing input
// calls by hand.
//
// Layer types, with PyTorch's parameter names (positional or keyword):
//   Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, groups=1,
//          bias=True, padding_mode='zeros')     padding may also be 'valid' or 'same', quoted or
//          not
//   Linear(in_features, out_features, bias=True)
//   ReLU(inplace=False)
//   ReLU6(inplace=False)
//   Hardtanh(min_val=-1.0, max_val=1.0, inplace=False)
//   BatchNorm2d(num_features, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
//   MaxPool2d(kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
//             ceil_mode=False)
//   AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True,
//             divisor_override=None)
//   AdaptiveAvgPool2d(output_size)               output_size 1 or (1, 1) only
//   Flatten(start_dim=1, end_dim=-1)
//   Add(relu=False)                              two to LayerSpec::kMaxInputs named inputs
// Sizes are an integer or a pair `(h, w)`; float parameters take `0.1`, `1e-05`, `-1.0` or an
// integer. Keywords lsuv does not model are accepted at PyTorch's default and unsupported
// otherwise. An in_channels / in_features of 0 means "whatever the previous layer produces".
// The input line is optional (a pasted repr has none): without it ModelSpec::input is all zeros
// and the caller supplies the shape.
//
// Names are what state_dict calls the layers: letters, digits, '_' and '.', at most
// LayerSpec::kMaxNameLength characters, unique.
//
// Errors: bad_format (syntax, with the line and column of the first offending character; a
// spec without layers), unsupported (unknown layer types or keywords, a keyword away from its
// default), invalid_argument (bad or duplicate names, an input that is not an earlier op, values
// out of range, numbers that do not fit in int32 or float, missing or repeated arguments).
//
// The parser reads exactly `length` bytes (no terminator needed) and does not recurse, so any
// bytes at all are safe to hand it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lsuv/io/file_error.hpp"
#include "lsuv/layer.hpp"
#include "lsuv/status.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv {

struct ModelSpec {
  ImageShape input;  // all zeros when the spec has no input line
  std::vector<LayerSpec> layers;

  std::int32_t count() const { return static_cast<std::int32_t>(layers.size()); }
};

// Same input and the same layers, comparing only the fields each layer kind uses (a ReLU's
// kernel size means nothing and is not compared) and every layer's named inputs.
bool operator==(const ModelSpec& a, const ModelSpec& b);
inline bool operator!=(const ModelSpec& a, const ModelSpec& b) {
  return !(a == b);
}

struct SpecError {
  int line = 0;    // 1-based; 0 when the error has no position (an unreadable file)
  int column = 0;  // 1-based, in bytes
  // "line 3, column 22: expected ')' after the arguments"; always NUL-terminated.
  char message[128] = {};
};

// Parses `length` bytes of spec text into *out (unchanged on failure). `error` may be null.
Status parse_model_spec(const char* text, std::size_t length, ModelSpec* out, SpecError* error);

// Reads a spec file and parses it. Adds file_not_found and io_error (also for anything but a
// regular file: a FIFO or a directory is refused without blocking, the reason in
// error->message) to the parser's errors, and size_overflow for a file larger than
// kMaxModelSpecBytes.
constexpr std::size_t kMaxModelSpecBytes = 1 << 20;
Status load_model_spec(const char* path, ModelSpec* out, SpecError* error);

// Writes the canonical text of `spec` (an input line when the input is set, then one
// `name: Type(...)` line per layer, only non-default arguments) into buffer, NUL-terminated,
// and its length without the NUL into *length. parse_model_spec(format_model_spec(x)) == x.
// When capacity is too small (buffer may then be null) returns arena_too_small with the
// length needed in *length; invalid_argument for a spec the parser would reject.
Status format_model_spec(const ModelSpec& spec, char* buffer, std::size_t capacity,
                         std::size_t* length);

// Writes format_model_spec's text to `path` atomically (the previous file survives any
// failure). Errors: those of format_model_spec, file_not_found (no such directory), io_error;
// *error (when not null) keeps the operating system's reason.
Status save_model_spec(const char* path, const ModelSpec& spec, FileError* error = nullptr);

}  // namespace lsuv
