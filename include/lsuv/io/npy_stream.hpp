// A .npy array a block of rows at a time, for arrays larger than the memory one wants to give
// them (`lsuv forward` of 100,000 images): a row is one index of the first dimension.
//
//   lsuv::NpyReader in;
//   LSUV_TRY(in.open("x.npy"));                    // header and file length checked here
//   std::vector<float> rows(64 * in.row_elements());
//   for (std::int64_t first = 0; first < in.rows(); first += 64) {
//     const std::int64_t n = std::min<std::int64_t>(64, in.rows() - first);
//     LSUV_TRY(in.read_rows(first, n, rows.data()));
//   }
//
//   lsuv::NpyWriter out;
//   LSUV_TRY(out.open("y.npy", lsuv::NpyDtype::float32, shape, 2));  // the final shape
//   LSUV_TRY(out.append_rows(block, n));           // ... until every row is written
//   LSUV_TRY(out.finish());                        // only now does y.npy change
//
// The reader accepts exactly what read_npy accepts (the same header checks, dtypes, byte order,
// and a file exactly as long as its shape says), with no limit on the file's size: it holds only
// the header. The writer writes the bytes write_npy writes, through a temporary file beside the
// target that finish() renames into place; a failure, a missing row or a writer destroyed before
// finish() removes the temporary and leaves the target as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lsuv/io/file_error.hpp"
#include "lsuv/io/npy.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

// Headers longer than this are refused (size_overflow) before anything is allocated for them.
// NumPy itself reads at most 10,000 header bytes unless told otherwise.
constexpr std::size_t kMaxNpyHeaderBytes = std::size_t{1} << 20;

class NpyReader {
 public:
  NpyReader() = default;
  ~NpyReader();
  NpyReader(const NpyReader&) = delete;
  NpyReader& operator=(const NpyReader&) = delete;

  // Opens `path` and validates its header against the file's length. Anything but a regular file
  // is io_error, never a blocked read. Errors: invalid_argument (null path, already open), and
  // those of read_npy; *error (when not null) names the file and says why ("truncated: shape
  // (100, 1, 28, 28) of '<f4' needs 313600 bytes of data, the file has 3136").
  Status open(const char* path, FileError* error = nullptr);
  bool is_open() const { return fd_ >= 0; }
  void close();

  NpyDtype dtype() const { return dtype_; }
  const std::vector<std::int64_t>& shape() const { return shape_; }  // empty for a 0-d array
  // shape()[0], or 1 for a 0-d array.
  std::int64_t rows() const { return rows_; }
  // The product of the other dimensions, and its size in bytes.
  std::size_t row_elements() const { return row_elements_; }
  std::size_t row_bytes() const { return row_elements_ * npy_dtype_size(dtype_); }

  // Reads rows [first, first + count) into `out` (count * row_bytes() bytes, C order).
  // Errors: invalid_argument (not open, rows outside the array, null out with count > 0),
  // truncated (the file shrank since open), io_error.
  Status read_rows(std::int64_t first, std::int64_t count, void* out, FileError* error = nullptr);

 private:
  int fd_ = -1;
  std::string path_;
  NpyDtype dtype_ = NpyDtype::float32;
  std::vector<std::int64_t> shape_;
  std::int64_t rows_ = 0;
  std::size_t row_elements_ = 0;
  std::size_t data_offset_ = 0;
};

class NpyWriter {
 public:
  NpyWriter();
  ~NpyWriter();  // an unfinished file is removed
  NpyWriter(const NpyWriter&) = delete;
  NpyWriter& operator=(const NpyWriter&) = delete;

  // Starts a C-order array of the final `shape` (rank 0..kMaxRank) at `path`: checks the
  // arguments as write_npy does, creates the temporary file and writes the header.
  // Errors: those of write_npy, and invalid_argument when already open.
  Status open(const char* path, NpyDtype dtype, const std::int64_t* shape, int rank,
              FileError* error = nullptr);
  // Appends `count` rows (count * row_bytes() bytes). Any failure drops the file.
  // Errors: invalid_argument (not open, more rows than the shape has, null data with bytes to
  // write), io_error (a full disk: the operating system's reason in *error).
  Status append_rows(const void* data, std::int64_t count, FileError* error = nullptr);
  // Every row written: flushes the file to the disk and renames it over the target. Otherwise
  // invalid_argument, and the file is dropped. Errors: invalid_argument, io_error.
  Status finish(FileError* error = nullptr);
  // Drops an unfinished file (the target keeps its previous contents, or stays absent).
  void abandon();

  std::int64_t rows() const { return rows_; }
  std::int64_t rows_written() const { return written_; }
  std::size_t row_bytes() const { return row_bytes_; }

 private:
  struct File;
  std::unique_ptr<File> file_;
  std::string path_;
  std::int64_t rows_ = 0;
  std::int64_t written_ = 0;
  std::size_t row_bytes_ = 0;
};

}  // namespace lsuv
