#include "io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>

#include "io/file_error_detail.hpp"
#include "io/regular_file.hpp"

namespace lsuv::detail {
namespace {

// Tells concurrent writers of one process apart; the pid tells processes apart.
std::atomic<unsigned long> temporary_counter{0};

std::string parent_directory(const std::string& path) {
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Creates a new, empty temporary file next to `path`; never reuses an existing file.
Status create_temporary(const std::string& path, std::string* temporary, std::FILE** file,
                        FileError* error) {
  constexpr int kAttempts = 16;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    *temporary = path + ".tmp." + std::to_string(static_cast<long>(getpid())) + "." +
                 std::to_string(temporary_counter.fetch_add(1));
    const int fd = open(temporary->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) {
      if (errno == EEXIST) continue;  // a stale file from an earlier process with our pid
      return errno_failure(error, path, errno);
    }
    *file = fdopen(fd, "wb");
    if (*file == nullptr) {
      const int code = errno;
      close(fd);
      std::remove(temporary->c_str());
      return errno_failure(error, path, code);
    }
    return Status::ok;
  }
  set_file_error(error, path, "no free temporary file name");
  return Status::io_error;
}

// Makes the rename itself durable. Best effort: some file systems refuse fsync on a directory,
// and the file is complete either way.
void sync_directory(const std::string& directory) {
  const int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  static_cast<void>(fsync(fd));
  close(fd);
}

}  // namespace

Status FileSink::write(const void* data, std::size_t bytes) {
  if (bytes == 0) return Status::ok;
  if (data == nullptr) return Status::invalid_argument;
  if (std::fwrite(data, 1, bytes, file_) == bytes) return Status::ok;
  error_ = errno;
  return Status::io_error;
}

Status AtomicFile::create(const char* path, FileError* error) {
  clear_file_error(error);
  if (path == nullptr || path[0] == '\0' || file_ != nullptr) return Status::invalid_argument;
  std::string temporary;
  std::FILE* file = nullptr;
  LSUV_TRY(create_temporary(path, &temporary, &file, error));
  target_ = path;
  temporary_ = std::move(temporary);
  file_ = file;
  return Status::ok;
}

Status AtomicFile::write(const void* data, std::size_t bytes, FileError* error) {
  if (file_ == nullptr) return Status::invalid_argument;
  FileSink sink(file_);
  const Status status = sink.write(data, bytes);
  if (status == Status::io_error) set_file_error(error, target_, errno_text(sink.error()));
  return status;
}

Status AtomicFile::commit(FileError* error) {
  if (file_ == nullptr) return Status::invalid_argument;
  Status status = Status::ok;
  if (std::fflush(file_) != 0 || fsync(fileno(file_)) != 0)
    status = errno_failure(error, target_, errno);
  const int closed = std::fclose(file_);
  file_ = nullptr;
  if (closed != 0 && status == Status::ok) status = errno_failure(error, target_, errno);
  if (status == Status::ok && std::rename(temporary_.c_str(), target_.c_str()) != 0)
    status = errno_failure(error, target_, errno);
  if (status != Status::ok) {
    std::remove(temporary_.c_str());
    return status;
  }
  sync_directory(parent_directory(target_));
  return Status::ok;
}

void AtomicFile::abandon() {
  if (file_ == nullptr) return;
  std::fclose(file_);
  file_ = nullptr;
  std::remove(temporary_.c_str());
}

Status write_file_atomically(const char* path, const std::function<Status(FileSink&)>& contents,
                             FileError* error) {
  clear_file_error(error);
  if (path == nullptr || path[0] == '\0' || !contents) return Status::invalid_argument;
  AtomicFile file;
  LSUV_TRY(file.create(path, error));
  FileSink sink = file.sink();
  const Status status = contents(sink);
  if (status != Status::ok) {
    if (status == Status::io_error) set_file_error(error, path, errno_text(sink.error()));
    file.abandon();
    return status;
  }
  return file.commit(error);
}

Status read_whole_file(const char* path, std::size_t max_bytes, std::vector<unsigned char>* out,
                       FileError* error) {
  clear_file_error(error);
  if (path == nullptr || out == nullptr) return Status::invalid_argument;
  int fd = -1;
  LSUV_TRY(open_regular_file(path, &fd, error));
  std::FILE* file = fdopen(fd, "rb");
  if (file == nullptr) {
    const int code = errno;
    close(fd);
    return errno_failure(error, path, code);
  }

  struct stat info;
  if (fstat(fileno(file), &info) != 0) {
    const int code = errno;
    std::fclose(file);
    return errno_failure(error, path, code);
  }
  // One byte past the cap is enough to tell "too large" from "exactly max_bytes".
  const std::size_t limit = max_bytes < SIZE_MAX ? max_bytes + 1 : SIZE_MAX;
  const auto size = static_cast<std::uint64_t>(info.st_size);
  if (size > max_bytes) {
    std::fclose(file);
    set_file_error(error, path, "larger than " + std::to_string(max_bytes) + " bytes");
    return Status::size_overflow;
  }
  // One extra byte so that the read which meets the end of the file is a short one.
  std::size_t initial = static_cast<std::size_t>(size) + 1;
  if (initial > limit) initial = limit;

  std::vector<unsigned char> bytes(initial);
  std::size_t used = 0;
  Status status = Status::ok;
  for (;;) {
    if (used == bytes.size()) {
      if (bytes.size() >= limit) {
        status = Status::size_overflow;  // a file that grew while it was read
        set_file_error(error, path, "grew past " + std::to_string(max_bytes) + " bytes");
        break;
      }
      const std::size_t room = limit - bytes.size();
      const std::size_t growth = bytes.size() < room ? bytes.size() : room;
      bytes.resize(bytes.size() + growth);
    }
    const std::size_t wanted = bytes.size() - used;
    const std::size_t got = std::fread(bytes.data() + used, 1, wanted, file);
    used += got;
    if (got < wanted) {
      if (std::ferror(file)) status = errno_failure(error, path, errno);
      break;
    }
  }
  std::fclose(file);
  if (status != Status::ok) return status;
  bytes.resize(used);
  out->swap(bytes);
  return Status::ok;
}

}  // namespace lsuv::detail
