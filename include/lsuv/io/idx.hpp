// IDX data sets (MNIST, Fashion-MNIST): images and labels read into memory, and a BatchSource
// that streams them as normalised float images.
//
//   lsuv::IdxImages images;
//   LSUV_TRY(images.load("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"));
//   lsuv::IdxBatchSource source;
//   lsuv::IdxBatchOptions options;
//   options.batch_size = 64;
//   options.mean = lsuv::fashion_mnist::kMean;
//   options.std = lsuv::fashion_mnist::kStd;
//   LSUV_TRY(source.configure(images, options));
//
// The IDX format: two zero bytes, a type code (0x08 = unsigned byte, the only one lsuv reads),
// the rank, then one big-endian uint32 per dimension, then the data in row-major order. Files
// are read through zlib, so both the usual `.gz` files and uncompressed ones load.
//
// Loading validates the header before allocating, caps a file at kMaxIdxBytes of data, and
// never trusts the header for more memory than the file actually delivers. Errors:
// file_not_found, io_error, bad_format (magic, invalid type code, zero dimension, corrupt gzip
// stream, bytes after the data), unsupported (a valid IDX type other than unsigned byte),
// shape_mismatch (a rank other than 3 for images or 1 for labels), size_overflow (dimensions
// whose product exceeds kMaxIdxBytes), truncated (the data ends early). A failed load leaves
// the object as it was.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "lsuv/batch_source.hpp"
#include "lsuv/status.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv {

// Largest data section lsuv loads (2 GiB): far above any IDX data set, far below what a
// corrupt header could claim.
constexpr std::size_t kMaxIdxBytes = std::size_t{1} << 31;

// The Fashion-MNIST files as Debian's dataset-fashion-mnist package installs them.
namespace fashion_mnist {
inline constexpr char kPackage[] = "dataset-fashion-mnist";
inline constexpr char kDefaultDirectory[] = "/usr/share/datasets/fashion-mnist";
inline constexpr char kTrainImages[] = "train-images-idx3-ubyte.gz";
inline constexpr char kTrainLabels[] = "train-labels-idx1-ubyte.gz";
inline constexpr char kTestImages[] = "t10k-images-idx3-ubyte.gz";
inline constexpr char kTestLabels[] = "t10k-labels-idx1-ubyte.gz";
inline constexpr std::int32_t kClasses = 10;
// Pixel statistics of the training set after pixel / 255, over all 60000 x 28 x 28 pixels
// (measured on the Debian package: mean 0.2860, population std 0.3530).
inline constexpr float kMean = 0.2860f;
inline constexpr float kStd = 0.3530f;
}  // namespace fashion_mnist

// A rank-3 unsigned-byte IDX file: count images of height x width pixels, row-major.
class IdxImages {
 public:
  Status load(const char* path);

  std::int32_t count() const { return count_; }
  std::int32_t height() const { return height_; }
  std::int32_t width() const { return width_; }
  // One channel: the shape BatchSource reports for these images.
  ImageShape shape() const { return {height_, width_, 1}; }
  // count x height x width pixels; null when nothing is loaded.
  const std::uint8_t* pixels() const { return pixels_.empty() ? nullptr : pixels_.data(); }
  // The height x width pixels of image `index` (0 <= index < count()).
  const std::uint8_t* image(std::int32_t index) const {
    return pixels_.data() + static_cast<std::size_t>(index) * shape().elements();
  }

 private:
  std::vector<std::uint8_t> pixels_;
  std::int32_t count_ = 0;
  std::int32_t height_ = 0;
  std::int32_t width_ = 0;
};

// A rank-1 unsigned-byte IDX file: one class label per image.
class IdxLabels {
 public:
  Status load(const char* path);

  std::int32_t count() const { return static_cast<std::int32_t>(labels_.size()); }
  // count() labels; null when nothing is loaded.
  const std::uint8_t* labels() const { return labels_.empty() ? nullptr : labels_.data(); }
  std::uint8_t operator[](std::int32_t index) const {
    return labels_[static_cast<std::size_t>(index)];
  }

 private:
  std::vector<std::uint8_t> labels_;
};

struct IdxBatchOptions {
  std::int32_t first_image = 0;
  // Images from first_image on; 0 takes all of them up to the end of the file.
  std::int32_t image_count = 0;
  std::int32_t batch_size = 64;
  // Each pixel p becomes (p / 255 - mean) / std.
  float mean = 0.0f;
  float std = 1.0f;
};

// Streams a range of IdxImages as NHWC float batches (one channel), in file order; the last
// batch holds the remainder. read() converts through a 256-entry table and allocates nothing.
// The IdxImages must outlive the source and stay unchanged while it is used.
class IdxBatchSource final : public BatchSource {
 public:
  // Errors: invalid_argument (batch_size < 1, a range outside the images or empty, std not
  // positive and finite, mean not finite). On failure the source is left as it was; an
  // unconfigured source has no batches.
  Status configure(const IdxImages& images, const IdxBatchOptions& options);

  ImageShape image_shape() const override { return shape_; }
  std::int32_t batch_count() const override;
  // The batch size, or the image count when that is smaller.
  std::int32_t max_batch_size() const override;
  // end_of_data for an index outside 0..batch_count()-1; invalid_argument for null pointers.
  Status read(std::int32_t index, float* images, std::int32_t* count) override;

  // Index into the IdxImages (and so into its IdxLabels) of the first image of batch `index`.
  std::int32_t batch_start(std::int32_t index) const { return first_image_ + index * batch_size_; }

 private:
  const IdxImages* images_ = nullptr;
  ImageShape shape_;
  std::int32_t first_image_ = 0;
  std::int32_t image_count_ = 0;
  std::int32_t batch_size_ = 1;
  float table_[256] = {};  // normalised value of each pixel value
};

}  // namespace lsuv
