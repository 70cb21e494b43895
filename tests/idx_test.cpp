#include <doctest/doctest.h>
#include <unistd.h>
#if LSUV_HAVE_ZLIB
#include <zlib.h>
#endif

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "lsuv/io/idx.hpp"

namespace {

using Bytes = std::vector<std::uint8_t>;

// A directory of its own under the working directory (build/tests), removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    static int counter = 0;
    path_ = std::filesystem::current_path() /
            ("idx_test." + std::to_string(::getpid()) + "." + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

Bytes idx_file(std::uint8_t type, const std::vector<std::uint32_t>& dims, const Bytes& data) {
  Bytes bytes = {0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (std::uint32_t dim : dims) {
    for (int shift = 24; shift >= 0; shift -= 8)
      bytes.push_back(static_cast<std::uint8_t>(dim >> shift));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

Bytes counting_pixels(std::size_t n) {
  Bytes pixels(n);
  for (std::size_t i = 0; i < n; ++i) pixels[i] = static_cast<std::uint8_t>(i * 37 + 11);
  return pixels;
}

void write_plain(const std::string& path, const Bytes& bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  REQUIRE(file != nullptr);
  if (!bytes.empty()) REQUIRE(std::fwrite(bytes.data(), 1, bytes.size(), file) == bytes.size());
  REQUIRE(std::fclose(file) == 0);
}

#if LSUV_HAVE_ZLIB
constexpr bool kHaveZlib = true;
void write_gz(const std::string& path, const Bytes& bytes) {
  gzFile file = gzopen(path.c_str(), "wb9");
  REQUIRE(file != nullptr);
  REQUIRE(gzwrite(file, bytes.data(), static_cast<unsigned>(bytes.size())) ==
          static_cast<int>(bytes.size()));
  REQUIRE(gzclose(file) == Z_OK);
}
#else
// Built without zlib: gzip files are refused (see the test below), so none are written.
constexpr bool kHaveZlib = false;
#endif

#if LSUV_HAVE_ZLIB
Bytes read_plain(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  REQUIRE(file != nullptr);
  Bytes bytes;
  int c = 0;
  while ((c = std::fgetc(file)) != EOF) bytes.push_back(static_cast<std::uint8_t>(c));
  std::fclose(file);
  return bytes;
}

// The gzip encoding of `bytes`, as zlib's gzwrite produces it.
Bytes gzipped(const ScratchDir& dir, const Bytes& bytes) {
  const std::string path = dir.file("gzipped.gz");
  write_gz(path, bytes);
  return read_plain(path);
}
#endif

lsuv::Status load_images_from(const std::string& path, lsuv::IdxImages* images) {
  return images->load(path.c_str());
}

}  // namespace

TEST_CASE("idx: images and labels load from plain and gzip files") {
  ScratchDir dir;
  const Bytes pixels = counting_pixels(3 * 2 * 4);
  const Bytes image_file = idx_file(0x08, {3, 2, 4}, pixels);
  const Bytes labels = {7, 0, 9};
  const Bytes label_file = idx_file(0x08, {3}, labels);
  write_plain(dir.file("images"), image_file);
  write_plain(dir.file("labels"), label_file);
#if LSUV_HAVE_ZLIB
  write_gz(dir.file("images.gz"), image_file);
  write_gz(dir.file("labels.gz"), label_file);
  const std::vector<const char*> image_names = {"images", "images.gz"};
  const std::vector<const char*> label_names = {"labels", "labels.gz"};
#else
  const std::vector<const char*> image_names = {"images"};
  const std::vector<const char*> label_names = {"labels"};
#endif

  for (const char* name : image_names) {
    CAPTURE(std::string(name));
    lsuv::IdxImages images;
    REQUIRE(images.load(dir.file(name).c_str()) == lsuv::Status::ok);
    CHECK(images.count() == 3);
    CHECK(images.height() == 2);
    CHECK(images.width() == 4);
    CHECK(images.shape() == lsuv::ImageShape{2, 4, 1});
    CHECK(Bytes(images.pixels(), images.pixels() + pixels.size()) == pixels);
    CHECK(images.image(2)[0] == pixels[16]);
    CHECK(images.image(2)[7] == pixels[23]);
  }
  for (const char* name : label_names) {
    CAPTURE(std::string(name));
    lsuv::IdxLabels loaded;
    REQUIRE(loaded.load(dir.file(name).c_str()) == lsuv::Status::ok);
    REQUIRE(loaded.count() == 3);
    CHECK(loaded[0] == 7);
    CHECK(loaded[1] == 0);
    CHECK(loaded[2] == 9);
    CHECK(loaded.labels()[2] == 9);
  }
}

TEST_CASE("idx: nothing loaded means empty") {
  lsuv::IdxImages images;
  CHECK(images.count() == 0);
  CHECK(images.pixels() == nullptr);
  lsuv::IdxLabels labels;
  CHECK(labels.count() == 0);
  CHECK(labels.labels() == nullptr);
}

TEST_CASE("idx: a plain file cut at every byte is truncated") {
  ScratchDir dir;
  const Bytes file = idx_file(0x08, {2, 3, 3}, counting_pixels(18));
  const std::string path = dir.file("cut");
  for (std::size_t length = 0; length < file.size(); ++length) {
    CAPTURE(length);
    write_plain(path, Bytes(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(length)));
    lsuv::IdxImages images;
    CHECK(load_images_from(path, &images) == lsuv::Status::truncated);
    CHECK(images.count() == 0);
  }
  const Bytes label_file = idx_file(0x08, {5}, {1, 2, 3, 4, 5});
  for (std::size_t length = 0; length < label_file.size(); ++length) {
    CAPTURE(length);
    write_plain(
        path, Bytes(label_file.begin(), label_file.begin() + static_cast<std::ptrdiff_t>(length)));
    lsuv::IdxLabels labels;
    CHECK(labels.load(path.c_str()) == lsuv::Status::truncated);
  }
}

#if LSUV_HAVE_ZLIB
TEST_CASE("idx: a gzip file cut at every byte is truncated or bad_format") {
  ScratchDir dir;
  const Bytes gz = gzipped(dir, idx_file(0x08, {4, 5, 6}, counting_pixels(120)));
  const std::string path = dir.file("cut.gz");
  int truncated = 0;
  for (std::size_t length = 0; length < gz.size(); ++length) {
    CAPTURE(length);
    write_plain(path, Bytes(gz.begin(), gz.begin() + static_cast<std::ptrdiff_t>(length)));
    lsuv::IdxImages images;
    const lsuv::Status status = load_images_from(path, &images);
    // A cut inside the 10-byte gzip header can leave bytes zlib reads as a plain file; those
    // fail the IDX magic check instead.
    CHECK((status == lsuv::Status::truncated || status == lsuv::Status::bad_format));
    if (status == lsuv::Status::truncated) ++truncated;
  }
  // Every cut after the gzip header, the checksum trailer included, is seen as truncated.
  CHECK(truncated >= static_cast<int>(gz.size()) - 10);
}
#else
TEST_CASE("idx: built without zlib, a gzip file is refused as unsupported") {
  ScratchDir dir;
  // The gzip magic bytes, then anything.
  write_plain(dir.file("images.gz"), {0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02});
  lsuv::IdxImages images;
  CHECK(images.load(dir.file("images.gz").c_str()) == lsuv::Status::unsupported);
  CHECK(images.count() == 0);
}
#endif

TEST_CASE("idx: bytes after the data are bad_format") {
  ScratchDir dir;
  Bytes file = idx_file(0x08, {1, 2, 2}, {1, 2, 3, 4});
  file.push_back(0);
  write_plain(dir.file("long"), file);
  lsuv::IdxImages images;
  CHECK(images.load(dir.file("long").c_str()) == lsuv::Status::bad_format);
#if LSUV_HAVE_ZLIB
  write_gz(dir.file("long.gz"), file);
  CHECK(images.load(dir.file("long.gz").c_str()) == lsuv::Status::bad_format);
#endif
  lsuv::IdxLabels labels;
  write_plain(dir.file("labels"), idx_file(0x08, {2}, {1, 2, 3}));
  CHECK(labels.load(dir.file("labels").c_str()) == lsuv::Status::bad_format);
}

TEST_CASE("idx: corrupt headers get their own status") {
  ScratchDir dir;
  const std::string path = dir.file("header");
  const Bytes pixels = counting_pixels(8);
  struct Case {
    const char* what;
    Bytes file;
    lsuv::Status images;  // loaded as images
  };
  const Bytes valid = idx_file(0x08, {2, 2, 2}, pixels);
  Bytes bad_magic0 = valid;
  bad_magic0[0] = 1;
  Bytes bad_magic1 = valid;
  bad_magic1[1] = 0x80;
  const Case cases[] = {
      {"magic byte 0", bad_magic0, lsuv::Status::bad_format},
      {"magic byte 1", bad_magic1, lsuv::Status::bad_format},
      {"type 0x07 is not an IDX type", idx_file(0x07, {2, 2, 2}, pixels), lsuv::Status::bad_format},
      {"type float is valid IDX, not ubyte", idx_file(0x0D, {2, 2, 2}, pixels),
       lsuv::Status::unsupported},
      {"type sbyte", idx_file(0x09, {2, 2, 2}, pixels), lsuv::Status::unsupported},
      {"rank 0", idx_file(0x08, {}, pixels), lsuv::Status::bad_format},
      {"rank 1 (a label file)", idx_file(0x08, {8}, pixels), lsuv::Status::shape_mismatch},
      {"rank 4", idx_file(0x08, {1, 2, 2, 2}, pixels), lsuv::Status::shape_mismatch},
      {"rank 255", idx_file(0x08, std::vector<std::uint32_t>(255, 1), {}),
       lsuv::Status::shape_mismatch},
      {"zero count", idx_file(0x08, {0, 2, 2}, {}), lsuv::Status::bad_format},
      {"zero height", idx_file(0x08, {2, 0, 2}, {}), lsuv::Status::bad_format},
      {"zero width", idx_file(0x08, {2, 2, 0}, {}), lsuv::Status::bad_format},
      {"product over 2^32", idx_file(0x08, {65536, 65536, 2}, pixels), lsuv::Status::size_overflow},
      {"product wraps size_t", idx_file(0x08, {0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu}, pixels),
       lsuv::Status::size_overflow},
      {"2^31 + 1 bytes", idx_file(0x08, {0x80000001u, 1, 1}, pixels), lsuv::Status::size_overflow},
      {"height over int32", idx_file(0x08, {1, 0x80000000u, 1}, pixels),
       lsuv::Status::size_overflow},
      // A header that promises far more than a tiny file can hold: read, found short, and
      // never allocated in full.
      {"2 GiB promised by 24 bytes", idx_file(0x08, {0x7FFFFFFF, 1, 1}, pixels),
       lsuv::Status::truncated},
  };
  for (const Case& c : cases) {
    CAPTURE(std::string(c.what));
    for (bool gz : {false, kHaveZlib}) {
      CAPTURE(gz);
#if LSUV_HAVE_ZLIB
      if (gz)
        write_gz(path, c.file);
      else
#endif
        write_plain(path, c.file);
      lsuv::IdxImages images;
      CHECK(load_images_from(path, &images) == c.images);
    }
  }

  // The same checks for label files, whose rank is 1.
  lsuv::IdxLabels labels;
  write_plain(path, idx_file(0x08, {2, 2, 2}, pixels));
  CHECK(labels.load(path.c_str()) == lsuv::Status::shape_mismatch);
  write_plain(path, idx_file(0x08, {0}, {}));
  CHECK(labels.load(path.c_str()) == lsuv::Status::bad_format);
  write_plain(path, idx_file(0x0C, {2}, pixels));
  CHECK(labels.load(path.c_str()) == lsuv::Status::unsupported);
  write_plain(path, idx_file(0x08, {0x80000000u}, pixels));
  CHECK(labels.load(path.c_str()) == lsuv::Status::size_overflow);
}

#if LSUV_HAVE_ZLIB
TEST_CASE("idx: random bit flips in a gzip file give ok with the right data or a clear status") {
  ScratchDir dir;
  const Bytes pixels = counting_pixels(6 * 12 * 12);
  const Bytes gz = gzipped(dir, idx_file(0x08, {6, 12, 12}, pixels));
  const std::string path = dir.file("flipped.gz");
  std::mt19937 random(20240601);
  int failures = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    Bytes corrupt = gz;
    const int flips = 1 + trial % 3;
    for (int f = 0; f < flips; ++f) {
      const std::size_t bit = random() % (corrupt.size() * 8);
      corrupt[bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
    }
    write_plain(path, corrupt);
    lsuv::IdxImages images;
    const lsuv::Status status = load_images_from(path, &images);
    CAPTURE(trial);
    CAPTURE(std::string(lsuv::status_name(status)));
    if (status == lsuv::Status::ok) {
      // Only the header's free fields (time stamp, OS) were hit: the checksum vouches for the data.
      REQUIRE(images.count() == 6);
      CHECK(Bytes(images.pixels(), images.pixels() + pixels.size()) == pixels);
    } else {
      ++failures;
      CHECK((status == lsuv::Status::bad_format || status == lsuv::Status::truncated ||
             status == lsuv::Status::unsupported || status == lsuv::Status::shape_mismatch ||
             status == lsuv::Status::size_overflow));
    }
  }
  CHECK(failures > 1000);
}
#endif

TEST_CASE("idx: random bytes never load") {
  ScratchDir dir;
  const std::string path = dir.file("noise");
  std::mt19937 random(7);
  for (int trial = 0; trial < 300; ++trial) {
    Bytes noise(random() % 64);
    for (std::uint8_t& b : noise) b = static_cast<std::uint8_t>(random());
    // Half of them with a valid-looking start, so the dimension checks see noise too.
    if (trial % 2 == 0 && noise.size() >= 4) {
      noise[0] = noise[1] = 0;
      noise[2] = 0x08;
      noise[3] = static_cast<std::uint8_t>(1 + trial % 3);
    }
    write_plain(path, noise);
    lsuv::IdxImages images;
    lsuv::IdxLabels labels;
    CAPTURE(trial);
    CHECK(load_images_from(path, &images) != lsuv::Status::ok);
    CHECK(labels.load(path.c_str()) != lsuv::Status::ok);
  }
}

TEST_CASE("idx: missing files and directories") {
  ScratchDir dir;
  lsuv::IdxImages images;
  CHECK(images.load(dir.file("absent.gz").c_str()) == lsuv::Status::file_not_found);
  CHECK(images.load(dir.file("absent/deeper.gz").c_str()) == lsuv::Status::file_not_found);
  CHECK(images.load(dir.file("").c_str()) == lsuv::Status::io_error);  // the directory itself
  CHECK(images.load(nullptr) == lsuv::Status::invalid_argument);
  lsuv::IdxLabels labels;
  CHECK(labels.load(dir.file("absent").c_str()) == lsuv::Status::file_not_found);
}

TEST_CASE("idx: a failed load keeps what was loaded before") {
  ScratchDir dir;
  write_plain(dir.file("good"), idx_file(0x08, {2, 1, 3}, counting_pixels(6)));
  write_plain(dir.file("bad"), idx_file(0x08, {4, 1, 3}, counting_pixels(6)));
  lsuv::IdxImages images;
  REQUIRE(images.load(dir.file("good").c_str()) == lsuv::Status::ok);
  CHECK(images.load(dir.file("bad").c_str()) == lsuv::Status::truncated);
  CHECK(images.count() == 2);
  CHECK(images.width() == 3);
  CHECK(Bytes(images.pixels(), images.pixels() + 6) == counting_pixels(6));
}

namespace {

// Images of 2 x 3 pixels whose values run through 0..255 so every table entry is used.
lsuv::IdxImages seven_images(const ScratchDir& dir) {
  Bytes pixels(7 * 6);
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>(i * 6 + 3);
  pixels[0] = 0;
  pixels[1] = 255;
  write_plain(dir.file("seven"), idx_file(0x08, {7, 2, 3}, pixels));
  lsuv::IdxImages images;
  REQUIRE(images.load(dir.file("seven").c_str()) == lsuv::Status::ok);
  return images;
}

float normalised(std::uint8_t pixel, float mean, float std) {
  return (static_cast<float>(pixel) / 255.0f - mean) / std;
}

}  // namespace

TEST_CASE("idx batch source: batches in order, a partial last batch, normalised pixels") {
  ScratchDir dir;
  const lsuv::IdxImages images = seven_images(dir);
  lsuv::IdxBatchSource source;
  lsuv::IdxBatchOptions options;
  options.batch_size = 3;
  options.mean = 0.25f;
  options.std = 0.5f;
  REQUIRE(source.configure(images, options) == lsuv::Status::ok);
  CHECK(source.image_shape() == lsuv::ImageShape{2, 3, 1});
  CHECK(source.batch_count() == 3);
  CHECK(source.max_batch_size() == 3);

  constexpr float kPoison = -12345.0f;
  const std::int32_t expected_counts[] = {3, 3, 1};
  for (std::int32_t batch = 0; batch < 3; ++batch) {
    CAPTURE(batch);
    std::vector<float> buffer(3 * 6, kPoison);
    std::int32_t count = 0;
    REQUIRE(source.read(batch, buffer.data(), &count) == lsuv::Status::ok);
    CHECK(count == expected_counts[batch]);
    CHECK(source.batch_start(batch) == 3 * batch);
    for (std::int32_t i = 0; i < count * 6; ++i) {
      const std::uint8_t pixel = images.image(3 * batch)[i];
      CHECK(buffer[static_cast<std::size_t>(i)] == doctest::Approx(normalised(pixel, 0.25f, 0.5f)));
    }
    // Nothing written past the images of a short batch.
    for (std::size_t i = static_cast<std::size_t>(count) * 6; i < buffer.size(); ++i)
      CHECK(buffer[i] == kPoison);
  }
  std::vector<float> buffer(3 * 6);
  std::int32_t count = 0;
  REQUIRE(source.read(0, buffer.data(), &count) == lsuv::Status::ok);
  CHECK(buffer[0] == doctest::Approx(-0.5f));  // pixel 0: (0 - 0.25) / 0.5
  CHECK(buffer[1] == doctest::Approx(1.5f));   // pixel 255: (1 - 0.25) / 0.5

  count = -1;
  CHECK(source.read(3, buffer.data(), &count) == lsuv::Status::end_of_data);
  CHECK(source.read(-1, buffer.data(), &count) == lsuv::Status::end_of_data);
  CHECK(source.read(1 << 30, buffer.data(), &count) == lsuv::Status::end_of_data);
  CHECK(count == -1);
  CHECK(source.read(0, nullptr, &count) == lsuv::Status::invalid_argument);
  CHECK(source.read(0, buffer.data(), nullptr) == lsuv::Status::invalid_argument);
}

TEST_CASE("idx batch source: a range of the images") {
  ScratchDir dir;
  const lsuv::IdxImages images = seven_images(dir);
  lsuv::IdxBatchSource source;
  lsuv::IdxBatchOptions options;
  options.first_image = 2;
  options.image_count = 4;
  options.batch_size = 8;
  REQUIRE(source.configure(images, options) == lsuv::Status::ok);
  CHECK(source.batch_count() == 1);
  CHECK(source.max_batch_size() == 4);
  CHECK(source.batch_start(0) == 2);
  std::vector<float> buffer(4 * 6);
  std::int32_t count = 0;
  REQUIRE(source.read(0, buffer.data(), &count) == lsuv::Status::ok);
  CHECK(count == 4);
  // mean 0, std 1: plain pixel / 255.
  CHECK(buffer[0] == doctest::Approx(images.image(2)[0] / 255.0f));
  CHECK(buffer[23] == doctest::Approx(images.image(5)[5] / 255.0f));

  // image_count 0 means "to the end"; exactly divisible batches have no partial tail.
  options.first_image = 3;
  options.image_count = 0;
  options.batch_size = 2;
  REQUIRE(source.configure(images, options) == lsuv::Status::ok);
  CHECK(source.batch_count() == 2);
  CHECK(source.read(1, buffer.data(), &count) == lsuv::Status::ok);
  CHECK(count == 2);
  CHECK(buffer[11] == doctest::Approx(images.image(6)[5] / 255.0f));
  CHECK(source.read(2, buffer.data(), &count) == lsuv::Status::end_of_data);
}

TEST_CASE("idx batch source: invalid options leave the source as it was") {
  ScratchDir dir;
  const lsuv::IdxImages images = seven_images(dir);
  lsuv::IdxBatchSource source;
  std::vector<float> buffer(7 * 6);
  std::int32_t count = 0;
  CHECK(source.batch_count() == 0);
  CHECK(source.read(0, buffer.data(), &count) == lsuv::Status::end_of_data);

  lsuv::IdxBatchOptions good;
  good.batch_size = 7;
  REQUIRE(source.configure(images, good) == lsuv::Status::ok);

  auto with = [&](auto change) {
    lsuv::IdxBatchOptions options = good;
    change(options);
    return source.configure(images, options);
  };
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.batch_size = 0; }) == lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.first_image = -1; }) ==
        lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.first_image = 7; }) ==
        lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.image_count = -2; }) ==
        lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) {
          o.first_image = 5;
          o.image_count = 3;
        }) == lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.std = 0.0f; }) == lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.std = -1.0f; }) == lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.std = INFINITY; }) == lsuv::Status::invalid_argument);
  CHECK(with([](lsuv::IdxBatchOptions& o) { o.mean = NAN; }) == lsuv::Status::invalid_argument);
  lsuv::IdxImages empty;
  CHECK(source.configure(empty, good) == lsuv::Status::invalid_argument);

  CHECK(source.batch_count() == 1);
  REQUIRE(source.read(0, buffer.data(), &count) == lsuv::Status::ok);
  CHECK(count == 7);
}

