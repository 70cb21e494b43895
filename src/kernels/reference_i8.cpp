#include "kernels/reference_i8.hpp"

#include <cassert>
#include <cstdint>

#include "kernels/fixed_point.hpp"

namespace lsuv::kernels {
namespace {

[[maybe_unused]] constexpr bool valid_zero_point(std::int32_t z) {
  return z >= -128 && z <= 127;
}

[[maybe_unused]] constexpr bool valid_range(std::int32_t lo, std::int32_t hi) {
  return lo >= -128 && lo <= hi && hi <= 127;
}

[[maybe_unused]] constexpr bool valid_epilogue(const I8Epilogue& e) {
  return e.multiplier != nullptr && e.shift != nullptr && valid_zero_point(e.output_zero_point) &&
         valid_range(e.output_min, e.output_max);
}

// One value into running moments (Welford's update: exact to double rounding, and an update of
// existing moments is the same as merging the new values in).
void add_moment(ChannelMoments& m, double x) {
  ++m.count;
  const double delta = x - m.mean;
  m.mean += delta / static_cast<double>(m.count);
  m.m2 += delta * (x - m.mean);
}

// The epilogue of one output channel: moments of the accumulator, then requantisation.
std::int8_t store(std::int64_t sum, std::int32_t channel, const I8Epilogue& e) {
  assert(sum >= kInt32Min && sum <= kInt32Max);  // the accumulator contract
  const std::int32_t acc = static_cast<std::int32_t>(sum);
  if (e.accumulator_moments != nullptr)
    add_moment(e.accumulator_moments[channel], static_cast<double>(acc));
  const std::int32_t scaled =
      multiply_by_quantized_multiplier(acc, e.multiplier[channel], e.shift[channel]);
  return clamp_to_int8(static_cast<std::int64_t>(scaled) + e.output_zero_point, e.output_min,
                       e.output_max);
}

}  // namespace

void conv2d_i8_ref(const Conv2dParams& p, const std::int8_t* input, std::int32_t input_zero_point,
                   const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                   const I8Epilogue& epilogue, void* /*scratch*/) {
  assert(p.groups > 0 && p.in_c % p.groups == 0 && p.out_c % p.groups == 0);
  assert(p.stride_h > 0 && p.stride_w > 0 && p.dilation_h > 0 && p.dilation_w > 0);
  assert(valid_zero_point(input_zero_point) && valid_epilogue(epilogue));
  const std::int32_t group_in = p.in_c / p.groups;
  const std::int32_t group_out = p.out_c / p.groups;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    for (std::int32_t oy = 0; oy < p.out_h; ++oy) {
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        std::int8_t* out =
            output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.out_c;
        for (std::int32_t o = 0; o < p.out_c; ++o) {
          const std::int32_t g = o / group_out;
          std::int64_t sum = bias != nullptr ? bias[o] : 0;
          for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
            const std::int32_t iy = oy * p.stride_h - p.pad_h + ky * p.dilation_h;
            if (iy < 0 || iy >= p.in_h) continue;
            for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
              const std::int32_t ix = ox * p.stride_w - p.pad_w + kx * p.dilation_w;
              if (ix < 0 || ix >= p.in_w) continue;
              const std::int8_t* in =
                  input + ((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.in_c +
                  static_cast<std::size_t>(g) * group_in;
              const std::int8_t* w =
                  weights + (static_cast<std::size_t>(ky) * p.kernel_w + kx) * group_in * p.out_c +
                  o;
              for (std::int32_t i = 0; i < group_in; ++i)
                sum += static_cast<std::int32_t>(w[static_cast<std::size_t>(i) * p.out_c]) *
                       (in[i] - input_zero_point);
            }
          }
          out[o] = store(sum, o, epilogue);
        }
      }
    }
  }
}

std::size_t conv2d_scratch_bytes_i8_ref(const Conv2dParams& /*p*/) {
  return 0;
}

void linear_i8_ref(const LinearParams& p, const std::int8_t* input, std::int32_t input_zero_point,
                   const std::int8_t* weights, const std::int32_t* bias, std::int8_t* output,
                   const I8Epilogue& epilogue, void* /*scratch*/) {
  assert(p.batch >= 0 && p.in_features > 0 && p.out_features > 0);
  assert(valid_zero_point(input_zero_point) && valid_epilogue(epilogue));
  for (std::int32_t n = 0; n < p.batch; ++n) {
    const std::int8_t* in = input + static_cast<std::size_t>(n) * p.in_features;
    std::int8_t* out = output + static_cast<std::size_t>(n) * p.out_features;
    for (std::int32_t o = 0; o < p.out_features; ++o) {
      std::int64_t sum = bias != nullptr ? bias[o] : 0;
      for (std::int32_t i = 0; i < p.in_features; ++i)
        sum +=
            static_cast<std::int32_t>(weights[static_cast<std::size_t>(i) * p.out_features + o]) *
            (in[i] - input_zero_point);
      out[o] = store(sum, o, epilogue);
    }
  }
}

std::size_t linear_scratch_bytes_i8_ref(const LinearParams& /*p*/) {
  return 0;
}

