// Fuzzes the int8 model file reader: any bytes give a status and leave a loaded model as it
// was. The first byte, when odd, asks for the CRC to be recomputed over the rest, so the fuzzer
// also reaches everything behind the checksum; a file that loads runs a forward pass.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"
#include "lsuv/io/checkpoint.hpp"
#include "lsuv/io/quantized_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::vector<unsigned char> bytes(data + 1, data + size);
  if ((data[0] & 1) != 0 && bytes.size() >= 4) {
    const std::uint32_t crc = lsuv::crc32(bytes.data(), bytes.size() - 4);
    for (int k = 0; k < 4; ++k)
      bytes[bytes.size() - 4 + k] = static_cast<unsigned char>(crc >> (8 * k));
  }
  lsuv::QuantizedModelFile file;
  lsuv::FileError error;
  const lsuv::Status status = file.parse(bytes.data(), bytes.size(), 2, &error);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(status));
  FUZZ_CHECK(error.message[sizeof error.message - 1] == '\0');
  if (status != lsuv::Status::ok) {
    FUZZ_CHECK(!file.loaded());
    FUZZ_CHECK(error.message[0] != '\0' || status == lsuv::Status::invalid_argument);
    return 0;
  }
  lsuv::QuantizedModel& model = file.model();
  FUZZ_CHECK(model.check_parameters() == lsuv::Status::ok);
  // Inputs larger than a few images of a small network are not worth the fuzzer's time.
  if (model.input_shape().elements() > 4096) return 0;
  std::vector<float> images(2 * model.input_shape().elements(), 0.5f);
  FUZZ_CHECK(model.forward(images.data(), 2) == lsuv::Status::ok);
  return 0;
}
