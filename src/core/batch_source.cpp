#include "lsuv/batch_source.hpp"

#include <cstring>

namespace lsuv {

ArrayBatchSource::ArrayBatchSource(const float* images, std::int32_t image_count, ImageShape shape,
                                   std::int32_t batch_size)
    : images_(images),
      image_count_(images != nullptr && image_count > 0 ? image_count : 0),
      shape_(shape),
      batch_size_(batch_size > 0 ? batch_size : 0) {}

std::int32_t ArrayBatchSource::batch_count() const {
  if (batch_size_ == 0) return 0;
  return (image_count_ + batch_size_ - 1) / batch_size_;
}

Status ArrayBatchSource::read(std::int32_t index, float* images, std::int32_t* count) {
  if (images == nullptr || count == nullptr || batch_size_ == 0) return Status::invalid_argument;
  if (index < 0 || index >= batch_count()) return Status::end_of_data;
  const std::int32_t first = index * batch_size_;
  const std::int32_t n = image_count_ - first < batch_size_ ? image_count_ - first : batch_size_;
  const std::size_t per_image = shape_.elements();
  std::memcpy(images, images_ + static_cast<std::size_t>(first) * per_image,
              static_cast<std::size_t>(n) * per_image * sizeof(float));
  *count = n;
  return Status::ok;
}

}  // namespace lsuv
