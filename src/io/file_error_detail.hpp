// Filling a FileError: the helpers every reader and writer of the io layer shares.
#pragma once

#include <string>

#include "lsuv/io/file_error.hpp"
#include "lsuv/status.hpp"

namespace lsuv::detail {

// Clears *error (null is allowed everywhere and means "the caller does not want the detail").
void clear_file_error(FileError* error);

// Records `file` and `message`; each is cut to fit its buffer.
void set_file_error(FileError* error, const std::string& file, const std::string& message);

// The operating system's words for errno value `code`, lower case ("permission denied").
std::string errno_text(int code);

// Records `file` with errno_text(code) and returns the Status for that errno: file_not_found
// for ENOENT and ENOTDIR, io_error otherwise.
Status errno_failure(FileError* error, const std::string& file, int code);

}  // namespace lsuv::detail
