#include "lsuv/io/npy_stream.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "core/checked_math.hpp"
#include "io/atomic_file.hpp"
#include "io/file_error_detail.hpp"
#include "io/npy_header.hpp"
#include "io/regular_file.hpp"

namespace lsuv {
namespace {

// The elements of one row (every dimension after the first); 0 when that product does not fit,
// which only an array of zero rows can have (its data would not fit otherwise).
std::size_t row_elements_of(const std::int64_t* shape, int rank) {
  std::size_t elements = 1;
  for (int i = 1; i < rank; ++i)
    if (!detail::checked_multiply(elements, static_cast<std::size_t>(shape[i]), &elements))
      return 0;
  return elements;
}

// Reads `bytes` bytes at `offset` into `out`; *got says how many there were before the end.
Status read_at(int fd, std::uint64_t offset, std::size_t bytes, unsigned char* out,
               std::size_t* got, int* code) {
  *got = 0;
  while (*got < bytes) {
    const ssize_t n = ::pread(fd, out + *got, bytes - *got, static_cast<off_t>(offset + *got));
    if (n < 0) {
      if (errno == EINTR) continue;
      *code = errno;
      return Status::io_error;
    }
    if (n == 0) break;
    *got += static_cast<std::size_t>(n);
  }
  return Status::ok;
}

}  // namespace

NpyReader::~NpyReader() {
  close();
}

void NpyReader::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status NpyReader::open(const char* path, FileError* error) {
  detail::clear_file_error(error);
  if (path == nullptr || fd_ >= 0) return Status::invalid_argument;
  int fd = -1;
  LSUV_TRY(detail::open_regular_file(path, &fd, error));
  struct FdCloser {
    int& fd;
    ~FdCloser() {
      if (fd >= 0) ::close(fd);
    }
  } closer{fd};
  struct stat info;
  if (::fstat(fd, &info) != 0) return detail::errno_failure(error, path, errno);
  const auto file_size = static_cast<std::uint64_t>(info.st_size);
  if (file_size == 0) {
    detail::set_file_error(error, path, "empty file");
    return Status::truncated;
  }

  // The prefix says how long the header is; then the header itself, and no more.
  std::vector<unsigned char> header_bytes(12);
  std::size_t got = 0;
  int code = 0;
  if (read_at(fd, 0, header_bytes.size(), header_bytes.data(), &got, &code) != Status::ok)
    return detail::errno_failure(error, path, code);
  const std::size_t header_size = detail::npy_header_size(header_bytes.data(), got);
  if (header_size > kMaxNpyHeaderBytes) {
    detail::set_file_error(error, path,
                           "header longer than " + std::to_string(kMaxNpyHeaderBytes) + " bytes");
    return Status::size_overflow;
  }
  if (header_size > got) {
    header_bytes.resize(header_size);
    if (read_at(fd, 0, header_size, header_bytes.data(), &got, &code) != Status::ok)
      return detail::errno_failure(error, path, code);
  }
  detail::NpyHeader header;
  std::string reason;
  const Status status =
      detail::parse_npy_header(header_bytes.data(), got, file_size, &header, &reason);
  if (status != Status::ok) {
    detail::set_file_error(
        error, path,
        reason.empty() ? std::string("not a valid .npy file: ") + status_name(status) : reason);
    return status;
  }

  path_ = path;
  dtype_ = header.dtype;
  shape_.assign(header.shape, header.shape + header.rank);
  rows_ = header.rank == 0 ? 1 : header.shape[0];
  row_elements_ = row_elements_of(header.shape, header.rank);
  data_offset_ = header.data_offset;
  fd_ = fd;
  fd = -1;
  return Status::ok;
}

Status NpyReader::read_rows(std::int64_t first, std::int64_t count, void* out, FileError* error) {
  detail::clear_file_error(error);
  if (fd_ < 0 || first < 0 || count < 0 || first > rows_ || count > rows_ - first)
    return Status::invalid_argument;
  const std::size_t bytes = static_cast<std::size_t>(count) * row_bytes();
  if (bytes == 0) return Status::ok;
  if (out == nullptr) return Status::invalid_argument;
  const std::uint64_t offset =
      data_offset_ + static_cast<std::uint64_t>(first) * static_cast<std::uint64_t>(row_bytes());
  std::size_t got = 0;
  int code = 0;
  if (read_at(fd_, offset, bytes, static_cast<unsigned char*>(out), &got, &code) != Status::ok)
    return detail::errno_failure(error, path_, code);
  if (got < bytes) {
    detail::set_file_error(error, path_,
                           "truncated: the file ends at byte " + std::to_string(offset + got) +
                               " (it shrank after it was opened), rows " + std::to_string(first) +
                               ".." + std::to_string(first + count - 1) + " need bytes up to " +
                               std::to_string(offset + bytes));
    return Status::truncated;
  }
  return Status::ok;
}

struct NpyWriter::File {
  detail::AtomicFile file;
};

NpyWriter::NpyWriter() = default;

NpyWriter::~NpyWriter() {
  abandon();
}

void NpyWriter::abandon() {
  file_.reset();
}

Status NpyWriter::open(const char* path, NpyDtype dtype, const std::int64_t* shape, int rank,
                       FileError* error) {
  detail::clear_file_error(error);
  if (path == nullptr || file_ != nullptr) return Status::invalid_argument;
  std::size_t data_bytes = 0;
  LSUV_TRY(detail::npy_check_array(dtype, shape, rank, &data_bytes));
  const std::string header = detail::format_npy_header(dtype, shape, rank);
  auto file = std::make_unique<File>();
  LSUV_TRY(file->file.create(path, error));
  LSUV_TRY(file->file.write(header.data(), header.size(), error));
  path_ = path;
  rows_ = rank == 0 ? 1 : shape[0];
  row_bytes_ = row_elements_of(shape, rank) * npy_dtype_size(dtype);
  written_ = 0;
  file_ = std::move(file);
  return Status::ok;
}

Status NpyWriter::append_rows(const void* data, std::int64_t count, FileError* error) {
  detail::clear_file_error(error);
  if (file_ == nullptr || count < 0) return Status::invalid_argument;
  if (count > rows_ - written_) {
    detail::set_file_error(
        error, path_,
        std::to_string(written_ + count) + " rows written to an array of " + std::to_string(rows_));
    abandon();
    return Status::invalid_argument;
  }
  const std::size_t bytes = static_cast<std::size_t>(count) * row_bytes_;
  if (data == nullptr && bytes > 0) {
    abandon();
    return Status::invalid_argument;
  }
  const Status status = file_->file.write(data, bytes, error);
  if (status != Status::ok) {
    abandon();
    return status;
  }
  written_ += count;
  return Status::ok;
}

Status NpyWriter::finish(FileError* error) {
  detail::clear_file_error(error);
  if (file_ == nullptr) return Status::invalid_argument;
  if (written_ != rows_) {
    detail::set_file_error(
        error, path_,
        "only " + std::to_string(written_) + " of " + std::to_string(rows_) + " rows were written");
    abandon();
    return Status::invalid_argument;
  }
  const Status status = file_->file.commit(error);
  file_.reset();
  return status;
}

}  // namespace lsuv
