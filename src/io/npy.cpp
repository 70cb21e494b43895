#include "lsuv/io/npy.hpp"

#include <cstring>
#include <string>
#include <utility>

#include "io/atomic_file.hpp"
#include "io/file_error_detail.hpp"
#include "io/npy_header.hpp"
#include "lsuv/io/npy_stream.hpp"

namespace lsuv {
namespace {

void fill_metadata(const detail::NpyHeader& header, NpyArray* array) {
  array->dtype = header.dtype;
  array->shape.assign(header.shape, header.shape + header.rank);
}

}  // namespace

std::size_t npy_dtype_size(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::float32:
    case NpyDtype::int32:
      return 4;
    case NpyDtype::int64:
      return 8;
    case NpyDtype::int8:
    case NpyDtype::uint8:
      return 1;
  }
  return 1;
}

const char* npy_dtype_descr(NpyDtype dtype) {
  switch (dtype) {
    case NpyDtype::float32:
      return "<f4";
    case NpyDtype::int8:
      return "|i1";
    case NpyDtype::uint8:
      return "|u1";
    case NpyDtype::int32:
      return "<i4";
    case NpyDtype::int64:
      return "<i8";
  }
  return "?";
}

std::size_t NpyArray::elements() const {
  std::size_t count = 1;
  for (const std::int64_t dimension : shape) count *= static_cast<std::size_t>(dimension);
  return count;
}

const float* NpyArray::as_float32() const {
  return dtype == NpyDtype::float32 ? reinterpret_cast<const float*>(bytes.data()) : nullptr;
}
const std::int8_t* NpyArray::as_int8() const {
  return dtype == NpyDtype::int8 ? reinterpret_cast<const std::int8_t*>(bytes.data()) : nullptr;
}
const std::uint8_t* NpyArray::as_uint8() const {
  return dtype == NpyDtype::uint8 ? bytes.data() : nullptr;
}
const std::int32_t* NpyArray::as_int32() const {
  return dtype == NpyDtype::int32 ? reinterpret_cast<const std::int32_t*>(bytes.data()) : nullptr;
}
const std::int64_t* NpyArray::as_int64() const {
  return dtype == NpyDtype::int64 ? reinterpret_cast<const std::int64_t*>(bytes.data()) : nullptr;
}

Status parse_npy(const unsigned char* data, std::size_t size, NpyArray* out) {
  if (out == nullptr || (data == nullptr && size > 0)) return Status::invalid_argument;
  if (size == 0) return Status::truncated;
  detail::NpyHeader header;
  LSUV_TRY(detail::parse_npy_header(data, size, size, &header));
  NpyArray array;
  fill_metadata(header, &array);
  array.bytes.assign(data + header.data_offset, data + header.data_offset + header.data_bytes);
  *out = std::move(array);
  return Status::ok;
}

Status read_npy(const char* path, NpyArray* out, FileError* error) {
  detail::clear_file_error(error);
  if (path == nullptr || out == nullptr) return Status::invalid_argument;
  std::vector<unsigned char> file;
  LSUV_TRY(detail::read_whole_file(path, kMaxNpyFileBytes, &file, error));
  if (file.empty()) {
    detail::set_file_error(error, path, "empty file");
    return Status::truncated;
  }
  detail::NpyHeader header;
  std::string reason;
  const Status status =
      detail::parse_npy_header(file.data(), file.size(), file.size(), &header, &reason);
  if (status != Status::ok) {
    detail::set_file_error(
        error, path,
        reason.empty() ? std::string("not a valid .npy file: ") + status_name(status) : reason);
    return status;
  }
  NpyArray array;
  fill_metadata(header, &array);
  // Keep the file's buffer: drop the header in place rather than copy the data.
  file.erase(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(header.data_offset));
  array.bytes = std::move(file);
  *out = std::move(array);
  return Status::ok;
}

Status write_npy(const char* path, NpyDtype dtype, const std::int64_t* shape, int rank,
                 const void* data, FileError* error) {
  detail::clear_file_error(error);
  std::size_t data_bytes = 0;
  LSUV_TRY(detail::npy_check_array(dtype, shape, rank, &data_bytes));
  if (path == nullptr || (data == nullptr && data_bytes > 0)) return Status::invalid_argument;
  NpyWriter writer;
  LSUV_TRY(writer.open(path, dtype, shape, rank, error));
  LSUV_TRY(writer.append_rows(data, writer.rows(), error));
  return writer.finish(error);
}

}  // namespace lsuv
