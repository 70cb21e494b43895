// Fuzzes the IDX reader through its real file path: the bytes go into an in-memory file
// (memfd) that IdxImages::load and IdxLabels::load open by its /proc path, through zlib, as
// they open any .gz or plain file. Loaded images must batch and read without a fault.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "fuzz_support.hpp"
#include "lsuv/io/idx.hpp"

namespace {

// One in-memory file for the whole run, rewritten for each input.
int memory_file() {
  static const int fd = memfd_create("idx_fuzz", 0);
  FUZZ_CHECK(fd >= 0);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const int fd = memory_file();
  FUZZ_CHECK(ftruncate(fd, 0) == 0);
  std::size_t written = 0;
  while (written < size) {
    const ssize_t n = pwrite(fd, data + written, size - written, static_cast<off_t>(written));
    FUZZ_CHECK(n > 0);
    written += static_cast<std::size_t>(n);
  }
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", fd);

  lsuv::IdxLabels labels;
  const lsuv::Status label_status = labels.load(path);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(label_status));
  if (label_status == lsuv::Status::ok) {
    FUZZ_CHECK(labels.count() > 0);
    volatile std::uint8_t last = labels[labels.count() - 1];
    (void)last;
  } else {
    FUZZ_CHECK(labels.count() == 0);
  }

  lsuv::IdxImages images;
  const lsuv::Status status = images.load(path);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(status));
  if (status != lsuv::Status::ok) {
    FUZZ_CHECK(images.count() == 0 && images.pixels() == nullptr);
    return 0;
  }
  FUZZ_CHECK(images.count() > 0 && images.height() > 0 && images.width() > 0);
  lsuv::IdxBatchSource source;
  lsuv::IdxBatchOptions options;
  options.batch_size = 3;
  options.first_image = images.count() / 2;
  FUZZ_CHECK(source.configure(images, options) == lsuv::Status::ok);
  // Read the last batch (it ends at the last pixel), when it is small enough to hold.
  const std::size_t floats =
      static_cast<std::size_t>(source.max_batch_size()) * source.image_shape().elements();
  if (floats > (std::size_t{1} << 24)) return 0;
  std::vector<float> batch(floats);
  std::int32_t count = 0;
  FUZZ_CHECK(source.read(source.batch_count() - 1, batch.data(), &count) == lsuv::Status::ok);
  FUZZ_CHECK(count >= 1 && count <= source.max_batch_size());
  FUZZ_CHECK(source.read(source.batch_count(), batch.data(), &count) == lsuv::Status::end_of_data);
  return 0;
}
