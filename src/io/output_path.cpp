#include "lsuv/io/output_path.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "io/atomic_directory.hpp"
#include "io/file_error_detail.hpp"

namespace lsuv {
namespace {

std::string parent_of(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

Status check_output_directory(const char* path, FileError* error) {
  detail::clear_file_error(error);
  if (path == nullptr) return Status::invalid_argument;
  return detail::check_replaceable_directory(path, detail::weights_files(), error);
}

Status check_output_file(const char* path, FileError* error) {
  detail::clear_file_error(error);
  if (path == nullptr) return Status::invalid_argument;
  const std::string target(path);
  if (target.empty()) {
    detail::set_file_error(error, target, "an empty path names no file");
    return Status::invalid_argument;
  }
  const std::string parent = parent_of(target);
  struct stat info;
  if (stat(parent.c_str(), &info) != 0) return detail::errno_failure(error, parent, errno);
  if (!S_ISDIR(info.st_mode)) return detail::errno_failure(error, parent, ENOTDIR);
  if (access(parent.c_str(), W_OK | X_OK) != 0) return detail::errno_failure(error, parent, errno);
  if (stat(target.c_str(), &info) != 0) {
    if (errno == ENOENT) return Status::ok;
    return detail::errno_failure(error, target, errno);
  }
  if (S_ISDIR(info.st_mode)) return detail::errno_failure(error, target, EISDIR);
  if (!S_ISREG(info.st_mode)) {
    detail::set_file_error(error, target, "not a regular file: not replaced");
    return Status::io_error;
  }
  return Status::ok;
}

}  // namespace lsuv
