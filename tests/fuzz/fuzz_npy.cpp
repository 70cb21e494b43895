// Fuzzes the .npy parser: any bytes give a status and leave the output alone on failure; an
// array that parses is self-consistent (its bytes are exactly elements x dtype size).
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "lsuv/io/npy.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lsuv::NpyArray array;
  array.shape = {-1};  // a marker: a failed parse must leave the output alone
  const lsuv::Status status = lsuv::parse_npy(data, size, &array);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(status));
  if (status != lsuv::Status::ok) {
    FUZZ_CHECK(array.shape.size() == 1 && array.shape[0] == -1);
    return 0;
  }
  FUZZ_CHECK(array.shape.size() <= static_cast<std::size_t>(lsuv::NpyArray::kMaxRank));
  for (const std::int64_t dim : array.shape) FUZZ_CHECK(dim >= 0);
  FUZZ_CHECK(array.bytes.size() == array.elements() * lsuv::npy_dtype_size(array.dtype));
  FUZZ_CHECK(array.bytes.size() <= size);
  // Exactly one typed view is there (when there is data at all), and it covers the bytes.
  const int views = (array.as_float32() != nullptr) + (array.as_int8() != nullptr) +
                    (array.as_uint8() != nullptr) + (array.as_int32() != nullptr) +
                    (array.as_int64() != nullptr);
  FUZZ_CHECK(array.bytes.empty() || views == 1);
  if (!array.bytes.empty()) {
    volatile unsigned char last = array.bytes.back();
    (void)last;
  }
  return 0;
}
