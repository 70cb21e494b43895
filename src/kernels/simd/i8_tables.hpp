// The int8 kernel tables of the SIMD levels, one per per-ISA TU (i8_<isa>.cpp, compiled with
// that ISA's flags); i8_dispatch.cpp knows which exist from the LSUV_KERNELS_I8_<ISA> macros the
// build sets. Each is a constant expression of the TU that defines it, so no code compiled for
// an ISA runs before the CPU check. Entries left null fall back to the level below (in an
// extension's table, to the same level's plain table).
#pragma once

#include "kernels/i8_dispatch.hpp"

namespace lsuv::kernels::simd {

extern const I8Kernels kI8KernelsSse41;       // madd_epi16 in 128 bits (SSE4.1, in the sse2 level)
extern const I8Kernels kI8KernelsAvx2;        // madd_epi16 on centred int16 activations
extern const I8Kernels kI8KernelsAvx512Vnni;  // vpdpbusd (AVX-512 F/BW/VL + VNNI)
extern const I8Kernels kI8KernelsNeon;        // vmull_s8 / vpadalq_s16 (armv7 and aarch64)
extern const I8Kernels kI8KernelsNeonDot;     // aarch64 sdot (vdotq_laneq_s32)

}  // namespace lsuv::kernels::simd
