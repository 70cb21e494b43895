// Fuzzes the model spec parser: any bytes give a status; a spec that parses formats back to
// text that parses to the same spec, and configures a model (or is refused with a status).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_support.hpp"
#include "lsuv/io/model_spec.hpp"
#include "lsuv/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  lsuv::ModelSpec spec;
  spec.input = {-7, -7, -7};  // a marker: a failed parse must leave the output alone
  lsuv::SpecError error;
  const lsuv::Status status = lsuv::parse_model_spec(text, size, &spec, &error);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(status));
  FUZZ_CHECK(error.message[sizeof error.message - 1] == '\0');
  if (status != lsuv::Status::ok) {
    FUZZ_CHECK((spec.input == lsuv::ImageShape{-7, -7, -7} && spec.layers.empty()));
    FUZZ_CHECK(error.message[0] != '\0');
    return 0;
  }
  FUZZ_CHECK(spec.count() >= 1);

  std::size_t length = 0;
  FUZZ_CHECK(lsuv::format_model_spec(spec, nullptr, 0, &length) == lsuv::Status::arena_too_small);
  std::vector<char> formatted(length + 1);
  FUZZ_CHECK(lsuv::format_model_spec(spec, formatted.data(), formatted.size(), &length) ==
             lsuv::Status::ok);
  lsuv::ModelSpec reparsed;
  FUZZ_CHECK(lsuv::parse_model_spec(formatted.data(), length, &reparsed, nullptr) ==
             lsuv::Status::ok);
  FUZZ_CHECK(reparsed == spec);

  lsuv::ImageShape input = spec.input;
  if (input.elements() == 0) input = {8, 8, 3};
  std::vector<unsigned char> records(lsuv::Model::graph_bytes(spec.count()) +
                                     lsuv::Arena::kAlignment);
  lsuv::Arena graph(records.data(), records.size());
  lsuv::Model model;
  lsuv::ConfigureError why;
  const lsuv::Status configured =
      model.configure(spec.layers.data(), spec.count(), input, 2, graph, &why);
  FUZZ_CHECK(lsuv_fuzz::is_valid_status(configured));
  if (configured == lsuv::Status::ok)
    FUZZ_CHECK(model.layer_count() == spec.count());
  else
    FUZZ_CHECK(why.message[0] != '\0' && why.op >= -1 && why.op < spec.count());
  return 0;
}
