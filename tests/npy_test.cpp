#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "io/atomic_file.hpp"
#include "lsuv/io/npy.hpp"

namespace {

using lsuv::NpyArray;
using lsuv::NpyDtype;
using lsuv::Status;
using Bytes = std::vector<unsigned char>;

// Test files live in one directory below the test's working directory.
std::string scratch_path(const char* name) {
  static const std::string directory = [] {
    const std::string path = "npy_test_files";
    mkdir(path.c_str(), 0777);
    return path;
  }();
  return directory + "/" + name;
}

Bytes as_bytes(const std::string& text) {
  return Bytes(text.begin(), text.end());
}

// A version 1.0 file around `header` (the dict text), padded the way numpy pads: spaces and a
// newline up to a multiple of `alignment` bytes.
Bytes npy_file(const std::string& header, const Bytes& data, std::size_t alignment = 64,
               int major = 1) {
  const std::size_t prefix = major == 1 ? 10 : 12;
  std::string text = header;
  while ((prefix + text.size() + 1) % alignment != 0) text += ' ';
  text += '\n';
  std::string file = std::string("\x93NUMPY") + static_cast<char>(major) + '\0';
  const int length_bytes = major == 1 ? 2 : 4;
  for (int i = 0; i < length_bytes; ++i) file += static_cast<char>((text.size() >> (8 * i)) & 0xff);
  file += text;
  Bytes bytes = as_bytes(file);
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

Bytes float_bytes(std::initializer_list<float> values) {
  Bytes bytes(values.size() * sizeof(float));
  std::memcpy(bytes.data(), values.begin(), bytes.size());
  return bytes;
}

Bytes read_file(const std::string& path) {
  Bytes bytes;
  REQUIRE(lsuv::detail::read_whole_file(path.c_str(), 1 << 20, &bytes) == Status::ok);
  return bytes;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  REQUIRE(std::fclose(file) == 0);
}

// Names in the scratch directory that start with `prefix` (to find leftover temporary files).
std::vector<std::string> files_starting_with(const std::string& prefix) {
  const std::size_t slash = prefix.find_last_of('/');
  const std::string directory = prefix.substr(0, slash);
  const std::string start = prefix.substr(slash + 1);
  std::vector<std::string> names;
  DIR* listing = opendir(directory.c_str());
  REQUIRE(listing != nullptr);
  while (const dirent* entry = readdir(listing))
    if (std::strncmp(entry->d_name, start.c_str(), start.size()) == 0)
      names.push_back(entry->d_name);
  closedir(listing);
  return names;
}

// The temporary files write_file_atomically creates for `path` in this process.
std::string temporary_prefix(const std::string& path) {
  return path + ".tmp." + std::to_string(getpid()) + ".";
}

Status parse(const Bytes& bytes, NpyArray* out) {
  return lsuv::parse_npy(bytes.data(), bytes.size(), out);
}

Status parse_header_only(const std::string& header) {
  NpyArray array;
  return parse(npy_file(header, float_bytes({1, 2})), &array);
}

const Bytes kTwoByThree = npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                                   float_bytes({0, 1, 2, 3, 4, 5}));

}  // namespace

TEST_CASE("npy: round trip of every dtype and rank 0..4, empty dimensions included") {
  const std::vector<std::vector<std::int64_t>> shapes = {
      {}, {5}, {0}, {2, 3}, {3, 0}, {2, 3, 4}, {1, 2, 3, 4}, {2, 0, 3, 1}, {1, 1, 1, 17}};
  const NpyDtype dtypes[] = {NpyDtype::float32, NpyDtype::int8, NpyDtype::uint8, NpyDtype::int32,
                             NpyDtype::int64};
  std::mt19937 random(42);
  const std::string path = scratch_path("round_trip.npy");
  for (const NpyDtype dtype : dtypes) {
    for (const auto& shape : shapes) {
      std::size_t elements = 1;
      for (const std::int64_t dimension : shape) elements *= static_cast<std::size_t>(dimension);
      Bytes data(elements * lsuv::npy_dtype_size(dtype));
      for (unsigned char& byte : data) byte = static_cast<unsigned char>(random());
      if (dtype == NpyDtype::float32)  // keep the float bit patterns ordinary numbers
        for (std::size_t i = 3; i < data.size(); i += 4) data[i] &= 0x3f;
      CAPTURE(lsuv::npy_dtype_descr(dtype));
      CAPTURE(shape.size());
      REQUIRE(lsuv::write_npy(path.c_str(), dtype, shape.data(), static_cast<int>(shape.size()),
                              data.data()) == Status::ok);
      NpyArray array;
      REQUIRE(lsuv::read_npy(path.c_str(), &array) == Status::ok);
      CHECK(array.dtype == dtype);
      CHECK(array.shape == shape);
      CHECK(array.elements() == elements);
      CHECK(array.bytes == data);
      // The data starts 64-byte aligned, as numpy writes it.
      CHECK((read_file(path).size() - data.size()) % 64 == 0);
      NpyArray parsed;
      REQUIRE(parse(read_file(path), &parsed) == Status::ok);
      CHECK(parsed.bytes == data);
    }
  }
  std::remove(path.c_str());
}

