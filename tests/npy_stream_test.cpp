// The streaming .npy reader and writer: the same arrays, bytes and refusals as read_npy and
// write_npy, a block of rows at a time, and no file left behind when a write does not finish.
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "io/atomic_file.hpp"
#include "lsuv/io/npy.hpp"
#include "lsuv/io/npy_stream.hpp"

namespace {

using lsuv::NpyArray;
using lsuv::NpyDtype;
using lsuv::NpyReader;
using lsuv::NpyWriter;
using lsuv::Status;
using Bytes = std::vector<unsigned char>;

std::string scratch_path(const std::string& name) {
  static const std::string directory = [] {
    const std::string path = "npy_stream_test_files";
    mkdir(path.c_str(), 0777);
    return path;
  }();
  return directory + "/" + name;
}

Bytes read_file(const std::string& path) {
  Bytes bytes;
  REQUIRE(lsuv::detail::read_whole_file(path.c_str(), 1 << 24, &bytes) == Status::ok);
  return bytes;
}

void write_file(const std::string& path, const Bytes& bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  REQUIRE(std::fclose(file) == 0);
}

bool exists(const std::string& path) {
  struct stat info;
  return stat(path.c_str(), &info) == 0;
}

// Names in the scratch directory that start with `path`'s name: the file and its temporaries.
std::vector<std::string> files_named_like(const std::string& path) {
  const std::string name = path.substr(path.find_last_of('/') + 1);
  std::vector<std::string> names;
  DIR* listing = opendir(path.substr(0, path.find_last_of('/')).c_str());
  REQUIRE(listing != nullptr);
  while (const dirent* entry = readdir(listing))
    if (std::strncmp(entry->d_name, name.c_str(), name.size()) == 0) names.push_back(entry->d_name);
  closedir(listing);
  return names;
}

// An int32 array 0, 1, 2, ... of `shape`, written by write_npy (the whole-array path).
std::string whole_array(const std::string& name, std::vector<std::int64_t> shape) {
  std::size_t elements = 1;
  for (const std::int64_t d : shape) elements *= static_cast<std::size_t>(d);
  std::vector<std::int32_t> values(elements);
  for (std::size_t i = 0; i < elements; ++i) values[i] = static_cast<std::int32_t>(i * 7 + 1);
  const std::string path = scratch_path(name);
  REQUIRE(lsuv::write_npy(path.c_str(), NpyDtype::int32, shape.data(),
                          static_cast<int>(shape.size()), values.data()) == Status::ok);
  return path;
}

}  // namespace

TEST_CASE("npy stream: rows read in any chunking are the bytes read_npy returns") {
  const std::vector<std::vector<std::int64_t>> shapes = {{},           {1},    {7},   {10, 3},
                                                         {9, 2, 3, 4}, {0, 5}, {4, 0}};
  for (const auto& shape : shapes) {
    CAPTURE(shape.size());
    const std::string path = whole_array("chunks.npy", shape);
    NpyArray whole;
    REQUIRE(lsuv::read_npy(path.c_str(), &whole) == Status::ok);
    NpyReader reader;
    REQUIRE(reader.open(path.c_str()) == Status::ok);
    CHECK(reader.dtype() == NpyDtype::int32);
    CHECK(reader.shape() == whole.shape);
    CHECK(reader.rows() == (shape.empty() ? 1 : shape[0]));
    CHECK(reader.rows() * reader.row_bytes() == whole.bytes.size());
    for (const std::int64_t chunk : {1, 3, 4, 64}) {
      Bytes streamed(whole.bytes.size());
      for (std::int64_t first = 0; first < reader.rows(); first += chunk) {
        const std::int64_t count = reader.rows() - first < chunk ? reader.rows() - first : chunk;
        REQUIRE(reader.read_rows(first, count, streamed.data() + first * reader.row_bytes()) ==
                Status::ok);
      }
      CHECK(streamed == whole.bytes);
    }
    unsigned char byte = 0;
    CHECK(reader.read_rows(reader.rows(), 1, &byte) == Status::invalid_argument);
    CHECK(reader.read_rows(-1, 1, &byte) == Status::invalid_argument);
    std::remove(path.c_str());
  }
}

TEST_CASE("npy stream: the writer writes the bytes write_npy writes, in any chunking") {
  const std::int64_t shape[] = {10, 2, 3};
  const std::string expected_path = whole_array("expected.npy", {10, 2, 3});
  const Bytes expected = read_file(expected_path);
  std::vector<std::int32_t> values(60);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::int32_t>(i * 7 + 1);
  for (const std::int64_t chunk : {1, 3, 10}) {
    const std::string path = scratch_path("streamed.npy");
    NpyWriter writer;
    REQUIRE(writer.open(path.c_str(), NpyDtype::int32, shape, 3) == Status::ok);
    CHECK(writer.row_bytes() == 24);
    for (std::int64_t first = 0; first < 10; first += chunk) {
      const std::int64_t count = 10 - first < chunk ? 10 - first : chunk;
      REQUIRE(writer.append_rows(values.data() + first * 6, count) == Status::ok);
      CHECK_FALSE(exists(path));  // nothing at the target before finish()
    }
    REQUIRE(writer.finish() == Status::ok);
    CHECK(read_file(path) == expected);
    CHECK(files_named_like(path).size() == 1);
    std::remove(path.c_str());
  }
  std::remove(expected_path.c_str());
}

