// BatchSource: where calibration (and training) images come from.
//
// LSUV pulls batches by index, possibly more than once (when its input cache does not fit in
// the arena it recomputes a layer's input from the source), so a source must return the same
// images for the same index. Reading must not allocate: the IDX reader and ArrayBatchSource
// below both hand out views of data already in memory.
#pragma once

#include <cstdint>

#include "lsuv/status.hpp"
#include "lsuv/tensor.hpp"

namespace lsuv {

class BatchSource {
 public:
  virtual ImageShape image_shape() const = 0;
  // Batches in one pass over the source.
  virtual std::int32_t batch_count() const = 0;
  // Largest number of images read() returns for one batch.
  virtual std::int32_t max_batch_size() const = 0;
  // Writes batch `index` (0 <= index < batch_count()) as NHWC floats into `images`, which holds
  // max_batch_size() images, and returns how many it wrote in *count (at least 1).
  virtual Status read(std::int32_t index, float* images, std::int32_t* count) = 0;

 protected:
  ~BatchSource() = default;
};

// Batches over NHWC images already in memory (a static array on a board). A batch size below 1
// makes an unusable source: no batches, max_batch_size() 0, read() and lsuv_initialize return
// invalid_argument. Null images or a count below 1 give no batches (lsuv_initialize:
// invalid_argument).
class ArrayBatchSource final : public BatchSource {
 public:
  ArrayBatchSource(const float* images, std::int32_t image_count, ImageShape shape,
                   std::int32_t batch_size);

  ImageShape image_shape() const override { return shape_; }
  std::int32_t batch_count() const override;
  std::int32_t max_batch_size() const override { return batch_size_; }
  Status read(std::int32_t index, float* images, std::int32_t* count) override;

 private:
  const float* images_;
  std::int32_t image_count_;
  ImageShape shape_;
  std::int32_t batch_size_;
};

}  // namespace lsuv
