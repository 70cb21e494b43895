#include "lsuv/io/idx.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#if LSUV_HAVE_ZLIB
#include <zlib.h>
#endif

#include <cerrno>
#include <climits>
#include <cmath>
#include <cstring>
#include <utility>

#include "io/regular_file.hpp"

namespace lsuv {
namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;
constexpr int kImageRank = 3;
constexpr int kLabelRank = 1;
// Deflate never expands data more than about 1032 to 1: a header that promises more than that
// from the file's size cannot be honest, so the first allocation stays near what can arrive.
constexpr std::uint64_t kMaxInflateRatio = 1032;
constexpr std::size_t kSlack = 64 * 1024;
// gzread counts in unsigned int.
constexpr std::size_t kMaxReadChunk = std::size_t{1} << 30;

// The other element types IDX defines (sbyte, short, int, float, double): valid files that lsuv
// does not read.
bool is_other_idx_type(std::uint8_t code) {
  return code == 0x09 || code == 0x0B || code == 0x0C || code == 0x0D || code == 0x0E;
}

#if LSUV_HAVE_ZLIB
class GzReader {
 public:
  GzReader() = default;
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() {
    if (file_ != nullptr) (void)gzclose(file_);
  }

  Status open(const char* path) {
    if (path == nullptr) return Status::invalid_argument;
    int fd = -1;
    LSUV_TRY(detail::open_regular_file(path, &fd, nullptr));
    struct stat info;
    if (::fstat(fd, &info) != 0) {
      ::close(fd);
      return Status::io_error;
    }
    file_bytes_ = static_cast<std::uint64_t>(info.st_size);
    file_ = gzdopen(fd, "rb");
    if (file_ == nullptr) {
      ::close(fd);
      return Status::io_error;
    }
    (void)gzbuffer(file_, 128 * 1024);
    return Status::ok;
  }

  // Size of the file on disk.
  std::uint64_t file_bytes() const { return file_bytes_; }

  // Reads exactly `size` bytes; when fewer arrive, *got says how many and the status why.
  Status read(std::uint8_t* buffer, std::size_t size, std::size_t* got) {
    *got = 0;
    while (*got < size) {
      const std::size_t want = size - *got < kMaxReadChunk ? size - *got : kMaxReadChunk;
      const int n = gzread(file_, buffer + *got, static_cast<unsigned>(want));
      if (n <= 0) return stream_status();
      *got += static_cast<std::size_t>(n);
    }
    return Status::ok;
  }

  // ok when the stream ends cleanly right here; bad_format when more data follows.
  Status expect_end() {
    std::uint8_t extra = 0;
    const int n = gzread(file_, &extra, 1);
    if (n > 0) return Status::bad_format;
    if (n < 0) return stream_status();
    int code = Z_OK;
    (void)gzerror(file_, &code);
    // Z_BUF_ERROR here: the data is complete but the gzip trailer (its checksum) is missing.
    if (code == Z_BUF_ERROR) return Status::truncated;
    return code == Z_OK ? Status::ok : Status::io_error;
  }

 private:
  // Why a read came up short.
  Status stream_status() {
    int code = Z_OK;
    (void)gzerror(file_, &code);
    switch (code) {
      case Z_OK:         // plain end of file
      case Z_BUF_ERROR:  // the gzip stream stops mid-way
        return Status::truncated;
      case Z_DATA_ERROR:  // corrupt deflate data, bad checksum or length
        return Status::bad_format;
      default:
        return Status::io_error;
    }
  }

  gzFile file_ = nullptr;
  std::uint64_t file_bytes_ = 0;
};
#else
// Without zlib (a cross build for a board that lacks it) only plain IDX files are read; a gzip
// file is recognised by its magic bytes and refused as unsupported.
class GzReader {
 public:
  GzReader() = default;
  GzReader(const GzReader&) = delete;
  GzReader& operator=(const GzReader&) = delete;
  ~GzReader() {
    if (fd_ >= 0) ::close(fd_);
  }

