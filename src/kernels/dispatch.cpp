#include "kernels/dispatch.hpp"

#include <cassert>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "kernels/reference.hpp"
#include "kernels/simd/f32_functors.hpp"
#include "lsuv/cpu.hpp"

namespace lsuv {
namespace {

// The reference table, built by name from the entry lists: kernel `k` is `k_f32_ref`.
constexpr kernels::F32Kernels reference_table() {
  kernels::F32Kernels k{};
#define LSUV_REF_SCRATCH(name)       \
  k.name = &kernels::name##_f32_ref; \
  k.name##_scratch_bytes = &kernels::name##_scratch_bytes_f32_ref;
#define LSUV_REF_PLAIN(name) k.name = &kernels::name##_f32_ref;
  LSUV_F32_KERNELS_WITH_SCRATCH(LSUV_REF_SCRATCH)
  LSUV_F32_KERNELS_PLAIN(LSUV_REF_PLAIN)
#undef LSUV_REF_SCRATCH
#undef LSUV_REF_PLAIN
  return k;
}
constexpr kernels::F32Kernels kF32Reference = reference_table();

// A level's own entries over the table of the level below. A kernel and its scratch query are
// taken together, so the query always sizes the kernel that runs.
kernels::F32Kernels over(const kernels::F32Kernels& own, const kernels::F32Kernels& below) {
  kernels::F32Kernels k = below;
#define LSUV_OVER_SCRATCH(name)                        \
  if (own.name != nullptr) {                           \
    assert(own.name##_scratch_bytes != nullptr);       \
    k.name = own.name;                                 \
    k.name##_scratch_bytes = own.name##_scratch_bytes; \
  }
#define LSUV_OVER_PLAIN(name) \
  if (own.name != nullptr) k.name = own.name;
  LSUV_F32_KERNELS_WITH_SCRATCH(LSUV_OVER_SCRATCH)
  LSUV_F32_KERNELS_PLAIN(LSUV_OVER_PLAIN)
#undef LSUV_OVER_SCRATCH
#undef LSUV_OVER_PLAIN
  return k;
}

// Each architecture's chain, best first. A level is reachable under a limit when it is in the
// limit's chain at or below it.
#if defined(__x86_64__) || defined(_M_X64)
constexpr CpuLevel kChain[] = {CpuLevel::avx512, CpuLevel::avx2, CpuLevel::sse2, CpuLevel::ref};
#elif defined(__aarch64__) || defined(__arm__)
constexpr CpuLevel kChain[] = {CpuLevel::neon, CpuLevel::ref};
#else
constexpr CpuLevel kChain[] = {CpuLevel::ref};
#endif
constexpr int kChainLength = static_cast<int>(sizeof kChain / sizeof kChain[0]);

int chain_position(CpuLevel level) {
  for (int i = 0; i < kChainLength; ++i)
    if (kChain[i] == level) return i;
  return -1;
}

// The entries a level implements, when the build compiled it (the build defines
// LSUV_KERNELS_<ISA> for each per-ISA library). Only data of the per-ISA TUs is read here.
const kernels::F32Kernels* own_table(CpuLevel level) {
  switch (level) {
    case CpuLevel::ref:
      return &kF32Reference;
#if defined(LSUV_KERNELS_SSE2)
    case CpuLevel::sse2:
      return &kernels::simd::kF32KernelsSse2;
#endif
#if defined(LSUV_KERNELS_AVX2)
    case CpuLevel::avx2:
      return &kernels::simd::kF32KernelsAvx2;
#endif
#if defined(LSUV_KERNELS_AVX512)
    case CpuLevel::avx512:
      return &kernels::simd::kF32KernelsAvx512;
#endif
#if defined(LSUV_KERNELS_NEON)
    case CpuLevel::neon:
      return &kernels::simd::kF32KernelsNeon;
#endif
    default:
      return nullptr;
  }
}

// True when the CPU executes the level's instructions. GCC's and Clang's
// __builtin_cpu_supports also check that the OS saves the wide registers. A NEON build targets
// NEON as a whole (cross-file flags), so the CPU has it if it runs this code.
bool cpu_runs(CpuLevel level) {
  switch (level) {
#if defined(__x86_64__) || defined(_M_X64)
    case CpuLevel::sse2:
      return __builtin_cpu_supports("sse2");
    case CpuLevel::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuLevel::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl");
#endif
    default:
      return true;
  }
}

// The CPU rule of lsuv/cpu.hpp: the first level of the chain (at or below the best supported
// one) that pays on this core, and why.
struct Preference {
  CpuLevel level;
  const char* reason;
};

Preference preference(CpuLevel detected) {
#if defined(__x86_64__) || defined(_M_X64)
  if (detected == CpuLevel::avx512) {
    // Zen 4 is AMD family 19h (base family 0xf + extended family 0xa); its AVX-512 units are
    // 256 bits wide. Later AMD families (Zen 5 is 1Ah) and Intel run 512 bits at full width.
    if (__builtin_cpu_is("amd") && __builtin_cpu_is("amdfam19h"))
      return {CpuLevel::avx2,
              "avx2: AMD family 19h (Zen 4) splits 512-bit operations in two, so AVX-512 has "
              "the AVX2 peak; LSUV_CPU=avx512 selects it"};
    return {CpuLevel::avx512, "avx512: the CPU runs AVX-512 F/CD/DQ/BW/VL, not a split-width core"};
  }
#endif
  switch (detected) {
    case CpuLevel::ref:
      return {detected, "ref: no SIMD level of this build runs on this CPU"};
    case CpuLevel::sse2:
      return {detected, "sse2: the best level this build and CPU support"};
    case CpuLevel::avx2:
      return {detected, "avx2: the best level this build and CPU support"};
    case CpuLevel::neon:
      return {detected, "neon: the best level this build and CPU support"};
    case CpuLevel::avx512:
      return {detected, "avx512: the best level this build and CPU support"};
  }
  return {CpuLevel::ref, "ref: no SIMD level of this build runs on this CPU"};
}

// Every level's merged table, built once from the bottom of the chain up.
struct Tables {
  kernels::F32Kernels table[kChainLength];
  bool available[kChainLength];
};

Tables build_tables() {
  Tables t{};
  const kernels::F32Kernels* below = nullptr;
  for (int i = kChainLength - 1; i >= 0; --i) {
    const kernels::F32Kernels* own = own_table(kChain[i]);
    if (own == nullptr || !cpu_runs(kChain[i])) continue;
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

const kernels::F32Kernels* table_at(CpuLevel level) {
  const int i = chain_position(level);
  return i >= 0 && tables().available[i] ? &tables().table[i] : nullptr;
}

bool parse_level(const char* text, CpuLevel* level) {
  for (CpuLevel candidate : kChain) {
    if (std::strcmp(text, cpu_level_name(candidate)) == 0) {
      *level = candidate;
      return true;
    }
  }
  return false;
}

struct Dispatch {
  kernels::F32Kernels f32;
  CpuLevel level;
  Status environment;
  Preference preferred;
};

// The best supported level at or below the chain position `from`.
void select_from(Dispatch& d, int from) {
  for (int i = from; i < kChainLength; ++i) {
    if (tables().available[i]) {
      d.f32 = tables().table[i];
      d.level = kChain[i];
      return;
    }
  }
}

// A value of LSUV_CPU that names no level of this architecture's chain is reported once on
// stderr with the values that work; the best level stays in use.
void report_unknown_level(const char* text) {
  std::fputs("lsuv: LSUV_CPU=", stderr);
  std::fputs(text, stderr);
  std::fputs(" is not a CPU level of this build; valid values:", stderr);
  for (CpuLevel level : kChain) {
    std::fputs(" ", stderr);
    std::fputs(cpu_level_name(level), stderr);
  }
  std::fputs(" (the default level stays in use)\n", stderr);
}

CpuLevel best_available() {
  for (int i = 0; i < kChainLength; ++i)
    if (tables().available[i]) return kChain[i];
  return CpuLevel::ref;
}

Dispatch initial_dispatch() {
  Dispatch d = {kF32Reference, CpuLevel::ref, Status::ok, preference(best_available())};
  select_from(d, chain_position(d.preferred.level));
  const char* text = std::getenv("LSUV_CPU");
  if (text == nullptr) return d;
  CpuLevel limit = CpuLevel::ref;
  if (parse_level(text, &limit)) {
    select_from(d, chain_position(limit));
  } else {
    report_unknown_level(text);
    d.environment = Status::invalid_argument;
  }
  return d;
}

Dispatch& dispatch() {
  static Dispatch d = initial_dispatch();
  return d;
}

}  // namespace

const char* cpu_level_name(CpuLevel level) {
  switch (level) {
    case CpuLevel::ref:
      return "ref";
    case CpuLevel::sse2:
      return "sse2";
    case CpuLevel::avx2:
      return "avx2";
    case CpuLevel::neon:
      return "neon";
    case CpuLevel::avx512:
      return "avx512";
  }
  return "unknown";
}

CpuLevel cpu_level() {
  return dispatch().level;
}

CpuLevel cpu_level_detected() {
  return best_available();
}

CpuLevel cpu_level_preferred() {
  return dispatch().preferred.level;
}

const char* cpu_level_rule() {
  return dispatch().preferred.reason;
}

bool cpu_level_supported(CpuLevel level) {
  return table_at(level) != nullptr;
}

Status cpu_level_environment() {
  return dispatch().environment;
}

Status set_cpu_level_limit(CpuLevel limit) {
  if (static_cast<std::uint8_t>(limit) > static_cast<std::uint8_t>(CpuLevel::avx512))
    return Status::invalid_argument;
  const int position = chain_position(limit);
  if (position < 0) return Status::unsupported;
  select_from(dispatch(), position);
  return Status::ok;
}

namespace kernels {

const F32Kernels& f32_kernels() {
  return dispatch().f32;
}

const F32Kernels* f32_kernels_at(CpuLevel level) {
  return table_at(level);
}

const F32Kernels* f32_kernels_own(CpuLevel level) {
  return chain_position(level) >= 0 ? own_table(level) : nullptr;
}

std::size_t conv2d_scratch_bytes_any_level(const Conv2dParams& p) {
  std::size_t bytes = 0;
  for (int i = 0; i < kChainLength; ++i) {
    if (!tables().available[i]) continue;
    const std::size_t level_bytes = tables().table[i].conv2d_scratch_bytes(p);
    if (level_bytes > bytes) bytes = level_bytes;
  }
  return bytes;
}

std::size_t linear_scratch_bytes_any_level(const LinearParams& p) {
  std::size_t bytes = 0;
  for (int i = 0; i < kChainLength; ++i) {
    if (!tables().available[i]) continue;
    const std::size_t level_bytes = tables().table[i].linear_scratch_bytes(p);
    if (level_bytes > bytes) bytes = level_bytes;
  }
  return bytes;
}

FmaPeakLoop fma_peak_loop_at(CpuLevel level) {
  if (!cpu_level_supported(level)) return nullptr;
  switch (level) {
#if defined(LSUV_KERNELS_SSE2)
    case CpuLevel::sse2:
      return simd::kFmaPeakSse2;
#endif
#if defined(LSUV_KERNELS_AVX2)
    case CpuLevel::avx2:
      return simd::kFmaPeakAvx2;
#endif
#if defined(LSUV_KERNELS_AVX512)
    case CpuLevel::avx512:
      return simd::kFmaPeakAvx512;
#endif
#if defined(LSUV_KERNELS_NEON)
    case CpuLevel::neon:
      return simd::kFmaPeakNeon;
#endif
    default:
      return nullptr;
  }
}

}  // namespace kernels
}  // namespace lsuv
