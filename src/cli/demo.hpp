#pragma once

#include <cstdint>
#include <string>

namespace lsuv::cli {

struct DemoOptions {
  std::string data_directory;
  std::string model_spec;  // a spec file for 1x28x28 images; empty: the seed's network
  std::int32_t batch_size = 64;
  std::int32_t calibration_batches = 16;
  std::uint64_t seed = 0;
  double tolerance = 0.02;
  int repeats = 5;
};

void run_demo(const DemoOptions& options);

}  // namespace lsuv::cli
