// Clamp, add, per-channel affine, pooling and per-channel moments over NHWC data, vectorised over
// the channels. Included only by f32_kernels_impl.hpp (per-ISA TUs); internal linkage throughout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "kernels/params.hpp"
#include "kernels/reference.hpp"
#include "kernels/simd/fmadd.hpp"
#include "xsimd/xsimd.hpp"

namespace lsuv::kernels::simd {
namespace {

// x clamped to [lo, hi] with selects, not min/max: NaN stays NaN as in clamp_f32_ref (both
// comparisons are false for it).
template <class B>
B clamp_keeping_nan(const B& x, const B& lo, const B& hi) {
  return xsimd::select(x < lo, lo, xsimd::select(x > hi, hi, x));
}

inline float clamp_scalar(float x, float lo, float hi) {
  return x < lo ? lo : (x > hi ? hi : x);
}

template <class Arch>
void clamp_f32(std::size_t n, const float* input, float* output, float lo, float hi) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t W = B::size;
  const B vlo(lo), vhi(hi);
  std::size_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    for (std::size_t v = 0; v < 4; ++v) {
      const B x = B::load_unaligned(input + i + v * W);
      clamp_keeping_nan(x, vlo, vhi).store_unaligned(output + i + v * W);
    }
  }
  for (; i + W <= n; i += W)
    clamp_keeping_nan(B::load_unaligned(input + i), vlo, vhi).store_unaligned(output + i);
  for (; i < n; ++i) output[i] = clamp_scalar(input[i], lo, hi);
}

// The epilogue as a pass over stored data (memory-bound kernels): the reference's block moments,
// then the clamp.
template <class Arch>
void epilogue_simd(float* data, std::size_t rows, std::size_t channels,
                   const F32Epilogue& epilogue) {
  if (epilogue.moments != nullptr) {
    F32Epilogue moments_only;
    moments_only.moments = epilogue.moments;
    epilogue_f32_ref(data, rows, channels, moments_only);
  }
  if (clamps(epilogue))
    clamp_f32<Arch>(rows * channels, data, data, epilogue.clamp_min, epilogue.clamp_max);
}

// The sum of `count` inputs in input order (bit-exact to add_f32_ref). The clamp is fused when
// there are no moments to take first; with moments, the epilogue is a pass over the sums.
template <class Arch>
void add_f32(std::size_t rows, std::size_t channels, const float* const* inputs, std::int32_t count,
             float* output, const F32Epilogue& epilogue) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t W = B::size;
  const std::size_t n = rows * channels;
  const bool fuse_clamp = epilogue.moments == nullptr && clamps(epilogue);
  const float lo = epilogue.clamp_min, hi = epilogue.clamp_max;
  const B vlo(lo), vhi(hi);
  std::size_t i = 0;
  for (; i + W <= n; i += W) {
    B sum = B::load_unaligned(inputs[0] + i);
    for (std::int32_t k = 1; k < count; ++k) sum += B::load_unaligned(inputs[k] + i);
    if (fuse_clamp) sum = clamp_keeping_nan(sum, vlo, vhi);
    sum.store_unaligned(output + i);
  }
  for (; i < n; ++i) {
    float sum = inputs[0][i];
    for (std::int32_t k = 1; k < count; ++k) sum += inputs[k][i];
    output[i] = fuse_clamp ? clamp_scalar(sum, lo, hi) : sum;
  }
  if (epilogue.moments != nullptr) epilogue_simd<Arch>(output, rows, channels, epilogue);
}

