// The int8 kernel table, built by name like F32Kernels (dispatch.hpp) and on the same chain of
// CPU levels (lsuv/cpu.hpp): each level's table is its own entries over the table of the level
// below, down to the reference, which has them all; the table in use follows cpu_level(), so
// set_cpu_level_limit and LSUV_CPU move the float and int8 kernels together. Every entry of every
// level is bit-exact to its reference (kernels/reference_i8.hpp is the contract of each entry).
//
// Int8 extensions: an instruction set extension that only int8 kernels need does not become a
// level of its own (the chain stays the float one). A level's int8 table uses its extension when
// the CPU has it: the sse2 level uses SSE4.1 (pmovsxbw for madd_epi16; without it the level
// keeps the reference's int8 kernels), the avx512 level AVX512-VNNI (vpdpbusd; without it the
// level keeps the avx2 level's int8 kernels), aarch64's neon level the dot product (sdot; without
// it the vmull kernels); the extension's entries lie over the level's plain ones, so it replaces
// only the kernels it speeds up (conv2d, linear). i8_kernels_without_extension gives the same
// level's table as on a CPU without the extension, so the kernel checker tests both variants on a
// CPU that has it. AVX-VNNI (the VEX form, on cores without AVX-512) is not used: the avx2 level
// keeps madd_epi16 there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/i8_params.hpp"
#include "kernels/params.hpp"
#include "lsuv/cpu.hpp"

namespace lsuv::kernels {

struct I8Kernels {
  // scratch as for F32Kernels: at least *_scratch_bytes(p) bytes aligned to kScratchAlignment
  // (null when 0), contents on entry irrelevant, on return unspecified; never growing as the
  // batch shrinks.
  void (*conv2d)(const Conv2dParams&, const std::int8_t* input, std::int32_t input_zero_point,
                 const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                 const I8Epilogue& epilogue, void* scratch);
  std::size_t (*conv2d_scratch_bytes)(const Conv2dParams&);
  void (*linear)(const LinearParams&, const std::int8_t* input, std::int32_t input_zero_point,
                 const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                 const I8Epilogue& epilogue, void* scratch);
  std::size_t (*linear_scratch_bytes)(const LinearParams&);
  void (*clamp)(std::size_t n, const std::int8_t* input, std::int8_t* output, std::int32_t lo,
                std::int32_t hi);
  void (*add)(std::size_t n, const std::int8_t* const* inputs, const AddI8Params& params,
              std::int8_t* output);
  void (*max_pool2d)(const Pool2dParams&, const std::int8_t* input, std::int8_t* output);
  void (*avg_pool2d)(const Pool2dParams&, const std::int8_t* input, std::int32_t input_zero_point,
                     std::int8_t* output);
  void (*global_avg_pool)(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                          const std::int8_t* input, std::int8_t* output);
};

// The entries of I8Kernels by name (as LSUV_F32_KERNELS_*): kernel `k` of the reference is
// `k_i8_ref`, and SCRATCH(conv2d) names conv2d with conv2d_scratch_bytes.
#define LSUV_I8_KERNELS_WITH_SCRATCH(SCRATCH) SCRATCH(conv2d) SCRATCH(linear)
#define LSUV_I8_KERNELS_PLAIN(PLAIN) \
  PLAIN(clamp)                       \
  PLAIN(add)                         \
  PLAIN(max_pool2d)                  \
  PLAIN(avg_pool2d)                  \
  PLAIN(global_avg_pool)

// The table of the level in use (cpu_level()). Look it up per use: the reference returned
// belongs to that level's table and is not updated when the limit changes.
const I8Kernels& i8_kernels();

// The table of one level regardless of the limit (its own entries over the levels below), or
// null when the level is not compiled in or the CPU cannot run it.
const I8Kernels* i8_kernels_at(CpuLevel level);

// The entries a level implements itself (with its extension when the CPU has it), the others
// null (the reference has them all), or null when the level is not compiled in or the CPU
// cannot run it. For the kernel checker.
const I8Kernels* i8_kernels_own(CpuLevel level);

// The int8 extension the level's table uses on this CPU ("vnni", "dotprod"), or null when it uses
// none (or the level is not supported).
const char* i8_extension(CpuLevel level);

// The level's table as on a CPU without its extension (its own plain entries over the same
// table below); equal to i8_kernels_at(level) when the level uses no extension; null when the
// level is not supported. For the kernel checker.
const I8Kernels* i8_kernels_without_extension(CpuLevel level);

// Scratch bytes at any level this CPU runs, with or without its extension (the largest), so a
// plan stays exact when the level limit changes after bind.
std::size_t conv2d_scratch_bytes_i8_any_level(const Conv2dParams& p);
std::size_t linear_scratch_bytes_i8_any_level(const LinearParams& p);

}  // namespace lsuv::kernels
