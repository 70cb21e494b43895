// The .npy header, shared by the whole-array functions (npy.hpp) and the streaming reader and
// writer (npy_stream.hpp): parsed and checked against the size of the file it opens, and
// written byte for byte as numpy.save (NumPy 1.24) writes it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "lsuv/io/npy.hpp"
#include "lsuv/status.hpp"

namespace lsuv::detail {

struct NpyHeader {
  NpyDtype dtype = NpyDtype::float32;
  std::int64_t shape[NpyArray::kMaxRank] = {};
  int rank = 0;
  std::size_t data_offset = 0;  // the header's size: the data starts here
  std::size_t data_bytes = 0;   // what the shape says the data holds
};

// The header's size in bytes (magic, version, length field, dictionary), read from the first
// `size` bytes of a file; 0 when they are too few to tell or are no .npy prefix
// (parse_npy_header says which).
std::size_t npy_header_size(const unsigned char* data, std::size_t size);

// Validates the header held in data[0, size) of a file that is `file_size` bytes long (the
// data itself need not be in memory): magic, version, dictionary, dtype, shape, and that the
// file holds exactly the data the shape says. Errors as parse_npy; *reason (when not null) says
// in words why a header is unsupported or the data is not the length the shape says.
Status parse_npy_header(const unsigned char* data, std::size_t size, std::uint64_t file_size,
                        NpyHeader* header, std::string* reason = nullptr);

// The arguments of an array about to be written: rank 0..kMaxRank, shape not null when rank > 0,
// no negative dimension, a dtype of the enum. *bytes = its data size. Errors: invalid_argument,
// size_overflow.
Status npy_check_array(NpyDtype dtype, const std::int64_t* shape, int rank, std::size_t* bytes);

// *bytes = the data size of an array of non-negative dimensions; false when it overflows.
bool npy_byte_count(NpyDtype dtype, const std::int64_t* shape, int rank, std::size_t* bytes);

// "(2, 3)", "(5,)" or "()", as Python prints a tuple.
std::string npy_shape_text(const std::int64_t* shape, int rank);

// The complete header (magic, version 1.0, length, padded dictionary) numpy.save writes for a
// C-order array of this dtype and shape.
std::string format_npy_header(NpyDtype dtype, const std::int64_t* shape, int rank);

}  // namespace lsuv::detail
