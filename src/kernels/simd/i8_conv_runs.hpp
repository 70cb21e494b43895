// The geometry of the int8 indirect convolutions (i8_vnni_conv.hpp, i8_avx2_conv.hpp): each
// image is encoded once into a copy padded with the encoded zero point, so the reduction of an
// output pixel is a few contiguous runs of that copy reached through pointers. With no
// horizontal dilation a kernel row's kernel_w pixels of in_c channels are one run (so any
// channel count works, and a first layer's 5-pixel rows of one channel are one run, not five
// taps); with dilation each tap is a run. A run is padded to whole units of the dot product's
// group (4 bytes for vpdpbusd, 2 int16 for vpmaddwd) with zero weights, so a run may read up to
// unit - 1 elements past its end: the padded copy keeps that much slack after it.
//
// Included only by the int8 indirect convolutions; everything has internal linkage.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/params.hpp"
#include "kernels/simd/sizes.hpp"

namespace lsuv::kernels::simd {
namespace {

constexpr std::int32_t kIndirectMaxRuns = 64;

struct ConvRuns {
  std::int32_t runs;     // per output pixel
  std::int32_t length;   // elements of one run
  std::int32_t units;    // units of one run (length rounded up)
  std::int32_t per_row;  // runs per kernel row (1, or kernel_w)
};

template <std::int32_t Unit>
constexpr ConvRuns conv_runs(const Conv2dParams& p) {
  ConvRuns r{};
  r.per_row = p.dilation_w == 1 ? 1 : p.kernel_w;
  r.runs = p.kernel_h * r.per_row;
  r.length = p.dilation_w == 1 ? p.kernel_w * p.in_c : p.in_c;
  r.units = (r.length + Unit - 1) / Unit;
  return r;
}

// The padded image's rows and columns.
struct PaddedImage {
  std::int32_t h, w;
};

constexpr PaddedImage padded_image(const Conv2dParams& p) {
  return {p.in_h + 2 * p.pad_h, p.in_w + 2 * p.pad_w};
}

// The scratch of an indirect convolution whose dot product takes Unit elements of ElementBytes
// bytes at a time and whose column blocks are Cols wide: packed weights ([column block][unit]
// [Cols columns][Unit elements]), each column's offset (bias and corrections), the encoded
// padded image with Unit elements of slack after it (a last run's padding elements, whose
// weights are zero).
struct IndirectLayout {
  ConvRuns r;
  std::int32_t units;   // all runs' units
  std::int32_t blocks;  // column blocks
  std::size_t panel, offsets, image, bytes;
};

template <std::int32_t Unit, std::int32_t Cols, std::size_t ElementBytes>
constexpr IndirectLayout indirect_layout(const Conv2dParams& p) {
  IndirectLayout l{};
  l.r = conv_runs<Unit>(p);
  l.units = l.r.runs * l.r.units;
  l.blocks = (p.out_c + Cols - 1) / Cols;
  const PaddedImage g = padded_image(p);
  l.panel = 0;
  l.offsets = align_up(static_cast<std::size_t>(l.blocks) * l.units * Cols * Unit * ElementBytes);
  l.image = l.offsets + align_up(static_cast<std::size_t>(l.blocks) * Cols * 4);
  l.bytes =
      l.image + align_up((static_cast<std::size_t>(g.h) * g.w * p.in_c + Unit) * ElementBytes);
  return l;
}

// Element offset of each run from an output pixel's window corner in the padded image.
inline void conv_run_offsets(const Conv2dParams& p, const ConvRuns& r, std::size_t* offsets) {
  const std::size_t padded_w = static_cast<std::size_t>(padded_image(p).w);
  for (std::int32_t t = 0; t < r.runs; ++t)
    offsets[t] = (static_cast<std::size_t>(t / r.per_row) * p.dilation_h * padded_w +
                  static_cast<std::size_t>(t % r.per_row) * p.dilation_w) *
                 p.in_c;
}

// The driver of an indirect convolution over layout l (indirect_layout<Unit, Cols, ...>):
// pack(panel, offsets) packs the weights once a call; then for each image encode(image,
// padded) fills the padded copy and block(index, block_panel, block_offsets, padded,
// run_offset, image_out) computes column block `index` of the image's output.
template <std::int32_t Unit, std::int32_t Cols, class Weight, class Element, class Pack,
          class Encode, class Block>
void run_indirect_conv(const Conv2dParams& p, const IndirectLayout& l, const std::int8_t* input,
                       std::int8_t* output, void* scratch, Pack pack, Encode encode, Block block) {
  unsigned char* bytes = static_cast<unsigned char*>(scratch);
  auto* panel = reinterpret_cast<Weight*>(bytes + l.panel);
  auto* offsets = reinterpret_cast<std::int32_t*>(bytes + l.offsets);
  auto* padded = reinterpret_cast<Element*>(bytes + l.image);
  pack(panel, offsets);
  std::size_t run_offset[kIndirectMaxRuns];
  conv_run_offsets(p, l.r, run_offset);
  const std::size_t image_in = static_cast<std::size_t>(p.in_h) * p.in_w * p.in_c;
  const std::size_t image_out = static_cast<std::size_t>(p.out_h) * p.out_w * p.out_c;
  const std::size_t block_weights = static_cast<std::size_t>(l.units) * Cols * Unit;
  for (std::int32_t n = 0; n < p.batch; ++n) {
    encode(input + n * image_in, padded);
    for (std::int32_t b = 0; b < l.blocks; ++b)
      block(b, panel + b * block_weights, offsets + b * Cols, padded, run_offset,
            output + n * image_out);
  }
}

// The window corners of output pixels m0 .. m0 + Rows - 1 of one image (`rows` of them real;
// the others repeat the last, so a tile computes only pixels that exist).
template <std::int32_t Rows, class T>
void window_corners(const Conv2dParams& p, const T* padded, std::int32_t m0, std::int32_t rows,
                    const T** corner) {
  const std::size_t padded_w = static_cast<std::size_t>(padded_image(p).w);
  for (std::int32_t r = 0; r < Rows; ++r) {
    const std::int32_t m = m0 + min_of(r, rows - 1);
    const std::int32_t oy = m / p.out_w, ox = m % p.out_w;
    corner[r] = padded + (static_cast<std::size_t>(oy) * p.stride_h * padded_w +
                          static_cast<std::size_t>(ox) * p.stride_w) *
                             p.in_c;
  }
}

// The runs (bit t for run t) that lie in the vertical padding for every output pixel from m
// to m + rows - 1 of an image: they add only encoded zero points, i.e. nothing, and the tiles
// skip them, as the reference skips such taps.
inline std::uint64_t padding_runs(const Conv2dParams& p, const ConvRuns& r, std::int32_t m,
                                  std::int32_t rows) {
  const std::int32_t first = m / p.out_w * p.stride_h - p.pad_h;
  const std::int32_t last = (m + rows - 1) / p.out_w * p.stride_h - p.pad_h;
  std::uint64_t skip = 0;
  for (std::int32_t t = 0; t < r.runs; ++t) {
    const std::int32_t dy = t / r.per_row * p.dilation_h;
    if (last + dy < 0 || first + dy >= p.in_h) skip |= std::uint64_t{1} << t;
  }
  return skip;
}

// Calls tile(corner, rows, skip, out) for one image's output pixels, Rows at a time: corner the
// tile's window corners (window_corners), rows how many are real, skip its padding_runs, out
// the output of its first pixel at column o0.
template <std::int32_t Rows, class T, class Tile>
void for_each_pixel_tile(const Conv2dParams& p, const ConvRuns& r, const T* padded, std::int32_t o0,
                         std::int8_t* image_out, Tile tile) {
  const std::int32_t pixels = p.out_h * p.out_w;
  for (std::int32_t m0 = 0; m0 < pixels; m0 += Rows) {
    const std::int32_t rows = min_of(Rows, pixels - m0);
    const T* corner[Rows];
    window_corners<Rows>(p, padded, m0, rows, corner);
    tile(corner, rows, padding_runs(p, r, m0, rows),
         image_out + static_cast<std::size_t>(m0) * p.out_c + o0);
  }
}

// Fills the padded copy of one NHWC image, g.h x g.w pixels (at least padded_image(p); the
// image starts at row pad_h, column pad_w): the border gets `border`, each image row's
// in_w * in_c elements go through encode_row(source, n, destination).
template <class T, class EncodeRow>
void fill_padded_image(const Conv2dParams& p, PaddedImage g, const std::int8_t* image, T border,
                       T* padded, EncodeRow encode_row) {
  const std::size_t row_elements = static_cast<std::size_t>(g.w) * p.in_c;
  const std::size_t side = static_cast<std::size_t>(p.pad_w) * p.in_c;
  const std::size_t n = static_cast<std::size_t>(p.in_w) * p.in_c;
  for (std::int32_t y = 0; y < g.h; ++y) {
    T* dst = padded + static_cast<std::size_t>(y) * row_elements;
    const std::int32_t iy = y - p.pad_h;
    if (iy < 0 || iy >= p.in_h) {
      for (std::size_t i = 0; i < row_elements; ++i) dst[i] = border;
      continue;
    }
    for (std::size_t i = 0; i < side; ++i) dst[i] = border;
    encode_row(image + static_cast<std::size_t>(iy) * n, n, dst + side);
    for (std::size_t k = side + n; k < row_elements; ++k) dst[k] = border;
  }
}

}  // namespace
}  // namespace lsuv::kernels::simd
