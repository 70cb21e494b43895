#include "io/npy_header.hpp"

#include <cstring>

#include "core/checked_math.hpp"

namespace lsuv::detail {
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
  else if (text[1] == 'i' && text[2] == '8')
    *dtype = NpyDtype::int64;
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
           (big_endian ? " (big-endian; lsuv reads little-endian '<f4', '<i4', '<i8', '|i1', '|u1')"
                       : " ('<f4', '<i4', '<i8', '|i1' or '|u1' expected)");
  }
  if (fields.fortran_order) return "Fortran order is not supported (C order expected)";
  return "more than " + std::to_string(NpyArray::kMaxRank) + " dimensions";
}

}  // namespace

std::size_t npy_header_size(const unsigned char* data, std::size_t size) {
  if (size < kMagicSize + 2 || std::memcmp(data, kMagic, kMagicSize) != 0) return 0;
  const unsigned major = data[kMagicSize];
  if (major < 1 || major > 3) return 0;
  const int length_bytes = major == 1 ? 2 : 4;
  const std::size_t prefix = kMagicSize + 2 + static_cast<std::size_t>(length_bytes);
  if (size < prefix) return 0;
  return prefix + read_le(data + kMagicSize + 2, length_bytes);
}

Status parse_npy_header(const unsigned char* data, std::size_t size, std::uint64_t file_size,
                        NpyHeader* header, std::string* reason) {
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
  if (!npy_byte_count(fields.dtype, fields.shape, fields.rank, &data_bytes))
    return Status::size_overflow;
  const std::size_t data_offset = prefix + header_length;
  const std::uint64_t available = file_size - data_offset;
  if (available != data_bytes) {
    if (reason != nullptr)
      *reason = std::string(available < data_bytes ? "truncated" : "data longer than the shape") +
                ": shape " + npy_shape_text(fields.shape, fields.rank) + " of '" + fields.descr +
                "' needs " + std::to_string(data_bytes) + " bytes of data, the file has " +
                std::to_string(available);
    return available < data_bytes ? Status::truncated : Status::bad_format;
  }

  header->dtype = fields.dtype;
  header->rank = fields.rank;
  for (int i = 0; i < fields.rank; ++i) header->shape[i] = fields.shape[i];
  header->data_offset = data_offset;
  header->data_bytes = data_bytes;
  return Status::ok;
}

Status npy_check_array(NpyDtype dtype, const std::int64_t* shape, int rank, std::size_t* bytes) {
  if (rank < 0 || rank > NpyArray::kMaxRank || (shape == nullptr && rank > 0))
    return Status::invalid_argument;
  if (dtype != NpyDtype::float32 && dtype != NpyDtype::int8 && dtype != NpyDtype::uint8 &&
      dtype != NpyDtype::int32 && dtype != NpyDtype::int64)
    return Status::invalid_argument;
  for (int i = 0; i < rank; ++i)
    if (shape[i] < 0) return Status::invalid_argument;
  return npy_byte_count(dtype, shape, rank, bytes) ? Status::ok : Status::size_overflow;
}

bool npy_byte_count(NpyDtype dtype, const std::int64_t* shape, int rank, std::size_t* bytes) {
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
        !checked_multiply(elements, static_cast<std::size_t>(dimension), &elements))
      return false;
  }
  return checked_multiply(elements, npy_dtype_size(dtype), bytes);
}

std::string npy_shape_text(const std::int64_t* shape, int rank) {
  std::string text = "(";
  for (int i = 0; i < rank; ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + (rank == 1 ? ",)" : ")");
}

std::string format_npy_header(NpyDtype dtype, const std::int64_t* shape, int rank) {
  std::string dict = std::string("{'descr': '") + npy_dtype_descr(dtype) +
                     "', 'fortran_order': False, 'shape': " + npy_shape_text(shape, rank) + ", }";
  if (rank > 0) {
    const std::size_t digits = std::to_string(shape[0]).size();
    if (digits < kGrowthAxisMaxDigits) dict.append(kGrowthAxisMaxDigits - digits, ' ');
  }
  // Version 1.0 prefix: magic, two version bytes, a two-byte length; then the text and '\n'.
  const std::size_t unpadded = kMagicSize + 2 + 2 + dict.size() + 1;
  dict.append(kHeaderAlignment - unpadded % kHeaderAlignment, ' ');
  dict += '\n';
  std::string header(reinterpret_cast<const char*>(kMagic), kMagicSize);
  header += '\x01';
  header += '\0';
  header += static_cast<char>(dict.size() & 0xff);
  header += static_cast<char>(dict.size() >> 8);
  return header + dict;
}

}  // namespace lsuv::detail
