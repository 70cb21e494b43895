// CPU levels: which instruction set the kernels run with, and how to force a lower one.
//
// The kernel tables are filled once from CPU detection: the scalar reference first, then
// upgraded level by level to the best one the CPU has and this build compiled, unless the
// CPU rule below says a level does not pay on this core. A limit (this API, or the environment
// variable LSUV_CPU=ref|sse2|avx2|avx512|neon read once when the tables are first used) caps the
// level, so tests and benchmarks can run every level a machine has. A LSUV_CPU value that names
// no level of this architecture is reported on stderr and by cpu_level_environment(), never
// ignored silently:
//
//   for (lsuv::CpuLevel level : lsuv::kCpuLevels)
//     if (lsuv::cpu_level_supported(level)) { (void)lsuv::set_cpu_level_limit(level); ... }
//
// Levels form one chain per architecture: ref < sse2 < avx2 < avx512 on x86-64, ref < neon on
// ARM (neon64 on aarch64, NEON with VFPv4 on armv7). Not thread-safe: change the limit while no
// other thread runs kernels.
//
// The CPU rule (cpu_level_rule() says which part applied): AVX-512 is used by default except on
// AMD family 19h (Zen 4), which executes each 512-bit operation as two 256-bit halves, so its
// FMA peak is the AVX2 one (measured on this project's Zen 4 machine): wider tiles gain no
// arithmetic there, so AVX2 stays the default; a limit of avx512 (LSUV_CPU=avx512) still selects
// it. The other AVX-512 cores this project has measured (Intel Xeon, AMD Zen 5) run 512-bit FMAs
// at twice the AVX2 rate (`lsuv bench` prints both peaks).
#pragma once

#include <cstdint>

#include "lsuv/status.hpp"

namespace lsuv {

enum class CpuLevel : std::uint8_t {
  ref,     // portable scalar C++ (the specification)
  sse2,    // x86-64 baseline, 4 floats per vector
  avx2,    // AVX2 with FMA, 8 floats per vector
  neon,    // ARM NEON (aarch64 or armv7 with VFPv4), 4 floats per vector
  avx512,  // AVX-512 F/CD/DQ/BW/VL, 16 floats per vector, 32 vector registers
};

// Every level of every architecture, lowest first within each chain.
inline constexpr CpuLevel kCpuLevels[] = {CpuLevel::ref, CpuLevel::sse2, CpuLevel::avx2,
                                          CpuLevel::avx512, CpuLevel::neon};

// "ref", "sse2", "avx2", "avx512", "neon"; never null ("unknown" for values outside the enum).
const char* cpu_level_name(CpuLevel level);

// The level the kernels run with now.
CpuLevel cpu_level();

// The best level this CPU and this build support, ignoring any limit and the CPU rule.
CpuLevel cpu_level_detected();

// The level used when no limit is set: cpu_level_detected() unless the CPU rule prefers a lower
// one on this core.
CpuLevel cpu_level_preferred();

// One line saying why cpu_level_preferred() is what it is (the CPU and the part of the rule that
// applied); never null.
const char* cpu_level_rule();

// True if kernels of this level are compiled in and the CPU can execute them.
bool cpu_level_supported(CpuLevel level);

// Caps the level used from now on at `limit`: the kernels switch to the best supported level
// not above it on this architecture's chain (so avx2 on a CPU without AVX2 selects sse2). An
// explicit limit overrides the CPU rule: avx512 on Zen 4 selects avx512.
// Errors: unsupported when `limit` belongs to another architecture (neon on x86, avx2 on ARM),
// invalid_argument for a value outside the enum; the level in use is then unchanged.
Status set_cpu_level_limit(CpuLevel limit);

// What became of LSUV_CPU when the tables were built: ok when it is unset or names a level of
// this architecture's chain; invalid_argument when it names none (the best level then stays in
// use, and a message naming the valid values went to stderr).
Status cpu_level_environment();

}  // namespace lsuv
