#include "io/atomic_directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

#include "io/file_error_detail.hpp"

namespace lsuv::detail {
namespace {

std::atomic<unsigned long> staging_counter{0};

struct SplitPath {
  std::string parent;  // "." for a bare name
  std::string name;    // the last component, without trailing slashes
};

SplitPath split(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  const std::size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return {".", path};
  return {slash == 0 ? "/" : path.substr(0, slash), path.substr(slash + 1)};
}

std::string join(const std::string& parent, const std::string& name) {
  return parent == "/" ? "/" + name : parent + "/" + name;
}

bool ends_with(const std::string& text, const char* suffix) {
  const std::string tail(suffix);
  return text.size() >= tail.size() &&
         text.compare(text.size() - tail.size(), tail.size(), tail) == 0;
}

// A file of `files`, or the per-file temporary of an older writer of one.
bool is_owned_file(const std::string& name, const DirectoryFiles& files) {
  for (const std::string& suffix : files.suffixes)
    if (ends_with(name, suffix.c_str()) || name.find(suffix + ".tmp.") != std::string::npos)
      return true;
  return false;
}

std::vector<std::string> entries(const std::string& directory) {
  std::vector<std::string> names;
  DIR* dir = opendir(directory.c_str());
  if (dir == nullptr) return names;
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(dir);
  return names;
}

// Removes a directory of regular files. A subdirectory (not ours) keeps it in place.
void remove_directory(const std::string& directory) {
  for (const std::string& name : entries(directory)) unlink(join(directory, name).c_str());
  rmdir(directory.c_str());
}

// Best effort: some file systems refuse fsync on a directory.
void sync_directory(const std::string& directory) {
  const int fd = open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  static_cast<void>(fsync(fd));
  close(fd);
}

// The pid in `.<name>.tmp.<pid>.<n>` after `prefix`; 0 when the rest is not "<pid>.<n>".
long writer_pid(const std::string& entry, const std::string& prefix) {
  const char* start = entry.c_str() + prefix.size();
  char* end = nullptr;
  const long pid = std::strtol(start, &end, 10);
  return end != start && *end == '.' && pid > 0 ? pid : 0;
}

bool is_stale(const std::string& path, long pid) {
  if (pid == 0) return false;
  if (pid != static_cast<long>(getpid()) && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
    return true;
  struct stat info;
  return lstat(path.c_str(), &info) == 0 &&
         std::time(nullptr) - info.st_mtime > kStaleTemporarySeconds;
}

std::string staging_name(const SplitPath& target, const char* kind) {
  return join(target.parent, "." + target.name + kind +
                                 std::to_string(static_cast<long>(getpid())) + "." +
                                 std::to_string(staging_counter.fetch_add(1)));
}

// Swaps `staging` into place of the existing `target`; afterwards the old directory is at
// *old_path. On failure nothing has moved.
Status swap_in(const std::string& staging, const std::string& target, const SplitPath& split_target,
               std::string* old_path, FileError* error) {
#if defined(RENAME_EXCHANGE)
  if (renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) == 0) {
    *old_path = staging;
    return Status::ok;
  }
  if (errno != EINVAL && errno != ENOSYS) return errno_failure(error, target, errno);
#endif
  *old_path = staging_name(split_target, ".old.");
  if (std::rename(target.c_str(), old_path->c_str()) != 0)
    return errno_failure(error, target, errno);
  if (std::rename(staging.c_str(), target.c_str()) != 0) {
    const int code = errno;
    static_cast<void>(std::rename(old_path->c_str(), target.c_str()));
    return errno_failure(error, target, code);
  }
  return Status::ok;
}

}  // namespace

const DirectoryFiles& weights_files() {
  static const DirectoryFiles files{{".npy"}, "a weights file"};
  return files;
}

Status check_replaceable_directory(const std::string& directory, const DirectoryFiles& files,
                                   FileError* error) {
  if (directory.empty()) {
    set_file_error(error, directory, "an empty path names no directory");
    return Status::invalid_argument;
  }
  const SplitPath target = split(directory);
  struct stat info;
  if (stat(target.parent.c_str(), &info) != 0) return errno_failure(error, target.parent, errno);
  if (!S_ISDIR(info.st_mode)) {
    set_file_error(error, target.parent, errno_text(ENOTDIR));
    return Status::file_not_found;
  }
  if (access(target.parent.c_str(), W_OK | X_OK) != 0)
    return errno_failure(error, target.parent, errno);
  if (lstat(directory.c_str(), &info) != 0) {
    if (errno == ENOENT) return Status::ok;
    return errno_failure(error, directory, errno);
  }
  if (S_ISLNK(info.st_mode)) {
    set_file_error(error, directory,
                   "is a symbolic link: not replaced (name the directory itself)");
    return Status::invalid_argument;
  }
  if (!S_ISDIR(info.st_mode)) {
    set_file_error(error, directory, "exists and is not a directory: not replaced");
    return Status::invalid_argument;
  }
  for (const std::string& name : entries(directory)) {
    struct stat entry;
    const std::string path = join(directory, name);
    if (lstat(path.c_str(), &entry) != 0 || !S_ISREG(entry.st_mode) ||
        !is_owned_file(name, files)) {
      set_file_error(
          error, directory,
          "holds " + name + ", which is not " + files.kind + ": not replaced (move it away first)");
      return Status::invalid_argument;
    }
  }
  return Status::ok;
}

void remove_stale_temporaries(const std::string& directory) {
  if (directory.empty()) return;
  const SplitPath target = split(directory);
  const std::string path = join(target.parent, target.name);
  const std::string staging_prefix = "." + target.name + ".tmp.";
  const std::string old_prefix = "." + target.name + ".old.";
  struct stat info;
  bool target_exists = lstat(path.c_str(), &info) == 0;
  for (const std::string& name : entries(target.parent)) {
    const bool old = name.compare(0, old_prefix.size(), old_prefix) == 0;
    const bool staging = name.compare(0, staging_prefix.size(), staging_prefix) == 0;
    if (!old && !staging) continue;
    const std::string entry = join(target.parent, name);
    if (!is_stale(entry, writer_pid(name, old ? old_prefix : staging_prefix))) continue;
    if (old && !target_exists && std::rename(entry.c_str(), path.c_str()) == 0) {
      target_exists = true;
      continue;
    }
    remove_directory(entry);
  }
}

Status write_directory_atomically(const std::string& directory, const DirectoryFiles& files,
                                  const std::function<Status(const std::string&)>& contents,
                                  FileError* error) {
  remove_stale_temporaries(directory);
  LSUV_TRY(check_replaceable_directory(directory, files, error));
  const SplitPath split_target = split(directory);
  const std::string target = join(split_target.parent, split_target.name);
  const std::string staging = staging_name(split_target, ".tmp.");
  if (mkdir(staging.c_str(), 0777) != 0) return errno_failure(error, staging, errno);

  Status status = contents(staging);
  struct stat old_info;
  const bool replacing = stat(target.c_str(), &old_info) == 0;
  // The new directory keeps the old one's permissions.
  if (status == Status::ok && replacing && chmod(staging.c_str(), old_info.st_mode & 07777) != 0)
    status = errno_failure(error, staging, errno);
  if (status != Status::ok) {
    remove_directory(staging);
    return status;
  }
  sync_directory(staging);
  std::string old_path;
  if (replacing) {
    status = swap_in(staging, target, split_target, &old_path, error);
  } else if (std::rename(staging.c_str(), target.c_str()) != 0) {
    status = errno_failure(error, target, errno);
  }
  if (status != Status::ok) {
    remove_directory(staging);
    return status;
  }
  sync_directory(split_target.parent);
  if (!old_path.empty()) remove_directory(old_path);
  return Status::ok;
}

}  // namespace lsuv::detail
