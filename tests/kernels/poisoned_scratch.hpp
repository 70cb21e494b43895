// A kernel's scratch for the checkers, poisoned: `bytes` aligned to kScratchAlignment (null when
// 0 bytes, as callers may pass), filled with 0xff (NaN as a float, an unmapped address as a
// pointer, so a kernel that reads scratch it did not write fails), followed by guard bytes that
// must stay poisoned (a kernel writes no more than its query asked for).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "kernels/params.hpp"

namespace lsuv_test {

class PoisonedScratch {
 public:
  static constexpr std::size_t kGuardBytes = 256;
  explicit PoisonedScratch(std::size_t bytes)
      : storage_(bytes + lsuv::kernels::kScratchAlignment + kGuardBytes, 0xff), bytes_(bytes) {
    void* aligned = storage_.data();
    std::size_t space = storage_.size();
    data_ = std::align(lsuv::kernels::kScratchAlignment, bytes + kGuardBytes, aligned, space);
  }
  void* data() const { return bytes_ > 0 ? data_ : nullptr; }
  bool guard_intact() const {
    const unsigned char* guard = static_cast<const unsigned char*>(data_) + bytes_;
    for (std::size_t i = 0; i < kGuardBytes; ++i)
      if (guard[i] != 0xff) return false;
    return true;
  }

 private:
  std::vector<unsigned char> storage_;
  std::size_t bytes_;
  void* data_ = nullptr;
};

}  // namespace lsuv_test
