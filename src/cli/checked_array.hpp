// A zero-filled heap array whose size comes from the user (a model, a batch, a data set): when
// the machine cannot provide it, the program says how many bytes were needed and exits 1 instead
// of aborting on std::bad_alloc. calloc leaves untouched pages unmapped, so asking costs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <type_traits>

namespace lsuv::cli {

// Prints "lsuv: <what> needs <bytes> bytes (...)" and throws Failure.
// `count` is 64-bit so that a count a 32-bit size_t cannot hold is still said as it is.
[[noreturn]] void fail_allocation(const std::string& what, std::uint64_t count,
                                  std::size_t element_bytes);

template <class T>
class CheckedArray {
 public:
  static_assert(std::is_trivially_copyable_v<T>, "calloc provides zeroed bytes, not objects");
  CheckedArray() = default;
  CheckedArray(std::size_t count, const std::string& what)
      : data_(static_cast<T*>(std::calloc(count == 0 ? 1 : count, sizeof(T)))), size_(count) {
    if (data_ == nullptr) fail_allocation(what, count, sizeof(T));
  }
  T* data() { return data_.get(); }
  const T* data() const { return data_.get(); }
  std::size_t size() const { return size_; }
  T& operator[](std::size_t i) { return data_.get()[i]; }
  const T& operator[](std::size_t i) const { return data_.get()[i]; }

 private:
  struct Free {
    void operator()(T* p) const { std::free(p); }
  };
  std::unique_ptr<T, Free> data_;
  std::size_t size_ = 0;
};

}  // namespace lsuv::cli
