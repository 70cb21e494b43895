// The backward kernel tables of the SIMD levels, one per per-ISA TU (f32_<isa>.cpp, compiled
// with that ISA's flags); backward_dispatch.cpp knows which exist from the LSUV_KERNELS_<ISA>
// macros the build sets. Each is a constant expression of the TU that defines it, so no code
// compiled for an ISA runs before the CPU check. Entries left null fall back to the level below.
#pragma once

#include "kernels/backward_dispatch.hpp"

namespace lsuv::kernels::simd {

extern const F32BackwardKernels kF32BackwardSse2;
extern const F32BackwardKernels kF32BackwardAvx2;
extern const F32BackwardKernels kF32BackwardAvx512;
extern const F32BackwardKernels kF32BackwardNeon;

}  // namespace lsuv::kernels::simd
