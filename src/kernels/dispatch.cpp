#include "kernels/dispatch.hpp"

#include <cstdlib>
#include <cstring>

#include "kernels/reference.hpp"
#include "kernels/simd/f32_functors.hpp"
#include "lsuv/cpu.hpp"

namespace lsuv {
namespace {

constexpr kernels::F32Kernels kF32Reference = {kernels::conv2d_f32_ref,
                                               kernels::linear_f32_ref,
                                               kernels::relu_f32_ref,
                                               kernels::max_pool2d_f32_ref,
                                               kernels::avg_pool2d_f32_ref,
                                               kernels::global_avg_pool_f32_ref,
                                               kernels::add_channel_moments_f32_ref};

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

// Compiled in (the build defines LSUV_KERNELS_<ISA> for each per-ISA library) and runnable.
// GCC's and Clang's __builtin_cpu_supports also check that the OS saves the wide registers.
const kernels::F32Kernels* compiled_table(CpuLevel level) {
  switch (level) {
    case CpuLevel::ref:
      return &kF32Reference;
#if defined(LSUV_KERNELS_SSE2)
    case CpuLevel::sse2:
      return __builtin_cpu_supports("sse2") ? &kernels::simd::kF32KernelsSse2 : nullptr;
#endif
#if defined(LSUV_KERNELS_AVX2)
    case CpuLevel::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
                 ? &kernels::simd::kF32KernelsAvx2
                 : nullptr;
#endif
#if defined(LSUV_KERNELS_NEON)
    // The whole build targets NEON (cross-file flags), so the CPU has it if it runs this code.
    case CpuLevel::neon:
      return &kernels::simd::kF32KernelsNeon;
#endif
    default:
      return nullptr;
  }
}

bool parse_level(const char* text, CpuLevel* level) {
  constexpr CpuLevel kAll[] = {CpuLevel::ref, CpuLevel::sse2, CpuLevel::avx2, CpuLevel::avx512,
                               CpuLevel::neon};
  for (CpuLevel candidate : kAll) {
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
};

// The best supported level at or below the chain position `from`.
void select_from(Dispatch& d, int from) {
  for (int i = from; i < kChainLength; ++i) {
    const kernels::F32Kernels* table = compiled_table(kChain[i]);
    if (table != nullptr) {
      d.f32 = *table;
      d.level = kChain[i];
      return;
    }
  }
}

Dispatch initial_dispatch() {
  Dispatch d = {kF32Reference, CpuLevel::ref};
  select_from(d, 0);
  // LSUV_CPU names a limit; a value this build does not know, or one of another architecture,
  // is ignored (the best level stays).
  const char* text = std::getenv("LSUV_CPU");
  CpuLevel limit = CpuLevel::ref;
  if (text != nullptr && parse_level(text, &limit) && chain_position(limit) >= 0)
    select_from(d, chain_position(limit));
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
    case CpuLevel::avx512:
      return "avx512";
    case CpuLevel::neon:
      return "neon";
  }
  return "unknown";
}

CpuLevel cpu_level() {
  return dispatch().level;
}

CpuLevel cpu_level_detected() {
  for (int i = 0; i < kChainLength; ++i)
    if (compiled_table(kChain[i]) != nullptr) return kChain[i];
  return CpuLevel::ref;
}

bool cpu_level_supported(CpuLevel level) {
  return chain_position(level) >= 0 && compiled_table(level) != nullptr;
}

Status set_cpu_level_limit(CpuLevel limit) {
  if (static_cast<std::uint8_t>(limit) > static_cast<std::uint8_t>(CpuLevel::neon))
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
  return cpu_level_supported(level) ? compiled_table(level) : nullptr;
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
