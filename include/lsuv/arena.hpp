// Arena: a bump allocator over one caller-provided buffer.
//
// lsuv never allocates from the heap. Every buffer a model, LSUV or a kernel needs is carved out
// of an Arena in two steps: first a *measuring* arena (no buffer) replays exactly the same
// allocations to find the byte count, then a real arena over the caller's bytes (which may be a
// static array) hands them out. Because both run the same code, the measured count is exact.
//
//   lsuv::Arena measure;                     // counts, allocates nothing
//   model.plan(measure);                     // ... same calls as below
//   static alignas(64) unsigned char buf[N]; // N >= measure.used()
//   lsuv::Arena arena(buf, sizeof buf);
//
// Allocation failure is reported once through status(), never by a crash: after a failed
// allocation the arena returns null for every later request until it is rewound.
#pragma once

#include <cstddef>
#include <cstdint>

#include "lsuv/status.hpp"

namespace lsuv {

class Arena {
 public:
  // Every block is aligned to this many bytes (a cache line; enough for AVX-512 loads).
  static constexpr std::size_t kAlignment = 64;

  // A measuring arena: allocate() returns null but used() grows as if memory were there.
  Arena() = default;
  // An arena over `bytes` bytes at `buffer`. The buffer need not be aligned.
  Arena(void* buffer, std::size_t bytes);

  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  // `count` objects of T, aligned to kAlignment, uninitialised. Null when measuring, when the
  // arena is exhausted (status() becomes arena_too_small) or when count * sizeof(T) overflows
  // (status() becomes size_overflow).
  template <class T>
  T* allocate(std::size_t count) {
    if (count > SIZE_MAX / sizeof(T)) {
      fail(Status::size_overflow);
      return nullptr;
    }
    return static_cast<T*>(allocate_bytes(count * sizeof(T)));
  }
  void* allocate_bytes(std::size_t bytes);

  bool measuring() const { return base_ == nullptr; }
  // Bytes handed out so far, including alignment padding; the exact size a buffer needs.
  std::size_t used() const { return used_; }
  std::size_t capacity() const { return capacity_; }
  // ok, or the first failure since construction or the last rewind to before it.
  Status status() const { return status_; }

  // A position to come back to: scratch users take a mark, allocate, then rewind.
  struct Mark {
    std::size_t used;
    Status status;
  };
  Mark mark() const { return {used_, status_}; }
  void rewind(Mark mark) {
    used_ = mark.used;
    status_ = mark.status;
  }

 private:
  void fail(Status status) {
    if (status_ == Status::ok) status_ = status;
  }

  unsigned char* base_ = nullptr;  // aligned start of the usable buffer, or null when measuring
  std::size_t capacity_ = 0;
  std::size_t used_ = 0;
  Status status_ = Status::ok;
};

}  // namespace lsuv
