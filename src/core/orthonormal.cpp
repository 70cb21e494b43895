#include "core/orthonormal.hpp"

#include <cmath>
#include <cstddef>

namespace lsuv::detail {
namespace {

// Applies H = I - tau v v^T (v = [1, a[k+1..m)] of column k) to rows k.. of columns
// [first, n) of the column-major m x n matrix.
void apply_reflector(double* a, std::int32_t m, std::int32_t n, std::int32_t k, double tau,
                     std::int32_t first) {
  const double* v = a + static_cast<std::size_t>(k) * m;
  for (std::int32_t j = first; j < n; ++j) {
    double* column = a + static_cast<std::size_t>(j) * m;
    double dot = column[k];
    for (std::int32_t i = k + 1; i < m; ++i) dot += v[i] * column[i];
    const double scaled = tau * dot;
    column[k] -= scaled;
    for (std::int32_t i = k + 1; i < m; ++i) column[i] -= scaled * v[i];
  }
}

}  // namespace

void orthonormalize_columns(double* a, std::int32_t m, std::int32_t n, double* workspace) {
  double* tau = workspace;
  double* r_sign = workspace + n;

  // Factor: column k becomes R's diagonal entry over the reflector's tail, v = [1, tail]
  // (LAPACK's dgeqr2 convention: H x = beta e1 with beta of the opposite sign to x0, which
  // avoids cancellation in x0 - beta).
  for (std::int32_t k = 0; k < n; ++k) {
    double* x = a + static_cast<std::size_t>(k) * m;
    double tail_squares = 0.0;
    for (std::int32_t i = k + 1; i < m; ++i) tail_squares += x[i] * x[i];
    const double x0 = x[k];
    if (tail_squares == 0.0) {
      tau[k] = 0.0;  // already a multiple of e1: H = I
      r_sign[k] = x0 < 0.0 ? -1.0 : 1.0;
      continue;
    }
    const double norm = std::sqrt(x0 * x0 + tail_squares);
    const double beta = x0 >= 0.0 ? -norm : norm;
    tau[k] = (beta - x0) / beta;
    const double inverse_pivot = 1.0 / (x0 - beta);
    for (std::int32_t i = k + 1; i < m; ++i) x[i] *= inverse_pivot;
    x[k] = beta;
    r_sign[k] = beta < 0.0 ? -1.0 : 1.0;
    apply_reflector(a, m, n, k, tau[k], k + 1);
  }

  // Form Q = H0 H1 ... H(n-1) applied to the first n columns of I, in place from the last
  // reflector back (LAPACK's dorg2r): column k is still reflector k's vector when H(k) is applied
  // to the columns after it, which already hold Q's.
  for (std::int32_t k = n - 1; k >= 0; --k) {
    double* column = a + static_cast<std::size_t>(k) * m;
    apply_reflector(a, m, n, k, tau[k], k + 1);
    for (std::int32_t i = k + 1; i < m; ++i) column[i] *= -tau[k];
    column[k] = 1.0 - tau[k];
    for (std::int32_t i = 0; i < k; ++i) column[i] = 0.0;
  }

  for (std::int32_t k = 0; k < n; ++k) {
    if (r_sign[k] > 0.0) continue;
    double* column = a + static_cast<std::size_t>(k) * m;
    for (std::int32_t i = 0; i < m; ++i) column[i] = -column[i];
  }
}

}  // namespace lsuv::detail