TEST_CASE("npy: typed views are null for the other dtypes") {
  NpyArray array;
  REQUIRE(parse(kTwoByThree, &array) == Status::ok);
  REQUIRE(array.as_float32() != nullptr);
  CHECK(array.as_float32()[5] == 5.0f);
  CHECK(array.as_int8() == nullptr);
  CHECK(array.as_uint8() == nullptr);
  CHECK(array.as_int32() == nullptr);
  CHECK(array.as_int64() == nullptr);
}

TEST_CASE("npy: write_npy produces the bytes numpy 1.24 writes") {
  // Headers copied from files numpy.save wrote: the dict, spaces up to 118 bytes (numpy leaves
  // room for the first dimension to grow to 21 digits, then aligns to 64), a newline.
  struct Case {
    NpyDtype dtype;
    std::vector<std::int64_t> shape;
    std::string dict;
    std::size_t spaces;
  };
  const Case cases[] = {
      {NpyDtype::float32,
       {2, 3},
       "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
       58},
      {NpyDtype::int8, {}, "{'descr': '|i1', 'fortran_order': False, 'shape': (), }", 62},
      {NpyDtype::uint8, {0, 5}, "{'descr': '|u1', 'fortran_order': False, 'shape': (0, 5), }", 58},
      {NpyDtype::int32, {4}, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", 60},
      {NpyDtype::int64, {}, "{'descr': '<i8', 'fortran_order': False, 'shape': (), }", 62},
  };
  const std::string path = scratch_path("numpy_bytes.npy");
  for (const Case& c : cases) {
    CAPTURE(c.dict);
    const std::int32_t data[6] = {0, 1, 2, 3, 4, 5};
    REQUIRE(lsuv::write_npy(path.c_str(), c.dtype, c.shape.data(), static_cast<int>(c.shape.size()),
                            data) == Status::ok);
    const Bytes file = read_file(path);
    const std::string expected =
        std::string("\x93NUMPY\x01\x00\x76\x00", 10) + c.dict + std::string(c.spaces, ' ') + "\n";
    REQUIRE(file.size() >= expected.size());
    CHECK(std::string(file.begin(), file.begin() + 128) == expected);
  }
  // A first dimension of 21 digits or more gets no growth padding; the header still aligns.
  const std::int64_t huge_but_empty[] = {1000000000000000000, 0};
  REQUIRE(lsuv::write_npy(path.c_str(), NpyDtype::uint8, huge_but_empty, 2, nullptr) == Status::ok);
  NpyArray array;
  REQUIRE(lsuv::read_npy(path.c_str(), &array) == Status::ok);
  CHECK(array.shape == std::vector<std::int64_t>{1000000000000000000, 0});
  CHECK(read_file(path).size() % 64 == 0);
  std::remove(path.c_str());
}

TEST_CASE("npy: reads every dtype from files as numpy writes them") {
  NpyArray array;
  REQUIRE(parse(kTwoByThree, &array) == Status::ok);
  CHECK(array.shape == std::vector<std::int64_t>{2, 3});
  CHECK(array.as_float32()[4] == 4.0f);

  const Bytes int8_file =
      npy_file("{'descr': '|i1', 'fortran_order': False, 'shape': (3,), }", {0x80, 0x7f, 0xff});
  REQUIRE(parse(int8_file, &array) == Status::ok);
  CHECK(array.dtype == NpyDtype::int8);
  CHECK(array.as_int8()[0] == -128);
  CHECK(array.as_int8()[1] == 127);
  CHECK(array.as_int8()[2] == -1);

  const Bytes uint8_file =
      npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (), }", {0xfe});
  REQUIRE(parse(uint8_file, &array) == Status::ok);
  CHECK(array.shape.empty());
  CHECK(array.elements() == 1);
  CHECK(array.as_uint8()[0] == 254);

  const Bytes int32_file = npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }",
                                    {0xfe, 0xff, 0xff, 0xff, 0x01, 0x02, 0x00, 0x00});
  REQUIRE(parse(int32_file, &array) == Status::ok);
  CHECK(array.as_int32()[0] == -2);
  CHECK(array.as_int32()[1] == 0x201);

  // PyTorch's BatchNorm num_batches_tracked: an int64 scalar.
  const Bytes int64_file = npy_file("{'descr': '<i8', 'fortran_order': False, 'shape': (), }",
                                    {0x39, 0x30, 0, 0, 0, 0, 0, 0x80});
  REQUIRE(parse(int64_file, &array) == Status::ok);
  CHECK(array.dtype == NpyDtype::int64);
  CHECK(array.as_int64()[0] == static_cast<std::int64_t>(0x8000000000003039ull));
}

