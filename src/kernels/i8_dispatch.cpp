#include "kernels/i8_dispatch.hpp"

#include <cassert>
#include <cstddef>
#include <initializer_list>

#include "kernels/reference_i8.hpp"
#include "kernels/simd/i8_tables.hpp"
#include "lsuv/cpu.hpp"

#if defined(LSUV_KERNELS_I8_NEON_DOT)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

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

#if defined(LSUV_KERNELS_I8_NEON_DOT)
// The build compiles the dot-product TU only for aarch64 Linux, where the kernel reports the
// instructions (FEAT_DotProd) in the hardware capabilities.
bool cpu_has_dot_product() {
  return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
}
#endif

// The int8 extension a level uses on this CPU (i8_dispatch.hpp), or null: SSE4.1 on the sse2
// level, AVX512-VNNI on the avx512 level, the dot product on aarch64's neon level. The float
// chain never looks at these.
const char* extension_in_use(CpuLevel level) {
  switch (level) {
#if defined(LSUV_KERNELS_I8_SSE41)
    case CpuLevel::sse2:
      return __builtin_cpu_supports("sse4.1") ? "sse4.1" : nullptr;
#endif
#if defined(LSUV_KERNELS_I8_AVX512_VNNI)
    case CpuLevel::avx512:
      return __builtin_cpu_supports("avx512vnni") ? "vnni" : nullptr;
#endif
#if defined(LSUV_KERNELS_I8_NEON_DOT)
    case CpuLevel::neon:
      return cpu_has_dot_product() ? "dotprod" : nullptr;
#endif
    default:
      return nullptr;
  }
}

// The entries a supported level implements without its extension (the CPU check is the float
// table's: a level is supported when its float kernels are compiled in and the CPU runs them),
// or null for an unsupported level.
const I8Kernels* plain_table(CpuLevel level) {
  if (level == CpuLevel::ref) return &kI8Reference;
  if (!cpu_level_supported(level)) return nullptr;
  switch (level) {
#if defined(LSUV_KERNELS_I8_AVX2)
    case CpuLevel::avx2:
      return &simd::kI8KernelsAvx2;
#endif
#if defined(LSUV_KERNELS_I8_NEON)
    case CpuLevel::neon:
      return &simd::kI8KernelsNeon;
#endif
    default:
      return &kI8None;
  }
}

// The entries of a supported level's extension on this CPU (laid over the level's plain
// entries: an extension replaces only the kernels it speeds up), or null when it uses none.
const I8Kernels* extension_table(CpuLevel level) {
  if (plain_table(level) == nullptr || extension_in_use(level) == nullptr) return nullptr;
  switch (level) {
#if defined(LSUV_KERNELS_I8_SSE41)
    case CpuLevel::sse2:
      return &simd::kI8KernelsSse41;
#endif
#if defined(LSUV_KERNELS_I8_AVX512_VNNI)
    case CpuLevel::avx512:
      return &simd::kI8KernelsAvx512Vnni;
#endif
#if defined(LSUV_KERNELS_I8_NEON_DOT)
    case CpuLevel::neon:
      return &simd::kI8KernelsNeonDot;
#endif
    default:
      return nullptr;
  }
}

struct Tables {
  I8Kernels own[kLevels];
  I8Kernels table[kLevels];
  I8Kernels without_extension[kLevels];
  bool available[kLevels];
};

// kCpuLevels lists each chain lowest first, and the supported levels of a machine are one chain,
// so in that order every supported level comes after the one below it. A level's table without
// its extension lies over the same table below as the one with it.
Tables build_tables() {
  Tables t{};
  const I8Kernels* below = nullptr;
  for (std::size_t i = 0; i < kLevels; ++i) {
    const CpuLevel level = kCpuLevels[i];
    const I8Kernels* plain = plain_table(level);
    if (plain == nullptr) continue;
    const I8Kernels* extension = extension_table(level);
    t.own[i] = extension != nullptr ? over(*extension, *plain) : *plain;
    t.table[i] = below != nullptr ? over(t.own[i], *below) : t.own[i];
    t.without_extension[i] = below != nullptr ? over(*plain, *below) : *plain;
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
  const std::size_t i = level_index(level);
  return i < kLevels && tables().available[i] ? &tables().own[i] : nullptr;
}

const char* i8_extension(CpuLevel level) {
  return i8_kernels_at(level) != nullptr ? extension_in_use(level) : nullptr;
}

const I8Kernels* i8_kernels_without_extension(CpuLevel level) {
  const std::size_t i = level_index(level);
  return i < kLevels && tables().available[i] ? &tables().without_extension[i] : nullptr;
}

std::size_t conv2d_scratch_bytes_i8_any_level(const Conv2dParams& p) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < kLevels; ++i) {
    if (!tables().available[i]) continue;
    for (const I8Kernels* k : {&tables().table[i], &tables().without_extension[i]}) {
      const std::size_t level_bytes = k->conv2d_scratch_bytes(p);
      bytes = level_bytes > bytes ? level_bytes : bytes;
    }
  }
  return bytes;
}

std::size_t linear_scratch_bytes_i8_any_level(const LinearParams& p) {
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < kLevels; ++i) {
    if (!tables().available[i]) continue;
    for (const I8Kernels* k : {&tables().table[i], &tables().without_extension[i]}) {
      const std::size_t level_bytes = k->linear_scratch_bytes(p);
      bytes = level_bytes > bytes ? level_bytes : bytes;
    }
  }
  return bytes;
}

}  // namespace kernels
}  // namespace lsuv
