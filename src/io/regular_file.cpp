#include "io/regular_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "io/file_error_detail.hpp"

namespace lsuv::detail {
namespace {

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "not a regular file (a directory)";
  if (S_ISFIFO(mode)) return "not a regular file (a FIFO)";
  if (S_ISCHR(mode)) return "not a regular file (a character device)";
  if (S_ISBLK(mode)) return "not a regular file (a block device)";
  if (S_ISSOCK(mode)) return "not a regular file (a socket)";
  return "not a regular file";
}

}  // namespace

Status open_regular_file(const char* path, int* fd, FileError* error) {
  if (path == nullptr || fd == nullptr) return Status::invalid_argument;
  const int opened = ::open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (opened < 0) return errno_failure(error, path, errno);
  struct stat info;
  if (::fstat(opened, &info) != 0) {
    const int code = errno;
    ::close(opened);
    return errno_failure(error, path, code);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(opened);
    set_file_error(error, path, kind_of(info.st_mode));
    return Status::io_error;
  }
  // Regular files never block; clearing the flag keeps reads plain for every caller.
  const int flags = ::fcntl(opened, F_GETFL);
  if (flags < 0 || ::fcntl(opened, F_SETFL, flags & ~O_NONBLOCK) != 0) {
    const int code = errno;
    ::close(opened);
    return errno_failure(error, path, code);
  }
  *fd = opened;
  return Status::ok;
}

}  // namespace lsuv::detail
