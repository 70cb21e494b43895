// Checks that an output can be written, for programs that should fail before a long run
// rather than after it:
//
//   lsuv::FileError error;
//   if (lsuv::check_output_directory("weights", &error) != lsuv::Status::ok)
//     std::fprintf(stderr, "%s: %s\n", error.file, error.message);  // before LSUV, not after
//
// The check is a forecast (the file system may change before the write); the writers check
// everything again.
#pragma once

#include "lsuv/io/file_error.hpp"
#include "lsuv/status.hpp"

namespace lsuv {

// Whether save_weights could replace (or create) the weights directory `path`: its parent
// exists and is writable, and `path` is absent or a directory of `*.npy` files only.
// Errors: invalid_argument (null or empty path, something save_weights refuses to replace),
// file_not_found (no parent directory), io_error (the parent is not writable); *error says why.
Status check_output_directory(const char* path, FileError* error);

// Whether write_npy could replace (or create) the file `path`: its parent exists and is
// writable, and `path` is absent or a regular file. Errors as check_output_directory, and
// io_error for a directory or anything else that is not a regular file in its place.
Status check_output_file(const char* path, FileError* error);

}  // namespace lsuv
