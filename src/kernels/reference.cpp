#include "kernels/reference.hpp"

#include <cassert>
#include <cstdint>
#include <limits>

namespace lsuv::kernels {

void conv2d_f32_ref(const Conv2dParams& p, const float* input, const float* weights,
                    const float* bias, float* output, const F32Epilogue& epilogue,
                    void* /*scratch*/) {
  assert(p.groups > 0 && p.in_c % p.groups == 0 && p.out_c % p.groups == 0);
  assert(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        float* out =
            output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.out_c;
        for (std::int32_t o = 0; o < p.out_c; ++o) {
          const std::int32_t g = o / group_out;
          float sum = bias != nullptr ? bias[o] : 0.0f;
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const std::int32_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
            if (iy < 0 || iy >= p.in_h) continue;
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
              if (ix < 0 || ix >= p.in_w) continue;
              const float* in =
                  input + ((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.in_c +
                  static_cast<std::size_t>(g) * group_in;
              const float* w =
                  weights + (static_cast<std::size_t>(ky) * p.kernel_w + kx) * group_in * p.out_c +
                  o;
              for (std::int32_t i = 0; i < group_in; ++i)
                sum += in[i] * w[static_cast<std::size_t>(i) * p.out_c];
            }
          }
          out[o] = sum;
        }
      }
    }
  }
  epilogue_f32_ref(output, static_cast<std::size_t>(p.batch) * p.out_h * p.out_w,
                   static_cast<std::size_t>(p.out_c), epilogue);
}

std::size_t conv2d_scratch_bytes_f32_ref(const Conv2dParams& /*p*/) {
  return 0;
}

void linear_f32_ref(const LinearParams& p, const float* input, const float* weights,
                    const float* bias, float* output, const F32Epilogue& epilogue,
                    void* /*scratch*/) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  for (std::int32_t n = 0; n < p.batch; ++n) {
    const float* in = input + static_cast<std::size_t>(n) * p.in_features;
    float* out = output + static_cast<std::size_t>(n) * p.out_features;
    for (std::int32_t o = 0; o < p.out_features; ++o) {
      float sum = bias != nullptr ? bias[o] : 0.0f;
      for (std::int32_t i = 0; i < p.in_features; ++i)
        sum += in[i] * weights[static_cast<std::size_t>(i) * p.out_features + o];
      out[o] = sum;
    }
  }
  epilogue_f32_ref(output, static_cast<std::size_t>(p.batch),
                   static_cast<std::size_t>(p.out_features), epilogue);
}

std::size_t linear_scratch_bytes_f32_ref(const LinearParams& /*p*/) {
  return 0;
}

void clamp_f32_ref(std::size_t n, const float* input, float* output, float lo, float hi) {
  // NaN stays NaN (as in PyTorch): both comparisons are false for NaN. A zero's sign passes
  // through ReLU ({0, +inf}): -0.0 < 0 is false.
  for (std::size_t i = 0; i < n; ++i) {
    const float x = input[i];
    output[i] = x < lo ? lo : (x > hi ? hi : x);
  }
}

void add_f32_ref(std::size_t rows, std::size_t channels, const float* const* inputs,
                 std::int32_t count, float* output, const F32Epilogue& epilogue) {
  assert(count >= 2 && count <= 4 && inputs != nullptr);
  const std::size_t n = rows * channels;
  for (std::size_t i = 0; i < n; ++i) {
    float sum = inputs[0][i];
    for (std::int32_t k = 1; k < count; ++k) sum += inputs[k][i];
    output[i] = sum;
  }
  epilogue_f32_ref(output, rows, channels, epilogue);
}

void channel_affine_f32_ref(std::size_t rows, std::size_t channels, const float* input,
                            const float* scale, const float* shift, float* output,
                            const F32Epilogue& epilogue) {
  assert(channels > 0 && scale != nullptr && shift != nullptr);
  for (std::size_t r = 0; r < rows; ++r) {
    const float* in = input + r * channels;
    float* out = output + r * channels;
    for (std::size_t c = 0; c < channels; ++c) out[c] = in[c] * scale[c] + shift[c];
  }
  epilogue_f32_ref(output, rows, channels, epilogue);
}

namespace {
template <class Reduce, class Finish>
void pool2d(const Pool2dParams& p, const float* input, float* output, float initial, Reduce reduce,
            Finish finish) {
  assert(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0);
  for (std::int32_t n = 0; n < p.batch; ++n) {
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        float* out =
            output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.channels;
        for (std::int32_t c = 0; c < p.channels; ++c) {
          float acc = initial;
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const std::int32_t iy = oy * p.stride_h - p.pad_h + ky;
            if (iy < 0 || iy >= p.in_h) continue;
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t ix = ox * p.stride_w - p.pad_w + kx;
              if (ix < 0 || ix >= p.in_w) continue;
              acc = reduce(
                  acc,
                  input[((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.channels +
                        c]);
            }
          }
          out[c] = finish(acc);
        }
      }
    }
  }
}
}  // namespace

void max_pool2d_f32_ref(const Pool2dParams& p, const float* input, float* output) {
  // A NaN in the window wins, as in PyTorch.
  pool2d(
      p, input, output, -std::numeric_limits<float>::infinity(),
      [](float acc, float x) { return (x > acc || x != x) ? x : acc; },
      [](float acc) { return acc; });
}

void avg_pool2d_f32_ref(const Pool2dParams& p, const float* input, float* output) {
  const float inverse_window = 1.0f / static_cast<float>(p.kernel_h * p.kernel_w);
  pool2d(
      p, input, output, 0.0f, [](float acc, float x) { return acc + x; },
      [inverse_window](float acc) { return acc * inverse_window; });
}

void global_avg_pool_f32_ref(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                             const float* input, float* output) {
  assert(pixels > 0 && channels > 0);
  const float inverse = 1.0f / static_cast<float>(pixels);
  for (std::int32_t n = 0; n < batch; ++n) {
    float* out = output + static_cast<std::size_t>(n) * channels;
    for (std::int32_t c = 0; c < channels; ++c) out[c] = 0.0f;
    const float* in = input + static_cast<std::size_t>(n) * pixels * channels;
    for (std::int32_t i = 0; i < pixels; ++i)
      for (std::int32_t c = 0; c < channels; ++c)
        out[c] += in[static_cast<std::size_t>(i) * channels + c];
    for (std::int32_t c = 0; c < channels; ++c) out[c] *= inverse;
  }
}

}  // namespace lsuv::kernels