TEST_CASE("idx: the Fashion-MNIST data set when it is installed") {
  const std::string dir = lsuv::fashion_mnist::kDefaultDirectory;
  const std::string train_images = dir + "/" + lsuv::fashion_mnist::kTrainImages;
  if (!std::filesystem::exists(train_images)) {
    const std::string note = "skipped: " + train_images + " is absent (install the package " +
                             lsuv::fashion_mnist::kPackage + ")";
    MESSAGE(note);
    return;
  }
  lsuv::IdxImages images;
  if (!kHaveZlib) {
    // Debian ships the set gzipped; a build without zlib says so rather than misreading it.
    CHECK(images.load(train_images.c_str()) == lsuv::Status::unsupported);
    return;
  }
  REQUIRE(images.load(train_images.c_str()) == lsuv::Status::ok);
  CHECK(images.count() == 60000);
  CHECK(images.height() == 28);
  CHECK(images.width() == 28);

  lsuv::IdxLabels labels;
  REQUIRE(labels.load((dir + "/" + lsuv::fashion_mnist::kTrainLabels).c_str()) == lsuv::Status::ok);
  REQUIRE(labels.count() == 60000);
  std::int32_t per_class[lsuv::fashion_mnist::kClasses] = {};
  bool in_range = true;
  for (std::int32_t i = 0; i < labels.count(); ++i) {
    if (labels[i] >= lsuv::fashion_mnist::kClasses) {
      in_range = false;
      break;
    }
    ++per_class[labels[i]];
  }
  REQUIRE(in_range);
  for (std::int32_t n : per_class) CHECK(n == 6000);

  // The normalisation constants are the training set's own statistics.
  double sum = 0.0;
  double sum_squares = 0.0;
  const std::size_t n = static_cast<std::size_t>(images.count()) * 28 * 28;
  for (std::size_t i = 0; i < n; ++i) {
    const double x = images.pixels()[i] / 255.0;
    sum += x;
    sum_squares += x * x;
  }
  const double mean = sum / static_cast<double>(n);
  const double deviation = std::sqrt(sum_squares / static_cast<double>(n) - mean * mean);
  CHECK(std::fabs(mean - lsuv::fashion_mnist::kMean) <= 5e-5);  // equal to 4 digits
  CHECK(std::fabs(deviation - lsuv::fashion_mnist::kStd) <= 5e-5);

  lsuv::IdxImages test_images;
  REQUIRE(test_images.load((dir + "/" + lsuv::fashion_mnist::kTestImages).c_str()) ==
          lsuv::Status::ok);
  CHECK(test_images.count() == 10000);
  lsuv::IdxLabels test_labels;
  REQUIRE(test_labels.load((dir + "/" + lsuv::fashion_mnist::kTestLabels).c_str()) ==
          lsuv::Status::ok);
  CHECK(test_labels.count() == 10000);
}
