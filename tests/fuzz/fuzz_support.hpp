// What the fuzz targets share: an invariant check that aborts (libFuzzer then saves the input),
// a reader that turns the fuzzer's bytes into small numbers, and bit-exact parameter snapshots.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "lsuv/model.hpp"
#include "lsuv/status.hpp"

#define FUZZ_CHECK(condition)                                                                \
  do {                                                                                       \
    if (!(condition)) {                                                                      \
      std::fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #condition); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace lsuv_fuzz {

// Every Status the library defines; anything else is a corrupted return value.
inline bool is_valid_status(lsuv::Status status) {
  return static_cast<unsigned>(status) <= static_cast<unsigned>(lsuv::Status::unsupported);
}

// Reads the fuzzer's bytes front to back; past the end it yields zeros, so every input is a
// complete description.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::uint8_t byte() { return position_ < size_ ? data_[position_++] : 0; }
  // A value in [low, low + span).
  std::int32_t in_range(std::int32_t low, std::int32_t span) {
    return low + static_cast<std::int32_t>(byte() % static_cast<std::uint32_t>(span));
  }
  bool flag() { return (byte() & 1) != 0; }
  std::uint32_t u32() {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value = (value << 8) | byte();
    return value;
  }
  std::size_t remaining() const { return size_ - position_; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t position_ = 0;
};

// Every parameter of the model, in layer order.
inline std::vector<float> parameters(const lsuv::Model& model) {
  std::vector<float> all(model.parameter_count());
  if (model.copy_parameters_to(all.data(), all.size()) != lsuv::Status::ok) all.clear();
  return all;
}

inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

}  // namespace lsuv_fuzz
