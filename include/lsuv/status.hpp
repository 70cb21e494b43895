// Status: the result of every fallible call in lsuv.
//
// The library never throws. A call that fails returns one of these and leaves the model, the
// weights and any file it was asked to write exactly as they were.
#pragma once

#include <cstdint>

namespace lsuv {

enum class [[nodiscard]] Status : std::uint8_t{
    ok = 0,
    invalid_argument,  // a parameter outside its documented range
    shape_mismatch,    // spec, weights and data disagree on a shape
    size_overflow,     // a size computation would overflow (absurd dimensions)
    arena_too_small,   // the caller's buffer cannot hold what the plan needs
    not_bound,         // the model has no memory yet (call bind)
    non_finite,        // NaN or Inf in data, weights or statistics
    zero_variance,     // a layer's output is constant: it cannot be scaled to unit variance
    end_of_data,       // a batch source has no more batches
    file_not_found,    // a file or directory does not exist
    io_error,          // the operating system refused a read or write
    bad_format,        // a file is not what it claims to be (magic, header, syntax)
    truncated,         // a file ends before its header says it should
    unsupported,       // a valid file or spec uses something lsuv does not implement
};

// A short, stable, human-readable name ("arena_too_small"); never null.
const char* status_name(Status status);

// Propagates a failed status to the caller.
#define LSUV_TRY(expr)                                                   \
  do {                                                                   \
    ::lsuv::Status lsuv_try_status_ = (expr);                            \
    if (lsuv_try_status_ != ::lsuv::Status::ok) return lsuv_try_status_; \
  } while (0)

}  // namespace lsuv