TEST_CASE("npy stream: the reader refuses what read_npy refuses, with the same status") {
  const std::string good = whole_array("refused.npy", {6, 5});
  const Bytes bytes = read_file(good);
  const std::string path = scratch_path("cut_stream.npy");
  // Cut at every byte: truncated (or bad_format, for a cut inside the magic), as read_npy says.
  for (std::size_t size = 0; size < bytes.size(); ++size) {
    CAPTURE(size);
    write_file(path, Bytes(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(size)));
    NpyArray array;
    const Status whole = lsuv::read_npy(path.c_str(), &array);
    NpyReader reader;
    lsuv::FileError error;
    CHECK(reader.open(path.c_str(), &error) == whole);
    CHECK(whole == Status::truncated);
    CHECK_FALSE(reader.is_open());
    if (size > 0) CHECK(std::string(error.message).find("truncated") != std::string::npos);
  }
  // The data cut short says what the shape needs and what the file has.
  write_file(path, Bytes(bytes.begin(), bytes.end() - 8));
  NpyReader reader;
  lsuv::FileError error;
  REQUIRE(reader.open(path.c_str(), &error) == Status::truncated);
  CHECK(std::string(error.message) ==
        "truncated: shape (6, 5) of '<i4' needs 120 bytes of data, the file has 112");
  // One byte too many is bad_format, as for read_npy.
  Bytes longer = bytes;
  longer.push_back(0);
  write_file(path, longer);
  CHECK(reader.open(path.c_str()) == Status::bad_format);
  // Another byte order or dtype is unsupported, with the reason.
  Bytes big_endian = bytes;
  const std::string descr = "'<i4'";
  const auto at = std::search(big_endian.begin(), big_endian.end(), descr.begin(), descr.end());
  REQUIRE(at != big_endian.end());
  *(at + 1) = '>';
  write_file(path, big_endian);
  REQUIRE(reader.open(path.c_str(), &error) == Status::unsupported);
  CHECK(std::string(error.message).find("big-endian") != std::string::npos);
  // A directory or a missing file, as read_npy.
  CHECK(reader.open(scratch_path("").c_str()) == Status::io_error);
  CHECK(reader.open(scratch_path("missing.npy").c_str()) == Status::file_not_found);
  std::remove(path.c_str());
  std::remove(good.c_str());
}

TEST_CASE("npy stream: a header longer than kMaxNpyHeaderBytes is refused before it is read") {
  // Version 2.0: a four-byte header length, here 1 GiB, in a file of 12 bytes.
  const Bytes prefix = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0, 0, 0, 0x40};
  const std::string path = scratch_path("long_header.npy");
  write_file(path, prefix);
  NpyReader reader;
  CHECK(reader.open(path.c_str()) == Status::size_overflow);
  std::remove(path.c_str());
}

TEST_CASE("npy stream: a file that shrinks after open is truncated at the read") {
  const std::string path = whole_array("shrinks.npy", {8, 4});
  NpyReader reader;
  REQUIRE(reader.open(path.c_str()) == Status::ok);
  REQUIRE(truncate(path.c_str(), 128 + 4 * 16 + 3) == 0);  // header, four rows and a bit
  std::vector<std::int32_t> rows(32);
  CHECK(reader.read_rows(0, 4, rows.data()) == Status::ok);
  lsuv::FileError error;
  CHECK(reader.read_rows(2, 6, rows.data(), &error) == Status::truncated);
  CHECK(std::string(error.message).find("truncated: the file ends at byte 195") == 0);
  std::remove(path.c_str());
}

TEST_CASE("npy stream: an unfinished write leaves the previous file and no temporary") {
  const std::string path = whole_array("previous.npy", {3, 2});
  const Bytes before = read_file(path);
  const std::int64_t shape[] = {4, 2};
  const std::int32_t rows[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  {  // Destroyed before finish().
    NpyWriter writer;
    REQUIRE(writer.open(path.c_str(), NpyDtype::int32, shape, 2) == Status::ok);
    REQUIRE(writer.append_rows(rows, 2) == Status::ok);
  }
  CHECK(read_file(path) == before);
  CHECK(files_named_like(path).size() == 1);
  {  // finish() with rows missing.
    NpyWriter writer;
    REQUIRE(writer.open(path.c_str(), NpyDtype::int32, shape, 2) == Status::ok);
    REQUIRE(writer.append_rows(rows, 3) == Status::ok);
    lsuv::FileError error;
    CHECK(writer.finish(&error) == Status::invalid_argument);
    CHECK(std::string(error.message) == "only 3 of 4 rows were written");
    CHECK(writer.append_rows(rows, 1) == Status::invalid_argument);  // dropped for good
  }
  CHECK(read_file(path) == before);
  CHECK(files_named_like(path).size() == 1);
  {  // More rows than the shape has.
    NpyWriter writer;
    REQUIRE(writer.open(path.c_str(), NpyDtype::int32, shape, 2) == Status::ok);
    CHECK(writer.append_rows(rows, 5) == Status::invalid_argument);
    CHECK(writer.finish() == Status::invalid_argument);
  }
  CHECK(read_file(path) == before);
  CHECK(files_named_like(path).size() == 1);
  // Bad arguments create nothing.
  const std::int64_t negative[] = {-1, 2};
  const std::string fresh = scratch_path("never.npy");
  NpyWriter writer;
  CHECK(writer.open(fresh.c_str(), NpyDtype::int32, negative, 2) == Status::invalid_argument);
  CHECK(writer.open(fresh.c_str(), static_cast<NpyDtype>(9), shape, 2) == Status::invalid_argument);
  CHECK(files_named_like(fresh).empty());
  std::remove(path.c_str());
}
