// CPU levels: which instruction set the kernels run with, and how to force a lower one.
//
// The kernel tables are filled once from CPU detection: the scalar reference first, then
// upgraded level by level to the best one the CPU has and this build compiled. A limit (this
// API, or the environment variable LSUV_CPU=ref|sse2|avx2|neon read once when the tables are
// first used) caps the level, so tests and benchmarks can run every level a machine has. A
// LSUV_CPU value that names no level of this architecture is reported on stderr and by
// cpu_level_environment(), never ignored silently:
//
//   for (lsuv::CpuLevel level : {lsuv::CpuLevel::ref, lsuv::CpuLevel::sse2, ...})
//     if (lsuv::cpu_level_supported(level)) { (void)lsuv::set_cpu_level_limit(level); ... }
//
// Levels form one chain per architecture: ref < sse2 < avx2 on x86-64, ref < neon on
// ARM (neon64 on aarch64, NEON with VFPv4 on armv7). Not thread-safe: change the limit while no
// other thread runs kernels.
#pragma once

#include <cstdint>

#include "lsuv/status.hpp"

namespace lsuv {

enum class CpuLevel : std::uint8_t {
  ref,     // portable scalar C++ (the specification)
  sse2,    // x86-64 baseline, 4 floats per vector
  avx2,    // AVX2 with FMA, 8 floats per vector
  neon,    // ARM NEON (aarch64 or armv7 with VFPv4), 4 floats per vector
};

// "ref", "sse2", "avx2", "neon"; never null ("unknown" for values outside the enum).
const char* cpu_level_name(CpuLevel level);

// The level the kernels run with now.
CpuLevel cpu_level();

// The best level this CPU and this build support, ignoring any limit.
CpuLevel cpu_level_detected();

// True if kernels of this level are compiled in and the CPU can execute them.
bool cpu_level_supported(CpuLevel level);

// Caps the level used from now on at `limit`: the kernels switch to the best supported level
// not above it on this architecture's chain (so avx2 on a CPU without AVX2 selects sse2).
// Errors: unsupported when `limit` belongs to another architecture (neon on x86, avx2 on ARM),
// invalid_argument for a value outside the enum; the level in use is then unchanged.
Status set_cpu_level_limit(CpuLevel limit);

// What became of LSUV_CPU when the tables were built: ok when it is unset or names a level of
// this architecture's chain; invalid_argument when it names none (the best level then stays in
// use, and a message naming the valid values went to stderr).
Status cpu_level_environment();

}  // namespace lsuv
