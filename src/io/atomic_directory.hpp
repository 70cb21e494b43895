// Crash-safe whole-directory writes: a weights directory (or an experiment's results) is
// replaced as one unit, so readers and a later run see either every old file or every new one,
// never a mix.
//
// The new files go into a sibling staging directory `.<name>.tmp.<pid>.<n>` (same parent, so
// the final step is a rename within one file system), which is flushed to the disk and then
// swapped with the old directory: renameat2(RENAME_EXCHANGE) where Linux offers it, otherwise
// the old directory is renamed aside to `.<name>.old.<pid>.<n>` and the new one renamed in.
// The old directory is removed last and the parent flushed.
//
// Stale temporaries: a writer killed midway leaves its staging directory (or, after the swap,
// the old directory under the staging name). Every write and every read of `<parent>/<name>`
// first removes the `.<name>.tmp.*` and `.<name>.old.*` siblings whose writer is gone: its pid
// no longer exists, or the entry is older than kStaleTemporarySeconds (a pid reused since, a
// writer on another machine). Should the fallback swap have been killed between its two
// renames, leaving no `<name>` at all, the stale `.old.` directory is renamed back first.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "lsuv/io/file_error.hpp"
#include "lsuv/status.hpp"

namespace lsuv::detail {

constexpr long kStaleTemporarySeconds = 3600;

// The files a kind of directory holds, by the endings of their names (with the stale
// `<file>.tmp.*` files of older per-file writers), and what a refusal calls them.
struct DirectoryFiles {
  std::vector<std::string> suffixes;
  std::string kind;  // "a weights file"
};
// A weights directory: `*.npy` files.
const DirectoryFiles& weights_files();

// What write_directory_atomically() may replace: `directory` absent, or a directory holding
// only regular files of `files` (a weights directory: `*.npy`). Anything else in it (another
// file, a subdirectory) would be lost by the swap, so it is refused; so are a symbolic link and
// a non-directory in its place. Also checks that the parent exists and is writable. Errors:
// invalid_argument (empty path, something we must not replace), file_not_found (no parent),
// io_error (the parent is not writable), each with *error filled.
Status check_replaceable_directory(const std::string& directory, const DirectoryFiles& files,
                                   FileError* error);

// Creates the staging directory, calls `contents` with its path to fill it, and swaps it into
// place of `directory` as described above. On any failure (including a status other than ok
// from `contents`) the staging directory is removed and `directory` is exactly as it was.
// Errors: those of check_replaceable_directory, io_error, or the status `contents` returned.
Status write_directory_atomically(const std::string& directory, const DirectoryFiles& files,
                                  const std::function<Status(const std::string&)>& contents,
                                  FileError* error);

// Removes the stale temporaries of `directory` (see above). Best effort: never fails.
void remove_stale_temporaries(const std::string& directory);

}  // namespace lsuv::detail
