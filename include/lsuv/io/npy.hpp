// NumPy .npy files: one array, read and written byte-compatibly with numpy.save / numpy.load.
//
//   lsuv::NpyArray array;
//   LSUV_TRY(lsuv::read_npy("conv1.weight.npy", &array));
//   if (array.dtype != lsuv::NpyDtype::float32) return lsuv::Status::unsupported;
//   const float* values = array.as_float32();  // array.elements() of them, C order
//
//   const std::int64_t shape[] = {2, 3};
//   LSUV_TRY(lsuv::write_npy("x.npy", lsuv::NpyDtype::float32, shape, 2, values));
//
// Supported: format versions 1.0, 2.0 and 3.0 for reading (writing always produces 1.0, with
// the same header bytes NumPy 1.24 writes), little-endian C-order arrays of float32 ('<f4'),
// int8 ('|i1'), uint8 ('|u1'), int32 ('<i4') and int64 ('<i8', PyTorch's num_batches_tracked).
// The header dictionary is parsed strictly: exactly the keys 'descr', 'fortran_order' and
// 'shape', in any order, Python literal syntax.
// A file is validated completely (header, dtype, shape, data length) before anything is
// returned; hostile input gives a status, never a crash or an allocation sized by the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lsuv/io/file_error.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

enum class NpyDtype : std::uint8_t { float32, int8, uint8, int32, int64 };

// Bytes per element: 4, 1, 1, 4, 8.
std::size_t npy_dtype_size(NpyDtype dtype);
// NumPy's descr string: "<f4", "|i1", "|u1", "<i4", "<i8"; never null.
const char* npy_dtype_descr(NpyDtype dtype);

struct NpyArray {
  // numpy.lib.format's limit on the number of dimensions (NPY_MAXDIMS before NumPy 2).
  static constexpr int kMaxRank = 32;

  NpyDtype dtype = NpyDtype::float32;
  std::vector<std::int64_t> shape;  // empty for a 0-d array (one element)
  // elements() * npy_dtype_size(dtype) bytes, C order, little-endian (the host's order: lsuv
  // builds only for little-endian hosts). The buffer comes from operator new, so it is
  // aligned for every dtype.
  std::vector<unsigned char> bytes;

  std::size_t elements() const;
  // The values, or null when the array holds another dtype.
  const float* as_float32() const;
  const std::int8_t* as_int8() const;
  const std::uint8_t* as_uint8() const;
  const std::int32_t* as_int32() const;
  const std::int64_t* as_int64() const;
};

// Files larger than this are refused by read_npy (size_overflow) before any allocation.
constexpr std::size_t kMaxNpyFileBytes = std::size_t{1} << 30;

// Reads and validates the .npy file at `path`. *out is replaced only on success. Anything but
// a regular file (a FIFO, a directory, a device) is io_error, never a blocked read.
// Errors: invalid_argument (null pointer), file_not_found, io_error, and those of parse_npy;
// *error (when not null) names the file and says why.
Status read_npy(const char* path, NpyArray* out, FileError* error = nullptr);

// Parses a complete .npy file held in memory (a fuzzing entry point; read_npy uses it too).
// Errors: bad_format (bad magic, header syntax, missing/duplicate/extra keys, data longer than
// the shape says), truncated (the buffer ends inside the header or the data), unsupported
// (another format version, dtype or byte order, Fortran order, more than kMaxRank
// dimensions), size_overflow (the shape's element or byte count does not fit in size_t).
Status parse_npy(const unsigned char* data, std::size_t size, NpyArray* out);

// Writes a C-order array of `rank` dimensions (0 for a scalar) as a version 1.0 .npy file,
// atomically (the previous file survives any failure). `data` holds the product of the
// dimensions elements; it may be null when that product is 0.
// Errors: invalid_argument (rank outside 0..kMaxRank, a negative dimension, null shape with
// rank > 0, null data), size_overflow, file_not_found (the directory does not exist), io_error;
// *error (when not null) keeps the operating system's reason ("permission denied").
Status write_npy(const char* path, NpyDtype dtype, const std::int64_t* shape, int rank,
                 const void* data, FileError* error = nullptr);

}  // namespace lsuv
