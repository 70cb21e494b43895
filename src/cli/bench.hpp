#pragma once

#include <cstdint>
#include <string>

namespace lsuv::cli {

struct BenchOptions {
  std::string pytorch_script;  // tests/bench/pytorch_seed_model.py; empty: no PyTorch column
  std::int32_t calibration_images = 1024;
  std::string data_directory;  // Fashion-MNIST; random images when it is absent
};

// Single-threaded benchmarks: FMA peak, GEMM-shaped layers, the seed model's forward pass at
// batch 1 and 64 (beside PyTorch's when the script runs), statistics cost, and LSUV over
// calibration_images next to one forward pass over them.
void run_bench(const BenchOptions& options);

// The PyTorch script installed beside the program (<datadir>/lsuv), else the one in the source
// tree it was built from; the installed path when neither exists (run_bench then says so).
std::string default_pytorch_script();

}  // namespace lsuv::cli
