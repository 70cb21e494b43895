// The model spec's parser: text in, a ModelSpec out. model_spec.cpp wraps it in the public
// calls (parse, load, format); it is kept apart because it is most of the code.
#pragma once

#include <cstddef>
#include <cstring>

#include "lsuv/io/model_spec.hpp"

namespace lsuv::detail {

// Parses `length` bytes of `text` (null means empty) into *spec, which must start out empty
// (a default ModelSpec); on failure *spec is partly filled and must be discarded. Fills *error
// (when not null) with the first error's position and message. Errors as parse_model_spec.
Status parse_spec_text(const char* text, std::size_t length, ModelSpec* spec, SpecError* error);

// Layer names compare over at most LayerSpec::kMaxNameLength + 1 bytes (a full-length name has
// no terminator to stop at).
inline bool same_layer_name(const char* a, const char* b) {
  return std::strncmp(a, b, LayerSpec::kMaxNameLength + 1) == 0;
}

}  // namespace lsuv::detail
