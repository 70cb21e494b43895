// Orthonormal factor of a QR decomposition (Householder), in caller-provided memory.
#pragma once

#include <cstdint>

namespace lsuv::detail {

// Overwrites the m x n matrix `a` (column-major: element (i, j) at a[j * m + i], m >= n >= 1)
// with the Q of its thin QR decomposition A = Q R, each column of Q multiplied by the sign of
// R's diagonal entry (as torch.nn.init.orthogonal_ does), so that R has a non-negative diagonal
// and Q is the unique factor of a full-rank A. `workspace` holds 2 * n doubles.
void orthonormalize_columns(double* a, std::int32_t m, std::int32_t n, double* workspace);

}  // namespace lsuv::detail
