#include "kernels/backward_dispatch.hpp"

#include <cassert>
#include <cstddef>

#include "kernels/backward_ref.hpp"
#include "kernels/simd/backward_tables.hpp"
#include "lsuv/cpu.hpp"

namespace lsuv::kernels {
namespace {

// The reference table: entry `k` is backward_ref.hpp's function of the matching name.
constexpr F32BackwardKernels reference_table() {
  F32BackwardKernels k{};
  k.conv2d_input = &conv2d_backward_input_f32_ref;
  k.conv2d_input_scratch_bytes = &conv2d_backward_input_scratch_bytes_f32_ref;
  k.conv2d_weights = &conv2d_backward_weights_f32_ref;
  k.conv2d_weights_scratch_bytes = &conv2d_backward_weights_scratch_bytes_f32_ref;
  k.linear_input = &linear_backward_input_f32_ref;
  k.linear_input_scratch_bytes = &linear_backward_input_scratch_bytes_f32_ref;
  k.linear_weights = &linear_backward_weights_f32_ref;
  k.linear_weights_scratch_bytes = &linear_backward_weights_scratch_bytes_f32_ref;
  k.bias = &bias_backward_f32_ref;
  k.clamp = &clamp_backward_f32_ref;
  k.max_pool2d = &max_pool2d_backward_f32_ref;
  k.avg_pool2d = &avg_pool2d_backward_f32_ref;
  k.global_avg_pool = &global_avg_pool_backward_f32_ref;
  k.add = &add_backward_f32_ref;
  k.batch_norm2d_input = &batch_norm2d_backward_input_f32_ref;
  k.batch_norm2d_gamma = &batch_norm2d_backward_gamma_f32_ref;
  return k;
}
constexpr F32BackwardKernels kReference = reference_table();

// A SIMD level with no backward kernels of its own: every entry falls back to the level below.
[[maybe_unused]] constexpr F32BackwardKernels kNone{};

// A level's own entries over the table below it; a kernel and its scratch query go together.
F32BackwardKernels over(const F32BackwardKernels& own, const F32BackwardKernels& below) {
  F32BackwardKernels k = below;
#define LSUV_OVER_SCRATCH(name)                        \
  if (own.name != nullptr) {                           \
    assert(own.name##_scratch_bytes != nullptr);       \
    k.name = own.name;                                 \
    k.name##_scratch_bytes = own.name##_scratch_bytes; \
  }
#define LSUV_OVER_PLAIN(name) \
  if (own.name != nullptr) k.name = own.name;
  LSUV_F32_BACKWARD_WITH_SCRATCH(LSUV_OVER_SCRATCH)
  LSUV_F32_BACKWARD_PLAIN(LSUV_OVER_PLAIN)
#undef LSUV_OVER_SCRATCH
#undef LSUV_OVER_PLAIN
  return k;
}

constexpr std::size_t kLevels = sizeof kCpuLevels / sizeof kCpuLevels[0];

std::size_t level_index(CpuLevel level) {
  for (std::size_t i = 0; i < kLevels; ++i)
    if (kCpuLevels[i] == level) return i;
  return kLevels;
}

// The entries a supported level implements (a level is supported when its forward kernels are
// compiled in and the CPU runs them), or null for an unsupported level.
const F32BackwardKernels* own_table(CpuLevel level) {
  if (level == CpuLevel::ref) return &kReference;
  if (!cpu_level_supported(level)) return nullptr;
  switch (level) {
#if defined(LSUV_KERNELS_SSE2)
    case CpuLevel::sse2:
      return &simd::kF32BackwardSse2;
#endif
#if defined(LSUV_KERNELS_AVX2)
    case CpuLevel::avx2:
      return &simd::kF32BackwardAvx2;
#endif
#if defined(LSUV_KERNELS_AVX512)
    case CpuLevel::avx512:
      return &simd::kF32BackwardAvx512;
#endif
#if defined(LSUV_KERNELS_NEON)
    case CpuLevel::neon:
      return &simd::kF32BackwardNeon;
#endif
    default:
      return &kNone;
  }
}

struct Tables {
  F32BackwardKernels table[kLevels];
  bool available[kLevels];
};

// kCpuLevels lists each chain lowest first, and a machine's supported levels are one chain, so
// in that order every supported level comes after the one below it.
Tables build_tables() {
  Tables t{};
  const F32BackwardKernels* below = nullptr;
  for (std::size_t i = 0; i < kLevels; ++i) {
    const F32BackwardKernels* own = own_table(kCpuLevels[i]);
    if (own == nullptr) continue;
    t.table[i] = below != nullptr ? over(*own, *below) : *own;
    t.available[i] = true;
    below = &t.table[i];
  }
  return t;
}

const Tables& tables() {
  static const Tables t = build_tables();
  return t;
}

// The largest scratch query of one entry over the supported levels.
template <class Params>
std::size_t largest(std::size_t (*F32BackwardKernels::*query)(const Params&), const Params& p) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < kLevels; ++i) {
    if (!tables().available[i]) continue;
    const std::size_t level_bytes = (tables().table[i].*query)(p);
    bytes = level_bytes > bytes ? level_bytes : bytes;
  }
  return bytes;
}

}  // namespace

const F32BackwardKernels& f32_backward_kernels() {
  const F32BackwardKernels* k = f32_backward_kernels_at(cpu_level());
  assert(k != nullptr);  // the level in use is always supported
  return *k;
}

const F32BackwardKernels* f32_backward_kernels_at(CpuLevel level) {
  const std::size_t i = level_index(level);
  return i < kLevels && tables().available[i] ? &tables().table[i] : nullptr;
}

const F32BackwardKernels* f32_backward_kernels_own(CpuLevel level) {
  return own_table(level);
}

std::size_t conv2d_backward_input_scratch_bytes_any_level(const Conv2dParams& p) {
  return largest(&F32BackwardKernels::conv2d_input_scratch_bytes, p);
}

std::size_t conv2d_backward_weights_scratch_bytes_any_level(const Conv2dParams& p) {
  return largest(&F32BackwardKernels::conv2d_weights_scratch_bytes, p);
}

std::size_t linear_backward_input_scratch_bytes_any_level(const LinearParams& p) {
  return largest(&F32BackwardKernels::linear_input_scratch_bytes, p);
}

std::size_t linear_backward_weights_scratch_bytes_any_level(const LinearParams& p) {
  return largest(&F32BackwardKernels::linear_weights_scratch_bytes, p);
}

}  // namespace lsuv::kernels
