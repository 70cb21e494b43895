#include "lsuv/io/npy.hpp"

#include <cstring>
#include <string>
#include <utility>

#include "core/checked_math.hpp"
#include "io/atomic_file.hpp"
#include "io/file_error_detail.hpp"

namespace lsuv {
namespace {

// The bytes of a file are the bytes of memory: no swapping anywhere.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "lsuv's .npy io assumes a little-endian host");

constexpr unsigned char kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr std::size_t kMagicSize = sizeof kMagic;
// numpy.lib.format aligns the data to this many bytes from the start of the file.
constexpr std::size_t kHeaderAlignment = 64;
// numpy pads the header so the first dimension can grow to this many digits in place.
constexpr std::size_t kGrowthAxisMaxDigits = 21;

struct NpyHeader {
  NpyDtype dtype = NpyDtype::float32;
  std::int64_t shape[NpyArray::kMaxRank] = {};
  int rank = 0;
  std::size_t data_offset = 0;
  std::size_t data_bytes = 0;
};

// What the header dictionary says, before it is checked against what lsuv supports.
struct HeaderFields {
  bool has_descr = false, has_fortran_order = false, has_shape = false;
  bool descr_known = false;
  std::string descr;  // as the file spells it, for the error message
  NpyDtype dtype = NpyDtype::float32;
  bool fortran_order = false;
  bool too_many_dimensions = false;
  bool dimension_overflow = false;  // a dimension above INT64_MAX
  std::int64_t shape[NpyArray::kMaxRank] = {};
  int rank = 0;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_identifier_char(char c) {
  return is_digit(c) || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool descr_to_dtype(const char* text, std::size_t length, NpyDtype* dtype) {
  if (length != 3) return false;
  const char order = text[0];
  const bool single_byte = text[2] == '1';
  // Byte order is meaningless for one-byte types; NumPy writes '|' but accepts the others.
  if (single_byte ? (order != '|' && order != '<' && order != '>' && order != '=') : order != '<')
    return false;
  if (text[1] == 'f' && text[2] == '4')
    *dtype = NpyDtype::float32;
  else if (text[1] == 'i' && text[2] == '1')
    *dtype = NpyDtype::int8;
  else if (text[1] == 'u' && text[2] == '1')
    *dtype = NpyDtype::uint8;
  else if (text[1] == 'i' && text[2] == '4')
    *dtype = NpyDtype::int32;
  else
    return false;
  return true;
}

// A recursive-descent parser for the one Python literal numpy writes: a dict of three keys.
class HeaderParser {
 public:
  HeaderParser(const char* begin, const char* end) : at_(begin), end_(end) {}

  Status parse(HeaderFields* fields) {
    skip_space();
    if (!consume('{')) return Status::bad_format;
    skip_space();
    while (!consume('}')) {
      LSUV_TRY(parse_entry(fields));
      skip_space();
      if (consume(',')) {
        skip_space();
      } else if (peek() != '}') {
        return Status::bad_format;
      }
    }
    skip_space();
    if (at_ != end_) return Status::bad_format;
    if (!fields->has_descr || !fields->has_fortran_order || !fields->has_shape)
      return Status::bad_format;
    return Status::ok;
  }

 private:
  char peek() const { return at_ < end_ ? *at_ : '\0'; }
  bool consume(char c) {
    if (at_ < end_ && *at_ == c) {
      ++at_;
      return true;
    }
    return false;
  }
  void skip_space() {
    while (at_ < end_ && is_space(*at_)) ++at_;
  }

  // A quoted string without escapes: 'text' or "text", printable ASCII only.
  Status parse_string(const char** text, std::size_t* length) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') return Status::bad_format;
    ++at_;
    const char* start = at_;
    while (at_ < end_ && *at_ != quote) {
      if (*at_ < ' ' || *at_ > '~' || *at_ == '\\') return Status::bad_format;
      ++at_;
    }
    if (!consume(quote)) return Status::bad_format;
    *text = start;
    *length = static_cast<std::size_t>(at_ - 1 - start);
    return Status::ok;
  }

  bool consume_word(const char* word) {
    const std::size_t length = std::strlen(word);
    if (static_cast<std::size_t>(end_ - at_) < length || std::memcmp(at_, word, length) != 0)
      return false;
    if (at_ + length < end_ && is_identifier_char(at_[length])) return false;
    at_ += length;
    return true;
  }

  // A non-negative decimal integer as Python writes it: no sign, no leading zeros.
  Status parse_dimension(HeaderFields* fields) {
    if (!is_digit(peek())) return Status::bad_format;
    if (peek() == '0' && at_ + 1 < end_ && is_digit(at_[1])) return Status::bad_format;
    std::uint64_t value = 0;
    bool overflow = false;
    while (is_digit(peek())) {
      const unsigned digit = static_cast<unsigned>(*at_ - '0');
      if (value > (static_cast<std::uint64_t>(INT64_MAX) - digit) / 10) overflow = true;
      if (!overflow) value = value * 10 + digit;
      ++at_;
    }
    if (is_identifier_char(peek())) return Status::bad_format;  // 12L, 0x10, 1_000
    if (overflow) fields->dimension_overflow = true;
    if (fields->rank < NpyArray::kMaxRank)
      fields->shape[fields->rank++] = static_cast<std::int64_t>(value);
    else
      fields->too_many_dimensions = true;
    return Status::ok;
  }

  // A tuple: (), (n,), (a, b) or (a, b,).
  Status parse_shape(HeaderFields* fields) {
    if (!consume('(')) return Status::bad_format;
    skip_space();
    int count = 0;
    bool trailing_comma = false;
    while (!consume(')')) {
      LSUV_TRY(parse_dimension(fields));
      ++count;
      skip_space();
      trailing_comma = consume(',');
      if (trailing_comma) {
        skip_space();
      } else if (peek() != ')') {
        return Status::bad_format;
      }
    }
    // (n) is an integer in Python, not a tuple.
    if (count == 1 && !trailing_comma) return Status::bad_format;
    return Status::ok;
  }

  Status parse_entry(HeaderFields* fields) {
    const char* key = nullptr;
    std::size_t key_length = 0;
    LSUV_TRY(parse_string(&key, &key_length));
    skip_space();
    if (!consume(':')) return Status::bad_format;
    skip_space();
    const auto is_key = [&](const char* name) {
      return key_length == std::strlen(name) && std::memcmp(key, name, key_length) == 0;
    };
    if (is_key("descr")) {
      if (fields->has_descr) return Status::bad_format;
      fields->has_descr = true;
      // A list is a structured dtype: a valid file, but not one lsuv reads.
      if (peek() == '[') return Status::unsupported;
      const char* descr = nullptr;
      std::size_t descr_length = 0;
      LSUV_TRY(parse_string(&descr, &descr_length));
      fields->descr_known = descr_to_dtype(descr, descr_length, &fields->dtype);
      fields->descr.assign(descr, descr_length < 16 ? descr_length : 16);
      return Status::ok;
    }
    if (is_key("fortran_order")) {
      if (fields->has_fortran_order) return Status::bad_format;
      fields->has_fortran_order = true;
      if (consume_word("True")) {
        fields->fortran_order = true;
      } else if (!consume_word("False")) {
        return Status::bad_format;
      }
      return Status::ok;
    }
    if (is_key("shape")) {
      if (fields->has_shape) return Status::bad_format;
      fields->has_shape = true;
      return parse_shape(fields);
    }
    return Status::bad_format;
  }

  const char* at_;
  const char* end_;
};

bool known_dtype(NpyDtype dtype) {
  return dtype == NpyDtype::float32 || dtype == NpyDtype::int8 || dtype == NpyDtype::uint8 ||
         dtype == NpyDtype::int32;
}

// *bytes = the data size of an array of non-negative dimensions; false when it overflows.
bool byte_count(NpyDtype dtype, const std::int64_t* shape, int rank, std::size_t* bytes) {
  // An empty dimension empties the array, however large the others are.
  for (int i = 0; i < rank; ++i) {
    if (shape[i] == 0) {
      *bytes = 0;
      return true;
    }
  }
  std::size_t elements = 1;
  for (int i = 0; i < rank; ++i) {
    const auto dimension = static_cast<std::uint64_t>(shape[i]);
    if (dimension > SIZE_MAX ||
        !detail::checked_multiply(elements, static_cast<std::size_t>(dimension), &elements))
      return false;
  }
  return detail::checked_multiply(elements, npy_dtype_size(dtype), bytes);
}

std::uint32_t read_le(const unsigned char* bytes, int count) {
  std::uint32_t value = 0;
  for (int i = count - 1; i >= 0; --i) value = (value << 8) | bytes[i];
  return value;
}

// Why a parsed header is unsupported, in words.
std::string unsupported_reason(const HeaderFields& fields) {
  if (!fields.descr_known) {
    const bool big_endian = !fields.descr.empty() && fields.descr[0] == '>';
    return "dtype '" + fields.descr + "' is not supported" +
           (big_endian ? " (big-endian; lsuv reads little-endian '<f4', '<i4', '|i1', '|u1')"
                       : " ('<f4', '<i4', '|i1' or '|u1' expected)");
  }
  if (fields.fortran_order) return "Fortran order is not supported (C order expected)";
  return "more than " + std::to_string(NpyArray::kMaxRank) + " dimensions";
}

// Validates everything but the data's contents: magic, version, header, and the data length.
// *reason (when not null) says why a header is unsupported.
Status parse_header(const unsigned char* data, std::size_t size, NpyHeader* header,
                    std::string* reason = nullptr) {
  const std::size_t magic_seen = size < kMagicSize ? size : kMagicSize;
  if (std::memcmp(data, kMagic, magic_seen) != 0) return Status::bad_format;
  if (size < kMagicSize + 2) return Status::truncated;
  const unsigned major = data[kMagicSize];
  const unsigned minor = data[kMagicSize + 1];
  if (major < 1 || major > 3 || minor != 0) return Status::unsupported;
  const int length_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicSize + 2 + static_cast<std::size_t>(length_bytes);
  if (size < prefix) return Status::truncated;
  const std::size_t header_length = read_le(data + kMagicSize + 2, length_bytes);
  if (header_length > size - prefix) return Status::truncated;

  HeaderFields fields;
  const char* text = reinterpret_cast<const char*>(data + prefix);
  HeaderParser parser(text, text + header_length);
  LSUV_TRY(parser.parse(&fields));
  if (!fields.descr_known || fields.fortran_order || fields.too_many_dimensions) {
    if (reason != nullptr) *reason = unsupported_reason(fields);
    return Status::unsupported;
  }
  if (fields.dimension_overflow) return Status::size_overflow;

  std::size_t data_bytes = 0;
  if (!byte_count(fields.dtype, fields.shape, fields.rank, &data_bytes))
    return Status::size_overflow;
  const std::size_t data_offset = prefix + header_length;
  const std::size_t available = size - data_offset;
  if (available < data_bytes) return Status::truncated;
  if (available > data_bytes) return Status::bad_format;

  header->dtype = fields.dtype;
  header->rank = fields.rank;
  for (int i = 0; i < fields.rank; ++i) header->shape[i] = fields.shape[i];
  header->data_offset = data_offset;
  header->data_bytes = data_bytes;
  return Status::ok;
}

void fill_metadata(const NpyHeader& header, NpyArray* array) {
  array->dtype = header.dtype;
  array->shape.assign(header.shape, header.shape + header.rank);
}

// The header numpy.save (NumPy 1.24) writes for a C-order array, byte for byte.
std::string format_header(NpyDtype dtype, const std::int64_t* shape, int rank) {
  std::string shape_text = "(";
  for (int i = 0; i < rank; ++i) {
    if (i > 0) shape_text += ", ";
    shape_text += std::to_string(shape[i]);
  }
  shape_text += rank == 1 ? ",)" : ")";
  std::string dict = std::string("{'descr': '") + npy_dtype_descr(dtype) +
                     "', 'fortran_order': False, 'shape': " + shape_text + ", }";
  if (rank > 0) {
    const std::size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  // Version 1.0 prefix: magic, two version bytes, a two-byte length; then the text and '\n'.
  const std::size_t unpadded = kMagicSize + 2 + 2 + dict.size() + 1;
  dict.append(kHeaderAlignment - unpadded % kHeaderAlignment, ' ');
  dict += '\n';
  return dict;
}

}  // namespace

std::size_t npy_dtype_size(NpyDtype dtype) {
  return dtype == NpyDtype::float32 || dtype == NpyDtype::int32 ? 4 : 1;
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

Status parse_npy(const unsigned char* data, std::size_t size, NpyArray* out) {
  if (out == nullptr || (data == nullptr && size > 0)) return Status::invalid_argument;
  if (size == 0) return Status::truncated;
  NpyHeader header;
  LSUV_TRY(parse_header(data, size, &header));
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
  NpyHeader header;
  std::string reason;
  const Status status = parse_header(file.data(), file.size(), &header, &reason);
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
  if (path == nullptr || rank < 0 || rank > NpyArray::kMaxRank || (shape == nullptr && rank > 0))
    return Status::invalid_argument;
  if (!known_dtype(dtype)) return Status::invalid_argument;
  for (int i = 0; i < rank; ++i)
    if (shape[i] < 0) return Status::invalid_argument;
  std::size_t data_bytes = 0;
  if (!byte_count(dtype, shape, rank, &data_bytes)) return Status::size_overflow;
  if (data == nullptr && data_bytes > 0) return Status::invalid_argument;

  const std::string header = format_header(dtype, shape, rank);
  unsigned char prefix[kMagicSize + 4];
  std::memcpy(prefix, kMagic, kMagicSize);
  prefix[kMagicSize] = 1;
  prefix[kMagicSize + 1] = 0;
  prefix[kMagicSize + 2] = static_cast<unsigned char>(header.size() & 0xff);
  prefix[kMagicSize + 3] = static_cast<unsigned char>(header.size() >> 8);
  return detail::write_file_atomically(
      path,
      [&](detail::FileSink& sink) {
        LSUV_TRY(sink.write(prefix, sizeof prefix));
        LSUV_TRY(sink.write(header.data(), header.size()));
        return sink.write(data, data_bytes);
      },
      error);
}

}  // namespace lsuv