  Status open(const char* path) {
    if (path == nullptr) return Status::invalid_argument;
    LSUV_TRY(detail::open_regular_file(path, &fd_, nullptr));
    struct stat info;
    if (::fstat(fd_, &info) != 0) return Status::io_error;
    file_bytes_ = static_cast<std::uint64_t>(info.st_size);
    std::uint8_t magic[2] = {0, 0};
    if (::pread(fd_, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b)
      return Status::unsupported;
    return Status::ok;
  }

  std::uint64_t file_bytes() const { return file_bytes_; }

  Status read(std::uint8_t* buffer, std::size_t size, std::size_t* got) {
    *got = 0;
    while (*got < size) {
      const std::size_t want = size - *got < kMaxReadChunk ? size - *got : kMaxReadChunk;
      const ssize_t n = ::read(fd_, buffer + *got, want);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::io_error;
      if (n == 0) return Status::truncated;
      *got += static_cast<std::size_t>(n);
    }
    return Status::ok;
  }

  Status expect_end() {
    std::uint8_t extra = 0;
    const ssize_t n = ::read(fd_, &extra, 1);
    if (n > 0) return Status::bad_format;
    return n == 0 ? Status::ok : Status::io_error;
  }

 private:
  int fd_ = -1;
  std::uint64_t file_bytes_ = 0;
};
#endif

std::uint32_t big_endian_u32(const std::uint8_t* bytes) {
  return (static_cast<std::uint32_t>(bytes[0]) << 24) |
         (static_cast<std::uint32_t>(bytes[1]) << 16) |
         (static_cast<std::uint32_t>(bytes[2]) << 8) | static_cast<std::uint32_t>(bytes[3]);
}

// Reads an unsigned-byte IDX file of rank `rank` (at most 3): its dimensions into dims and its
// data into *data.
Status read_idx(const char* path, int rank, std::int32_t* dims, std::vector<std::uint8_t>* data) {
  GzReader reader;
  LSUV_TRY(reader.open(path));

  std::uint8_t magic[4];
  std::size_t got = 0;
  LSUV_TRY(reader.read(magic, sizeof magic, &got));
  if (magic[0] != 0 || magic[1] != 0) return Status::bad_format;
  if (magic[2] != kUnsignedByte)
    return is_other_idx_type(magic[2]) ? Status::unsupported : Status::bad_format;
  if (magic[3] == 0) return Status::bad_format;
  if (magic[3] != rank) return Status::shape_mismatch;

  std::uint8_t dim_bytes[4 * kImageRank];
  LSUV_TRY(reader.read(dim_bytes, static_cast<std::size_t>(4 * rank), &got));
  std::uint64_t total = 1;
  for (int i = 0; i < rank; ++i) {
    const std::uint32_t dim = big_endian_u32(dim_bytes + 4 * i);
    if (dim == 0) return Status::bad_format;
    // Each factor is at most 2^32 and the running product at most kMaxIdxBytes: no wrap.
    total *= dim;
    if (dim > static_cast<std::uint32_t>(INT32_MAX) || total > kMaxIdxBytes)
      return Status::size_overflow;
    dims[i] = static_cast<std::int32_t>(dim);
  }
  const std::size_t expected = static_cast<std::size_t>(total);

  std::size_t size = expected;
  if (reader.file_bytes() < kMaxIdxBytes) {
    const std::uint64_t plausible = reader.file_bytes() * kMaxInflateRatio + kSlack;
    if (plausible < size) size = static_cast<std::size_t>(plausible);
  }
  std::vector<std::uint8_t> bytes(size);
  std::size_t filled = 0;
  for (;;) {
    LSUV_TRY(reader.read(bytes.data() + filled, size - filled, &got));
    filled = size;
    if (filled == expected) break;
    size = expected - size < size ? expected : 2 * size;
    bytes.resize(size);
  }
  LSUV_TRY(reader.expect_end());
  *data = std::move(bytes);
  return Status::ok;
}

}  // namespace

Status IdxImages::load(const char* path) {
  std::int32_t dims[kImageRank] = {};
  std::vector<std::uint8_t> pixels;
  LSUV_TRY(read_idx(path, kImageRank, dims, &pixels));
  pixels_ = std::move(pixels);
  count_ = dims[0];
  height_ = dims[1];
  width_ = dims[2];
  return Status::ok;
}

Status IdxLabels::load(const char* path) {
  std::int32_t dims[kLabelRank] = {};
  std::vector<std::uint8_t> labels;
  LSUV_TRY(read_idx(path, kLabelRank, dims, &labels));
  labels_ = std::move(labels);
  return Status::ok;
}

Status IdxBatchSource::configure(const IdxImages& images, const IdxBatchOptions& options) {
  if (options.batch_size < 1 || options.first_image < 0 || options.image_count < 0 ||
      options.first_image >= images.count())
    return Status::invalid_argument;
  const std::int32_t available = images.count() - options.first_image;
  const std::int32_t count = options.image_count == 0 ? available : options.image_count;
  if (count > available) return Status::invalid_argument;
  if (!std::isfinite(options.mean) || !std::isfinite(options.std) || !(options.std > 0.0f))
    return Status::invalid_argument;

  images_ = &images;
  shape_ = images.shape();
  first_image_ = options.first_image;
  image_count_ = count;
  batch_size_ = options.batch_size;
  for (int pixel = 0; pixel < 256; ++pixel)
    table_[pixel] = (static_cast<float>(pixel) / 255.0f - options.mean) / options.std;
  return Status::ok;
}

std::int32_t IdxBatchSource::batch_count() const {
  const std::int64_t batches =
      (static_cast<std::int64_t>(image_count_) + batch_size_ - 1) / batch_size_;
  return static_cast<std::int32_t>(batches);
}

std::int32_t IdxBatchSource::max_batch_size() const {
  return image_count_ < batch_size_ ? image_count_ : batch_size_;
}

Status IdxBatchSource::read(std::int32_t index, float* images, std::int32_t* count) {
  if (images == nullptr || count == nullptr) return Status::invalid_argument;
  if (images_ == nullptr || index < 0 || index >= batch_count()) return Status::end_of_data;
  const std::int32_t done = index * batch_size_;
  const std::int32_t n = image_count_ - done < batch_size_ ? image_count_ - done : batch_size_;
  const std::uint8_t* pixels = images_->image(first_image_ + done);
  const std::size_t values = static_cast<std::size_t>(n) * shape_.elements();
  for (std::size_t i = 0; i < values; ++i) images[i] = table_[pixels[i]];
  *count = n;
  return Status::ok;
}

}  // namespace lsuv