// input * scale + shift per channel, one xsimd::fma per vector (fused where the ISA has it,
// so within a rounding of the reference's separate multiply and add).
template <class Arch>
void channel_affine_f32(std::size_t rows, std::size_t channels, const float* input,
                        const float* scale, const float* shift, float* output,
                        const F32Epilogue& epilogue) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::size_t W = B::size;
  const bool fuse_clamp = epilogue.moments == nullptr && clamps(epilogue);
  const float lo = epilogue.clamp_min, hi = epilogue.clamp_max;
  const B vlo(lo), vhi(hi);
  for (std::size_t r = 0; r < rows; ++r) {
    const float* in = input + r * channels;
    float* out = output + r * channels;
    std::size_t c = 0;
    for (; c + W <= channels; c += W) {
      B y = fmadd(B::load_unaligned(in + c), B::load_unaligned(scale + c),
                  B::load_unaligned(shift + c));
      if (fuse_clamp) y = clamp_keeping_nan(y, vlo, vhi);
      y.store_unaligned(out + c);
    }
    if (c < channels) {
      // The tail through one vector too, so every channel rounds as the vector lanes do.
      alignas(64) float x[W], s[W], b[W];
      const std::size_t tail = channels - c;
      for (std::size_t j = 0; j < W; ++j) {
        x[j] = j < tail ? in[c + j] : 0.0f;
        s[j] = j < tail ? scale[c + j] : 0.0f;
        b[j] = j < tail ? shift[c + j] : 0.0f;
      }
      B y = fmadd(B::load_aligned(x), B::load_aligned(s), B::load_aligned(b));
      if (fuse_clamp) y = clamp_keeping_nan(y, vlo, vhi);
      y.store_aligned(x);
      for (std::size_t j = 0; j < tail; ++j) out[c + j] = x[j];
    }
  }
  if (epilogue.moments != nullptr) epilogue_simd<Arch>(output, rows, channels, epilogue);
}

// Max keeps the reference's rule (a NaN in the window wins; !(x == x) because AVX compares
// x != x ordered, false for NaN) and avg its summation order (taps
// row by row, then one multiply), so both are bit-exact to it.
template <class Arch, bool Max>
void pool2d_f32(const Pool2dParams& p, const float* input, float* output) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  const float initial = Max ? -std::numeric_limits<float>::infinity() : 0.0f;
  const float inverse_window = 1.0f / static_cast<float>(p.kernel_h * p.kernel_w);
  const std::int32_t C = p.channels;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    const float* image = input + static_cast<std::size_t>(n) * p.in_h * p.in_w * C;
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      const std::int32_t y0 = oy * p.stride_h - p.pad_h;
      const std::int32_t y_begin = y0 < 0 ? 0 : y0;
      const std::int32_t y_end = y0 + p.kernel_h < p.in_h ? y0 + p.kernel_h : p.in_h;
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        const std::int32_t x0 = ox * p.stride_w - p.pad_w;
        const std::int32_t x_begin = x0 < 0 ? 0 : x0;
        const std::int32_t x_end = x0 + p.kernel_w < p.in_w ? x0 + p.kernel_w : p.in_w;
        float* out = output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * C;
        std::int32_t c = 0;
        for (; c + W <= C; c += W) {
          B acc(initial);
          for (std::int32_t iy = y_begin; iy < y_end; ++iy) {
            for (std::int32_t ix = x_begin; ix < x_end; ++ix) {
              const B x =
                  B::load_unaligned(image + (static_cast<std::size_t>(iy) * p.in_w + ix) * C + c);
              if (Max)
                acc = xsimd::select((x > acc) || !(x == x), x, acc);
              else
                acc = acc + x;
            }
          }
          if (!Max) acc = acc * B(inverse_window);
          acc.store_unaligned(out + c);
        }
        for (; c < C; ++c) {
          float acc = initial;
          for (std::int32_t iy = y_begin; iy < y_end; ++iy) {
            for (std::int32_t ix = x_begin; ix < x_end; ++ix) {
              const float x = image[(static_cast<std::size_t>(iy) * p.in_w + ix) * C + c];
              if (Max)
                acc = (x > acc || x != x) ? x : acc;
              else
                acc = acc + x;
            }
          }
          out[c] = Max ? acc : acc * inverse_window;
        }
      }
    }
  }
}

template <class Arch>
void global_avg_pool_f32(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                         const float* input, float* output) {
  using B = xsimd::batch<float, Arch>;
  constexpr std::int32_t W = static_cast<std::int32_t>(B::size);
  const float inverse = 1.0f / static_cast<float>(pixels);
  for (std::int32_t n = 0; n < batch; ++n) {
    const float* in = input + static_cast<std::size_t>(n) * pixels * channels;
    float* out = output + static_cast<std::size_t>(n) * channels;
    // Up to kChains channel vectors side by side: independent add chains, one pass over the
    // pixels, and each channel still summed in pixel order (bit-identical to the reference).
    constexpr std::int32_t kChains = 8;
    std::int32_t c = 0;
    while (c + W <= channels) {
      const std::int32_t vectors = channels - c >= kChains * W ? kChains : (channels - c) / W;
      B acc[kChains];
      for (std::int32_t v = 0; v < kChains; ++v) acc[v] = B(0.0f);
      for (std::int32_t i = 0; i < pixels; ++i) {
        const float* pixel = in + static_cast<std::size_t>(i) * channels + c;
        for (std::int32_t v = 0; v < kChains; ++v)
          if (v < vectors) acc[v] = acc[v] + B::load_unaligned(pixel + v * W);
      }
      for (std::int32_t v = 0; v < vectors; ++v)
        (acc[v] * B(inverse)).store_unaligned(out + c + v * W);
      c += vectors * W;
    }
    for (; c < channels; ++c) {
      float acc = 0.0f;
      for (std::int32_t i = 0; i < pixels; ++i)
        acc += in[static_cast<std::size_t>(i) * channels + c];
      out[c] = acc * inverse;
    }
  }
}

