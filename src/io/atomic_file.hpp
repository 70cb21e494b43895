// Whole-file reads and crash-safe whole-file writes: the only way the io layer touches files.
//
// A write goes to a fresh temporary file next to the target, is flushed to the disk, and then
// renamed over the target. Readers therefore see either the old file or the complete new one,
// never a half-written file, even if the process dies or the disk fills up midway.
//
//   Status status = detail::write_file_atomically(path, [&](detail::FileSink& sink) {
//     LSUV_TRY(sink.write(header, header_size));
//     return sink.write(data, data_size);
//   });
#pragma once

#include <cstddef>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "lsuv/io/file_error.hpp"
#include "lsuv/status.hpp"

namespace lsuv::detail {

// Where the contents callback of write_file_atomically() writes its bytes.
class FileSink {
 public:
  explicit FileSink(std::FILE* file) : file_(file) {}
  // io_error when the operating system accepts fewer than `bytes` bytes (a full disk).
  Status write(const void* data, std::size_t bytes);
  // The errno of the last failed write.
  int error() const { return error_; }

 private:
  std::FILE* file_;
  int error_ = 0;
};

// A file being written atomically, a piece at a time: created as a fresh temporary
// `<path>.tmp.<pid>.<n>` in the target's directory, renamed over `path` by commit(). Dropped
// (closed and removed) by abandon() or by the destructor when it was not committed, so a
// failure at any point leaves `path` as it was.
class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile() { abandon(); }
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Errors: invalid_argument (null or empty path, already open), file_not_found (the directory
  // does not exist), io_error; the reason goes to *error when it is not null.
  Status create(const char* path, FileError* error = nullptr);
  bool is_open() const { return file_ != nullptr; }
  // A sink over the open file (write() is the same with the error in words).
  FileSink sink() { return FileSink(file_); }
  // io_error (with the operating system's reason in *error) when the disk refuses the bytes.
  Status write(const void* data, std::size_t bytes, FileError* error = nullptr);
  // Flushes the file to the disk and renames it over the target. On failure the temporary is
  // removed. Errors: invalid_argument (not open), io_error.
  Status commit(FileError* error = nullptr);
  void abandon();

 private:
  std::string target_;
  std::string temporary_;
  std::FILE* file_ = nullptr;
};

// Writes whatever `contents` writes into the sink to `path`, atomically: through a temporary
// file `<path>.tmp.<pid>.<n>` in the same directory, flushed to the disk, then renamed over
// `path`. A status other than ok from `contents` aborts the write with that status. On any
// failure the temporary file is removed and `path` keeps its previous contents (or stays
// absent). Errors: file_not_found (the directory does not exist), io_error (anything the
// operating system refuses), or the status `contents` returned; the operating system's reason
// goes to *error when it is not null.
Status write_file_atomically(const char* path, const std::function<Status(FileSink&)>& contents,
                             FileError* error = nullptr);

// Reads the whole file at `path` into *out, which is replaced only on success. Files larger
// than `max_bytes` are refused before anything is allocated for them.
// Anything but a regular file (a FIFO, a directory, a device) is refused without blocking.
// Errors: invalid_argument (null path or out), file_not_found, io_error (not a regular file,
// read failures), size_overflow (the file is larger than max_bytes); the reason goes to *error
// when it is not null.
Status read_whole_file(const char* path, std::size_t max_bytes, std::vector<unsigned char>* out,
                       FileError* error = nullptr);

}  // namespace lsuv::detail
