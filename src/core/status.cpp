#include "lsuv/status.hpp"

namespace lsuv {

const char* status_name(Status status) {
  switch (status) {
    case Status::ok:
      return "ok";
    case Status::invalid_argument:
      return "invalid_argument";
    case Status::shape_mismatch:
      return "shape_mismatch";
    case Status::size_overflow:
      return "size_overflow";
    case Status::arena_too_small:
      return "arena_too_small";
    case Status::not_bound:
      return "not_bound";
    case Status::non_finite:
      return "non_finite";
    case Status::zero_variance:
      return "zero_variance";
    case Status::end_of_data:
      return "end_of_data";
    case Status::file_not_found:
      return "file_not_found";
    case Status::io_error:
      return "io_error";
    case Status::bad_format:
      return "bad_format";
    case Status::truncated:
      return "truncated";
    case Status::unsupported:
      return "unsupported";
  }
  return "unknown_status";
}

}  // namespace lsuv
