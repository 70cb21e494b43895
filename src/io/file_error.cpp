#include <cctype>
#include <cerrno>
#include <cstring>

#include "io/file_error_detail.hpp"

namespace lsuv::detail {
namespace {

void copy_cut(char* destination, std::size_t capacity, const std::string& text) {
  const std::size_t length = text.size() < capacity - 1 ? text.size() : capacity - 1;
  std::memcpy(destination, text.data(), length);
  destination[length] = '\0';
}

}  // namespace

void clear_file_error(FileError* error) {
  if (error != nullptr) *error = FileError{};
}

void set_file_error(FileError* error, const std::string& file, const std::string& message) {
  if (error == nullptr) return;
  copy_cut(error->file, sizeof error->file, file);
  copy_cut(error->message, sizeof error->message, message);
}

std::string errno_text(int code) {
  std::string text = std::strerror(code);
  if (!text.empty()) text[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(text[0])));
  return text;
}

Status errno_failure(FileError* error, const std::string& file, int code) {
  set_file_error(error, file, errno_text(code));
  return code == ENOENT || code == ENOTDIR ? Status::file_not_found : Status::io_error;
}

}  // namespace lsuv::detail