TEST_CASE("npy: accepts every header layout Python's literal syntax allows for the dict") {
  const Bytes data = float_bytes({1.5f, -2.5f});
  const char* headers[] = {
      "{'shape': (2,), 'fortran_order': False, 'descr': '<f4'}",
      "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2,)}",
      "  {  'descr'  :'<f4' ,'fortran_order':False,'shape':(  2 , ) , }  ",
      "{'descr': '<f4',\n 'fortran_order': False,\n 'shape': (1, 2)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1, 1,), }",
  };
  for (const char* header : headers) {
    CAPTURE(header);
    for (const std::size_t alignment : {std::size_t{1}, std::size_t{16}, std::size_t{64}}) {
      NpyArray array;
      REQUIRE(parse(npy_file(header, data, alignment), &array) == Status::ok);
      CHECK(array.elements() == 2);
      CHECK(array.as_float32()[1] == -2.5f);
    }
  }
  // Versions 2.0 and 3.0 differ only in a four-byte header length.
  for (const int major : {2, 3}) {
    NpyArray array;
    REQUIRE(parse(npy_file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", data, 64,
                           major),
                  &array) == Status::ok);
    CHECK(array.as_float32()[0] == 1.5f);
  }
  // One-byte types carry no byte order; numpy writes '|' but accepts '<' and '>'.
  for (const char* header : {"{'descr': '<u1', 'fortran_order': False, 'shape': (2,)}",
                             "{'descr': '>i1', 'fortran_order': False, 'shape': (2,)}"}) {
    NpyArray array;
    CHECK(parse(npy_file(header, {1, 2}), &array) == Status::ok);
  }
}

TEST_CASE("npy: a file cut at any byte is truncated and leaves the output untouched") {
  NpyArray sentinel;
  sentinel.dtype = NpyDtype::int32;
  sentinel.shape = {7};
  for (std::size_t size = 0; size < kTwoByThree.size(); ++size) {
    CAPTURE(size);
    NpyArray array = sentinel;
    CHECK(lsuv::parse_npy(kTwoByThree.data(), size, &array) == Status::truncated);
    CHECK(array.dtype == NpyDtype::int32);
    CHECK(array.shape == sentinel.shape);
  }
  // The same through the file reader.
  const std::string path = scratch_path("cut.npy");
  for (const std::size_t size :
       {std::size_t{0}, std::size_t{5}, std::size_t{9}, std::size_t{64}, kTwoByThree.size() - 1}) {
    write_file(path, Bytes(kTwoByThree.begin(), kTwoByThree.begin() + size));
    NpyArray array;
    CHECK(lsuv::read_npy(path.c_str(), &array) == Status::truncated);
  }
  std::remove(path.c_str());
}

TEST_CASE("npy: random bit flips give a valid array or a clear status, never a crash") {
  const Bytes originals[] = {
      kTwoByThree,
      npy_file("{'descr': '|u1', 'fortran_order': False, 'shape': (3, 0, 2), }", {}),
      npy_file("{'descr': '<i4', 'fortran_order': False, 'shape': (), }", {1, 2, 3, 4}, 64, 3),
  };
  std::mt19937 random(7);
  int accepted = 0;
  int rejected = 0;
  for (const Bytes& original : originals) {
    for (int trial = 0; trial < 4000; ++trial) {
      Bytes bytes = original;
      const int flips = 1 + static_cast<int>(random() % 3);
      for (int i = 0; i < flips; ++i) {
        const std::size_t bit = random() % (bytes.size() * 8);
        bytes[bit / 8] ^= static_cast<unsigned char>(1u << (bit % 8));
      }
      NpyArray array;
      const Status status = parse(bytes, &array);
      if (status == Status::ok) {
        ++accepted;
        CHECK(array.bytes.size() == array.elements() * lsuv::npy_dtype_size(array.dtype));
      } else {
        ++rejected;
        const bool clear = status == Status::bad_format || status == Status::truncated ||
                           status == Status::unsupported || status == Status::size_overflow;
        CHECK_MESSAGE(clear, lsuv::status_name(status));
      }
    }
  }
  // Flips in the data or the padding keep a file valid; flips in the syntax do not.
  CHECK(accepted > 0);
  CHECK(rejected > 0);
}

