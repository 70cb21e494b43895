// Opening a file for reading only when it is a regular file. A FIFO, a directory or a device in
// place of a .npy, an IDX file or a spec is refused: opened without blocking (a FIFO with no
// writer would otherwise hang the open) and checked with fstat before the first read.
#pragma once

#include "lsuv/io/file_error.hpp"
#include "lsuv/status.hpp"

namespace lsuv::detail {

// Opens `path` read-only (blocking reads, close-on-exec) into *fd when it is a regular file.
// Errors: invalid_argument (null path or fd), file_not_found, io_error (with the errno's words,
// or "not a regular file (a FIFO)" and the like), each recorded in *error when it is not null.
Status open_regular_file(const char* path, int* fd, FileError* error);

}  // namespace lsuv::detail
