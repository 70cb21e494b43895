#include "kernels/i8_dispatch.hpp"

#include <cassert>
#include <cstddef>

#include "kernels/reference_i8.hpp"
#include "kernels/simd/i8_tables.hpp"
#include "lsuv/cpu.hpp"

namespace lsuv {
namespace kernels {
namespace {

constexpr I8Kernels reference_table() {
  I8Kernels k{};
#define LSUV_REF_SCRATCH(name) \
  k.name = &name##_i8_ref;     \
  k.name##_scratch_bytes = &name##_scratch_bytes_i8_ref;
#define LSUV_REF_PLAIN(name) k.name = &name##_i8_ref;
  LSUV_I8_KERNELS_WITH_SCRATCH(LSUV_REF_SCRATCH)
  LSUV_I8_KERNELS_PLAIN(LSUV_REF_PLAIN)
#undef LSUV_REF_SCRATCH
#undef LSUV_REF_PLAIN
  return k;
}
constexpr I8Kernels kI8Reference = reference_table();

// A SIMD level with no int8 kernels of its own: every entry falls back to the level below.
[[maybe_unused]] constexpr I8Kernels kI8None{};

// A level's own entries over the table below it; a kernel and its scratch query go together.
I8Kernels over(const I8Kernels& own, const I8Kernels& below) {
  I8Kernels k = below;
#define LSUV_OVER_SCRATCH(name)                        \
  if (own.name != nullptr) {                           \
    assert(own.name##_scratch_bytes != nullptr);       \
    k.name = own.name;                                 \
    k.name##_scratch_bytes = own.name##_scratch_bytes; \
  }
#define LSUV_OVER_PLAIN(name) \
  if (own.name != nullptr) k.name = own.name;
  LSUV_I8_KERNELS_WITH_SCRATCH(LSUV_OVER_SCRATCH)
  LSUV_I8_KERNELS_PLAIN(LSUV_OVER_PLAIN)
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

// The entries a supported level implements (the CPU check is the float table's: a level is
// supported when its float kernels are compiled in and the CPU runs them).
const I8Kernels* own_table(CpuLevel level) {
  if (level == CpuLevel::ref) return &kI8Reference;
  if (!cpu_level_supported(level)) return nullptr;
  switch (level) {
#if defined(LSUV_KERNELS_I8_AVX2)
    case CpuLevel::avx2:
      return &simd::kI8KernelsAvx2;
#endif
    default:
      return &kI8None;
  }
}

struct Tables {
  I8Kernels table[kLevels];
  bool available[kLevels];
};

// kCpuLevels lists each chain lowest first, and the supported levels of a machine are one chain,
// so in that order every supported level comes after the one below it.
Tables build_tables() {
  Tables t{};
  const I8Kernels* below = nullptr;
  for (std::size_t i = 0; i < kLevels; ++i) {
    const I8Kernels* own = own_table(kCpuLevels[i]);
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

}  // namespace

const I8Kernels& i8_kernels() {
  const I8Kernels* k = i8_kernels_at(cpu_level());
  assert(k != nullptr);  // the level in use is always supported
  return *k;
}

const I8Kernels* i8_kernels_at(CpuLevel level) {
  const std::size_t i = level_index(level);
  return i < kLevels && tables().available[i] ? &tables().table[i] : nullptr;
}

const I8Kernels* i8_kernels_own(CpuLevel level) {
  return own_table(level);
}

std::size_t conv2d_scratch_bytes_i8_any_level(const Conv2dParams& p) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < kLevels; ++i) {
    if (!tables().available[i]) continue;
    const std::size_t level_bytes = tables().table[i].conv2d_scratch_bytes(p);
    bytes = level_bytes > bytes ? level_bytes : bytes;
  }
  return bytes;
}

std::size_t linear_scratch_bytes_i8_any_level(const LinearParams& p) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < kLevels; ++i) {
    if (!tables().available[i]) continue;
    const std::size_t level_bytes = tables().table[i].linear_scratch_bytes(p);
    bytes = level_bytes > bytes ? level_bytes : bytes;
  }
  return bytes;
}

}  // namespace kernels
}  // namespace lsuv