void clamp_i8_ref(std::size_t n, const std::int8_t* input, std::int8_t* output, std::int32_t lo,
                  std::int32_t hi) {
  assert(valid_range(lo, hi));
  for (std::size_t i = 0; i < n; ++i) output[i] = clamp_to_int8(input[i], lo, hi);
}

void add_i8_ref(std::size_t n, const std::int8_t* const* inputs, const AddI8Params& a,
                std::int8_t* output) {
  assert(a.count >= 2 && a.count <= kMaxAddInputs && inputs != nullptr);
  assert(a.left_shift >= 0 && a.left_shift <= 20);
  assert(valid_zero_point(a.output_zero_point) && valid_range(a.output_min, a.output_max));
  for (std::int32_t k = 0; k < a.count; ++k)
    assert(valid_zero_point(a.input_zero_point[k]) && a.input_shift[k] <= 0);
  for (std::size_t i = 0; i < n; ++i) {
    // Each scaled input is below 2^28 in magnitude (multiplier below one): four sum in int32.
    std::int32_t sum = 0;
    for (std::int32_t k = 0; k < a.count; ++k) {
      const std::int32_t centred = (inputs[k][i] - a.input_zero_point[k]) * (1 << a.left_shift);
      sum += multiply_by_quantized_multiplier(centred, a.input_multiplier[k], a.input_shift[k]);
    }
    const std::int32_t scaled =
        multiply_by_quantized_multiplier(sum, a.output_multiplier, a.output_shift);
    output[i] = clamp_to_int8(static_cast<std::int64_t>(scaled) + a.output_zero_point, a.output_min,
                              a.output_max);
  }
}

namespace {
// The window of output (n, oy, ox) clipped to the input: calls visit(value) for each value of
// channel c inside it and returns how many there were.
template <class Visit>
std::int32_t visit_window(const Pool2dParams& p, const std::int8_t* input, std::int32_t n,
                          std::int32_t oy, std::int32_t ox, std::int32_t c, Visit visit) {
  std::int32_t inside = 0;
  for (std::int32_t ky = 0; ky < p.kernel_h; ++ky) {
    const std::int32_t iy = oy * p.stride_h - p.pad_h + ky;
    if (iy < 0 || iy >= p.in_h) continue;
    for (std::int32_t kx = 0; kx < p.kernel_w; ++kx) {
      const std::int32_t ix = ox * p.stride_w - p.pad_w + kx;
      if (ix < 0 || ix >= p.in_w) continue;
      visit(input[((static_cast<std::size_t>(n) * p.in_h + iy) * p.in_w + ix) * p.channels + c]);
      ++inside;
    }
  }
  return inside;
}

template <class Pool>
void pool2d(const Pool2dParams& p, std::int8_t* output, Pool pool) {
  assert(p.kernel_h > 0 && p.kernel_w > 0 && p.stride_h > 0 && p.stride_w > 0);
  for (std::int32_t n = 0; n < p.batch; ++n)
    for (std::int32_t oy = 0; oy < p.out_h; ++oy)
      for (std::int32_t ox = 0; ox < p.out_w; ++ox) {
        std::int8_t* out =
            output + ((static_cast<std::size_t>(n) * p.out_h + oy) * p.out_w + ox) * p.channels;
        for (std::int32_t c = 0; c < p.channels; ++c) out[c] = pool(n, oy, ox, c);
      }
}
}  // namespace

void max_pool2d_i8_ref(const Pool2dParams& p, const std::int8_t* input, std::int8_t* output) {
  pool2d(p, output, [&](std::int32_t n, std::int32_t oy, std::int32_t ox, std::int32_t c) {
    std::int8_t best = -128;
    visit_window(p, input, n, oy, ox, c, [&](std::int8_t x) { best = x > best ? x : best; });
    return best;
  });
}

void avg_pool2d_i8_ref(const Pool2dParams& p, const std::int8_t* input,
                       std::int32_t input_zero_point, std::int8_t* output) {
  assert(valid_zero_point(input_zero_point));
  const std::int32_t window = p.kernel_h * p.kernel_w;
  pool2d(p, output, [&](std::int32_t n, std::int32_t oy, std::int32_t ox, std::int32_t c) {
    std::int32_t sum = 0;
    const std::int32_t inside =
        visit_window(p, input, n, oy, ox, c, [&](std::int8_t x) { sum += x; });
    sum += (window - inside) * input_zero_point;
    return static_cast<std::int8_t>(rounded_division(sum, window));
  });
}

void global_avg_pool_i8_ref(std::int32_t batch, std::int32_t pixels, std::int32_t channels,
                            const std::int8_t* input, std::int8_t* output) {
  assert(pixels > 0 && pixels < (1 << 23) && channels > 0);
  for (std::int32_t n = 0; n < batch; ++n) {
    const std::int8_t* in = input + static_cast<std::size_t>(n) * pixels * channels;
    for (std::int32_t c = 0; c < channels; ++c) {
      std::int32_t sum = 0;
      for (std::int32_t i = 0; i < pixels; ++i)
        sum += in[static_cast<std::size_t>(i) * channels + c];
      output[static_cast<std::size_t>(n) * channels + c] =
          static_cast<std::int8_t>(rounded_division(sum, pixels));
    }
  }
}

}  // namespace lsuv::kernels