// Two passes in double over one channel's column of a block: the reference's arithmetic.
inline ChannelMoments column_moments(const float* block, std::size_t rows, std::size_t stride) {
  double sum = 0.0;
  for (std::size_t r = 0; r < rows; ++r) sum += block[r * stride];
  const double mean = sum / static_cast<double>(rows);
  double m2 = 0.0;
  for (std::size_t r = 0; r < rows; ++r) {
    const double d = block[r * stride] - mean;
    m2 += d * d;
  }
  return {rows, mean, m2};
}

// Loads of floats widened to doubles, per architecture; the generic case has none (ARMv7 NEON
// has no double vectors) and the moments fall back to scalar double.
template <class Arch>
struct WidenedLoad {
  static constexpr bool kAvailable = false;
};
#if XSIMD_WITH_SSE2
template <>
struct WidenedLoad<xsimd::sse2> {
  static constexpr bool kAvailable = true;
  using D = xsimd::batch<double, xsimd::sse2>;
  static D load(const float* p) {
    return _mm_cvtps_pd(_mm_loadl_pi(_mm_setzero_ps(), reinterpret_cast<const __m64*>(p)));
  }
};
#endif
#if XSIMD_WITH_FMA3_AVX2
template <>
struct WidenedLoad<xsimd::fma3<xsimd::avx2>> {
  static constexpr bool kAvailable = true;
  using D = xsimd::batch<double, xsimd::fma3<xsimd::avx2>>;
  static D load(const float* p) { return _mm256_cvtps_pd(_mm_loadu_ps(p)); }
};
#endif
#if XSIMD_WITH_NEON64
template <>
struct WidenedLoad<xsimd::neon64> {
  static constexpr bool kAvailable = true;
  using D = xsimd::batch<double, xsimd::neon64>;
  static D load(const float* p) { return vcvt_f64_f32(vld1_f32(p)); }
};
#endif

// Per-channel moments with the reference's arithmetic (two passes in double over blocks of 256
// rows, merged with Chan's formula), vectorised over channels in double: the contract of
// add_channel_moments (and RunningStats) is exactness to double rounding, which float partial
// sums would not keep.
template <class Arch>
void add_channel_moments_f32(const float* data, std::size_t rows, std::size_t channels,
                             ChannelMoments* moments) {
  constexpr std::size_t kBlockRows = 256;
  for (std::size_t first = 0; first < rows; first += kBlockRows) {
    const std::size_t n = rows - first < kBlockRows ? rows - first : kBlockRows;
    const float* block = data + first * channels;
    std::size_t c = 0;
    if constexpr (WidenedLoad<Arch>::kAvailable) {
      using Load = WidenedLoad<Arch>;
      using D = typename Load::D;
      constexpr std::size_t W = D::size;
      alignas(64) double mean[W], m2[W];
      const D inverse_n(1.0 / static_cast<double>(n));
      for (; c + W <= channels; c += W) {
        D sum(0.0);
        for (std::size_t r = 0; r < n; ++r) sum += Load::load(block + r * channels + c);
        const D m = sum * inverse_n;
        D acc(0.0);
        for (std::size_t r = 0; r < n; ++r) {
          const D d = Load::load(block + r * channels + c) - m;
          acc = fmadd(d, d, acc);
        }
        m.store_aligned(mean);
        acc.store_aligned(m2);
        for (std::size_t lane = 0; lane < W; ++lane)
          merge_moments(moments[c + lane], {n, mean[lane], m2[lane]});
      }
    }
    for (; c < channels; ++c) merge_moments(moments[c], column_moments(block + c, n, channels));
  }
}

}  // namespace
}  // namespace lsuv::kernels::simd