TEST_CASE("npy: valid files of other dtypes, byte orders or layouts are unsupported") {
  const char* headers[] = {
      "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
      "{'descr': '=f4', 'fortran_order': False, 'shape': (2,), }",
      "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }",
      "{'descr': '<i2', 'fortran_order': False, 'shape': (4,), }",
      "{'descr': '|b1', 'fortran_order': False, 'shape': (8,), }",
      "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1,), }",
  };
  for (const char* header : headers) {
    CAPTURE(header);
    CHECK(parse_header_only(header) == Status::unsupported);
  }
  // 33 dimensions: one more than numpy allows.
  std::string deep = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
  for (int i = 0; i < 32; ++i) deep += "1, ";
  CHECK(parse_header_only(deep + "2), }") == Status::unsupported);
  // Other format versions.
  for (const unsigned char version : {0, 4, 0x31}) {
    Bytes bytes = kTwoByThree;
    bytes[6] = version;
    NpyArray array;
    CHECK(parse(bytes, &array) == Status::unsupported);
  }
  Bytes minor = kTwoByThree;
  minor[7] = 1;
  NpyArray array;
  CHECK(parse(minor, &array) == Status::unsupported);
}

TEST_CASE("npy: malformed headers are bad_format") {
  const char* headers[] = {
      "",
      "{}",
      "{'descr': '<f4', 'fortran_order': False}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'extra': 1}",
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (02,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2L,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}",
      "{'descr': '<f4', 'fortran_order': false, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x",
      "{'descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4\\x00', 'fortran_order': False, 'shape': (2,)}",
      "{descr: '<f4', 'fortran_order': False, 'shape': (2,)}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ,}",
  };
  for (const char* header : headers) {
    CAPTURE(header);
    CHECK(parse_header_only(header) == Status::bad_format);
  }
  // A NUL byte and a non-ASCII byte inside the dict.
  for (const char bad : {'\0', '\xe9'}) {
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}";
    header[3] = bad;
    CHECK(parse_header_only(header) == Status::bad_format);
  }
  // Magic.
  Bytes bytes = kTwoByThree;
  bytes[1] = 'n';
  NpyArray array;
  CHECK(parse(bytes, &array) == Status::bad_format);
  CHECK(lsuv::parse_npy(reinterpret_cast<const unsigned char*>("PK\x03\x04"), 4, &array) ==
        Status::bad_format);
}

TEST_CASE("npy: the data must be exactly as long as the shape says") {
  NpyArray array;
  const std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }";
  CHECK(parse(npy_file(header, float_bytes({1, 2})), &array) == Status::ok);
  CHECK(parse(npy_file(header, float_bytes({1, 2, 3})), &array) == Status::bad_format);
  Bytes one_extra_byte = float_bytes({1, 2});
  one_extra_byte.push_back(0);
  CHECK(parse(npy_file(header, one_extra_byte), &array) == Status::bad_format);
  CHECK(parse(npy_file(header, float_bytes({1})), &array) == Status::truncated);
}

TEST_CASE("npy: shapes whose size does not fit are size_overflow, not an allocation") {
  const char* overflowing[] = {
      // Element count overflows 64 bits.
      "{'descr': '|u1', 'fortran_order': False, 'shape': (4294967296, 4294967296), }",
      // Element count fits in 64 bits, byte count does not.
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2), }",
      // A dimension beyond int64.
      "{'descr': '|u1', 'fortran_order': False, 'shape': (99999999999999999999,), }",
      "{'descr': '|u1', 'fortran_order': False, 'shape': (9223372036854775808,), }",
  };
  for (const char* header : overflowing) {
    CAPTURE(header);
    CHECK(parse_header_only(header) == Status::size_overflow);
  }
  // Huge but honest about an empty dimension: a valid, empty array.
  NpyArray array;
  REQUIRE(parse(npy_file("{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (9223372036854775807, 4294967296, 0), }",
                         {}),
                &array) == Status::ok);
  CHECK(array.elements() == 0);
  CHECK(array.bytes.empty());
  // A plausible shape with far too little data behind it is truncated.
  CHECK(parse_header_only("{'descr': '<f4', 'fortran_order': False, 'shape': (10000, 10000)}") ==
        Status::truncated);
}

