#include "lsuv/arena.hpp"

namespace lsuv {

Arena::Arena(void* buffer, std::size_t bytes) {
  if (buffer == nullptr) return;  // behaves as a measuring arena
  const auto address = reinterpret_cast<std::uintptr_t>(buffer);
  const std::size_t skip = (kAlignment - address % kAlignment) % kAlignment;
  if (bytes < skip) {
    base_ = static_cast<unsigned char*>(buffer);
    capacity_ = 0;
    return;
  }
  base_ = static_cast<unsigned char*>(buffer) + skip;
  capacity_ = bytes - skip;
}

void* Arena::allocate_bytes(std::size_t bytes) {
  if (status_ != Status::ok) return nullptr;
  const std::size_t padded_offset = (used_ + kAlignment - 1) / kAlignment * kAlignment;
  if (padded_offset < used_ || bytes > SIZE_MAX - padded_offset) {
    fail(Status::size_overflow);
    return nullptr;
  }
  const std::size_t end = padded_offset + bytes;
  if (measuring()) {
    used_ = end;
    return nullptr;
  }
  if (end > capacity_) {
    fail(Status::arena_too_small);
    return nullptr;
  }
  used_ = end;
  return base_ + padded_offset;
}

}  // namespace lsuv
