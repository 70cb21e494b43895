// Why a file operation failed, in words, beside the Status it returned:
//
//   lsuv::FileError error;
//   if (lsuv::load_weights(model, "wt", &error) != lsuv::Status::ok)
//     std::fprintf(stderr, "loading %s: %s\n", error.file, error.message);
//   // loading wt/conv2.weight.npy: shape (16, 8, 3, 3) expected, file has (16, 8, 5, 5)
//
// Operating-system failures keep their cause ("permission denied", "is a directory", "too many
// levels of symbolic links"). Both strings are empty when the call succeeded or when the
// failure has nothing to add to the Status (a null argument).
#pragma once

namespace lsuv {

struct FileError {
  char file[512] = {};     // the file or directory concerned, possibly cut short
  char message[256] = {};  // what was wrong with it
};

}  // namespace lsuv