TEST_CASE("npy: write_npy rejects bad arguments without creating a file") {
  const std::string path = scratch_path("bad_arguments.npy");
  std::remove(path.c_str());
  const float data[4] = {};
  const std::int64_t negative[] = {2, -1};
  const std::int64_t overflowing[] = {INT64_MAX, INT64_MAX};
  const std::int64_t four[] = {4};
  const std::int64_t ones[33] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK(lsuv::write_npy(path.c_str(), NpyDtype::float32, negative, 2, data) ==
        Status::invalid_argument);
  CHECK(lsuv::write_npy(path.c_str(), NpyDtype::float32, ones, 33, data) ==
        Status::invalid_argument);
  CHECK(lsuv::write_npy(path.c_str(), NpyDtype::float32, four, -1, data) ==
        Status::invalid_argument);
  CHECK(lsuv::write_npy(path.c_str(), NpyDtype::float32, nullptr, 1, data) ==
        Status::invalid_argument);
  CHECK(lsuv::write_npy(path.c_str(), NpyDtype::float32, four, 1, nullptr) ==
        Status::invalid_argument);
  CHECK(lsuv::write_npy(nullptr, NpyDtype::float32, four, 1, data) == Status::invalid_argument);
  CHECK(lsuv::write_npy(path.c_str(), NpyDtype::float32, overflowing, 2, data) ==
        Status::size_overflow);
  CHECK(files_starting_with(path).empty());
  // Rank 32 is numpy's limit and still fine.
  CHECK(lsuv::write_npy(path.c_str(), NpyDtype::float32, ones, 32, data) == Status::ok);
  NpyArray array;
  CHECK(lsuv::read_npy(path.c_str(), &array) == Status::ok);
  CHECK(array.shape.size() == 32);
  std::remove(path.c_str());
}

TEST_CASE("npy: read_npy reports missing files, directories and oversized files") {
  NpyArray array;
  CHECK(lsuv::read_npy(scratch_path("does_not_exist.npy").c_str(), &array) ==
        Status::file_not_found);
  CHECK(lsuv::read_npy(scratch_path("no_directory/x.npy").c_str(), &array) ==
        Status::file_not_found);
  const std::string directory = scratch_path("a_directory.npy");
  mkdir(directory.c_str(), 0777);
  CHECK(lsuv::read_npy(directory.c_str(), &array) == Status::io_error);
  rmdir(directory.c_str());
  CHECK(lsuv::read_npy(nullptr, &array) == Status::invalid_argument);
}

TEST_CASE("npy: an interrupted write leaves the previous file intact and loadable") {
  const std::string path = scratch_path("interrupted.npy");
  const float old_values[] = {1, 2, 3, 4, 5, 6};
  const std::int64_t shape[] = {2, 3};
  REQUIRE(lsuv::write_npy(path.c_str(), NpyDtype::float32, shape, 2, old_values) == Status::ok);
  const Bytes before = read_file(path);

  // A new version of the file dies after half of its bytes, as a full disk or a crash would.
  const float new_values[] = {9, 9, 9, 9, 9, 9, 9, 9};
  const std::int64_t new_shape[] = {8};
  const std::string other = scratch_path("interrupted_other.npy");
  REQUIRE(lsuv::write_npy(other.c_str(), NpyDtype::float32, new_shape, 1, new_values) ==
          Status::ok);
  const Bytes replacement = read_file(other);
  std::remove(other.c_str());
  const Status status =
      lsuv::detail::write_file_atomically(path.c_str(), [&](lsuv::detail::FileSink& sink) {
        LSUV_TRY(sink.write(replacement.data(), replacement.size() / 2));
        return Status::io_error;
      });
  CHECK(status == Status::io_error);

  CHECK(read_file(path) == before);
  NpyArray array;
  REQUIRE(lsuv::read_npy(path.c_str(), &array) == Status::ok);
  CHECK(array.shape == std::vector<std::int64_t>{2, 3});
  CHECK(std::memcmp(array.as_float32(), old_values, sizeof old_values) == 0);
  // No temporary file is left behind.
  CHECK(files_starting_with(temporary_prefix(path)).empty());
  std::remove(path.c_str());
}

