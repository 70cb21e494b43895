// The int8 model file: one file holding a QuantizedModel's network and every parameter.
//
//   LSUV_TRY(lsuv::save_quantized_model("seed.q8", spec, quantized, &error));
//   lsuv::QuantizedModelFile file;
//   LSUV_TRY(file.load("seed.q8", /*max_batch=*/64, &error));
//   LSUV_TRY(file.model().forward(images, batch));
//
// Layout (all integers little-endian, floats IEEE-754 binary32):
//   header   "LSUVQ8\r\n" (8 bytes), u32 version (1), u32 spec_bytes, u32 op count,
//            f32 input scale, i32 input zero point
//   spec     spec_bytes of format_model_spec's text of the (folded) network, input line included
//   ops      per op, in order: f32 output scale, i32 output zero point, i32 output_min,
//            i32 output_max, i32 add left shift, i32 add multipliers[4], i32 add shifts[4],
//            i32 add output multiplier, i32 add output shift (60 bytes)
//   arrays   per conv2d and linear op, in order: u32 channels, u32 weight count, int8 weights
//            (the kernel layout of lsuv/model.hpp's Layer), i32 bias[channels],
//            f32 weight scale[channels], i32 multiplier[channels], i32 shift[channels]
//   trailer  u32 CRC-32 (lsuv::crc32 of lsuv/io/checkpoint.hpp, zlib's) of every byte before it
//
// Reading validates everything before the model is used: the magic and version, every length
// against the bytes present, the CRC, the spec (parsed and configured), the op count and array
// sizes against the spec's shapes, no bytes after the trailer, and every parameter against the
// kernels' contracts (QuantizedModel::check_parameters).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lsuv/io/file_error.hpp"
#include "lsuv/io/model_spec.hpp"
#include "lsuv/quantized_model.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

inline constexpr std::uint32_t kQuantizedFileVersion = 1;
// Largest int8 model file read (far above any model lsuv runs, far below a corrupt length).
inline constexpr std::size_t kMaxQuantizedFileBytes = std::size_t{1} << 30;

// The file's bytes for `model` (bound and quantised) and the network it was configured from
// (`spec`, with its input line). Errors: invalid_argument (spec and model disagree, or a spec
// format_model_spec refuses), not_bound.
Status encode_quantized_model(const ModelSpec& spec, const QuantizedModel& model,
                              std::vector<unsigned char>* out);
// The same bytes written to `path` atomically (the previous file survives any failure).
// Adds file_not_found and io_error, with the operating system's reason in *error.
Status save_quantized_model(const char* path, const ModelSpec& spec, const QuantizedModel& model,
                            FileError* error = nullptr);

// An int8 model read from a file: the network's spec and the model, bound to memory the object
// owns (movable, not copyable).
class QuantizedModelFile {
 public:
  QuantizedModelFile() = default;
  QuantizedModelFile(const QuantizedModelFile&) = delete;
  QuantizedModelFile& operator=(const QuantizedModelFile&) = delete;
  QuantizedModelFile(QuantizedModelFile&&) = default;
  QuantizedModelFile& operator=(QuantizedModelFile&&) = default;

  // Parses `size` bytes, planning the model for batches of up to max_batch. Errors: bad_format
  // (magic, CRC, a spec that does not parse or configure, counts or sizes that disagree with
  // the spec, a parameter outside the kernels' contracts, bytes after the trailer), truncated
  // (the bytes end before a length says), unsupported (another version, or a spec using what
  // lsuv does not implement), invalid_argument (null data, max_batch < 1), size_overflow.
  // *error (when not null) says what was wrong in words. On failure the object is as it was.
  Status parse(const unsigned char* data, std::size_t size, std::int32_t max_batch,
               FileError* error = nullptr);
  // Reads `path` (at most kMaxQuantizedFileBytes) and parses it; adds file_not_found, io_error.
  Status load(const char* path, std::int32_t max_batch, FileError* error = nullptr);

  bool loaded() const { return model_.bound(); }
  const ModelSpec& spec() const { return spec_; }
  QuantizedModel& model() { return model_; }
  const QuantizedModel& model() const { return model_; }

 private:
  ModelSpec spec_;
  std::vector<unsigned char> graph_;
  std::vector<unsigned char> memory_;
  QuantizedModel model_;
};

}  // namespace lsuv