TEST_CASE("npy: a disk that fills up during write_npy keeps the previous file") {
  const std::string path = scratch_path("full_disk.npy");
  const float old_values[] = {1, 2, 3};
  const std::int64_t old_shape[] = {3};
  REQUIRE(lsuv::write_npy(path.c_str(), NpyDtype::float32, old_shape, 1, old_values) == Status::ok);
  const Bytes before = read_file(path);

  // RLIMIT_FSIZE makes the kernel refuse writes past 4 KiB (EFBIG), like a full disk.
  std::vector<float> big(1 << 16, 0.5f);
  const std::int64_t big_shape[] = {static_cast<std::int64_t>(big.size())};
  rlimit saved;
  REQUIRE(getrlimit(RLIMIT_FSIZE, &saved) == 0);
  rlimit small = saved;
  small.rlim_cur = 4096;
  const auto previous_handler = signal(SIGXFSZ, SIG_IGN);
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  const Status status = lsuv::write_npy(path.c_str(), NpyDtype::float32, big_shape, 1, big.data());
  REQUIRE(setrlimit(RLIMIT_FSIZE, &saved) == 0);
  signal(SIGXFSZ, previous_handler);

  CHECK(status == Status::io_error);
  CHECK(read_file(path) == before);
  CHECK(files_starting_with(temporary_prefix(path)).empty());
  std::remove(path.c_str());
}

TEST_CASE("atomic_file: a failed rename removes the temporary file") {
  // A non-empty directory cannot be replaced by a file.
  const std::string target = scratch_path("occupied");
  mkdir(target.c_str(), 0777);
  const std::string inside = target + "/keep";
  write_file(inside, {1, 2, 3});
  const Status status =
      lsuv::detail::write_file_atomically(target.c_str(), [](lsuv::detail::FileSink& sink) {
        const unsigned char byte = 7;
        return sink.write(&byte, 1);
      });
  CHECK(status == Status::io_error);
  CHECK(read_file(inside) == Bytes{1, 2, 3});
  CHECK(files_starting_with(temporary_prefix(target)).empty());
  std::remove(inside.c_str());
  rmdir(target.c_str());
}

TEST_CASE("atomic_file: writing into a missing directory is file_not_found") {
  const Status status = lsuv::detail::write_file_atomically(
      scratch_path("missing/file.bin").c_str(), [](lsuv::detail::FileSink&) { return Status::ok; });
  CHECK(status == Status::file_not_found);
}

TEST_CASE("atomic_file: a successful write replaces the file completely") {
  const std::string path = scratch_path("replace.bin");
  write_file(path, Bytes(100, 0xaa));
  REQUIRE(lsuv::detail::write_file_atomically(path.c_str(), [](lsuv::detail::FileSink& sink) {
            LSUV_TRY(sink.write("ab", 2));
            return sink.write("c", 1);
          }) == Status::ok);
  CHECK(read_file(path) == as_bytes("abc"));
  CHECK(files_starting_with(temporary_prefix(path)).empty());
  std::remove(path.c_str());
}

TEST_CASE("atomic_file: read_whole_file honours its size cap exactly") {
  const std::string path = scratch_path("capped.bin");
  write_file(path, Bytes(100, 3));
  Bytes bytes = {42};
  CHECK(lsuv::detail::read_whole_file(path.c_str(), 99, &bytes) == Status::size_overflow);
  CHECK(bytes == Bytes{42});  // untouched on failure
  REQUIRE(lsuv::detail::read_whole_file(path.c_str(), 100, &bytes) == Status::ok);
  CHECK(bytes == Bytes(100, 3));
  write_file(path, {});
  REQUIRE(lsuv::detail::read_whole_file(path.c_str(), 0, &bytes) == Status::ok);
  CHECK(bytes.empty());
  std::remove(path.c_str());
  // Devices are not read at all: an endless one would only ever meet the cap.
  if (access("/dev/zero", R_OK) == 0) {
    lsuv::FileError error;
    CHECK(lsuv::detail::read_whole_file("/dev/zero", 1 << 20, &bytes, &error) == Status::io_error);
    CHECK(std::string(error.message) == "not a regular file (a character device)");
  }
}
