#include "lsuv/io/model_spec.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/model_spec_parser.hpp"
#include "io/regular_file.hpp"

namespace lsuv {
namespace {

bool same_inputs(const LayerSpec& a, const LayerSpec& b) {
  if (a.input_count != b.input_count || a.input_count < 0 || a.input_count > LayerSpec::kMaxInputs)
    return false;
  for (std::int32_t i = 0; i < a.input_count; ++i)
    if (!detail::same_layer_name(a.inputs[i], b.inputs[i])) return false;
  return true;
}

bool layers_equal(const LayerSpec& a, const LayerSpec& b) {
  if (a.kind != b.kind || !detail::same_layer_name(a.name, b.name) || !same_inputs(a, b))
    return false;
  const bool same_window = a.kernel_h == b.kernel_h && a.kernel_w == b.kernel_w &&
                           a.stride_h == b.stride_h && a.stride_w == b.stride_w &&
                           a.pad_h == b.pad_h && a.pad_w == b.pad_w;
  switch (a.kind) {
    case LayerKind::conv2d:
      return same_window && a.in_channels == b.in_channels && a.out_channels == b.out_channels &&
             a.dilation_h == b.dilation_h && a.dilation_w == b.dilation_w && a.groups == b.groups &&
             a.bias == b.bias;
    case LayerKind::linear:
      return a.in_channels == b.in_channels && a.out_channels == b.out_channels && a.bias == b.bias;
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d:
      return same_window;
    case LayerKind::relu:
    case LayerKind::relu6:
    case LayerKind::adaptive_avg_pool2d:
    case LayerKind::flatten:
      return true;
    case LayerKind::add:
      return a.relu == b.relu;
    case LayerKind::batch_norm2d:
      return a.in_channels == b.in_channels && a.out_channels == b.out_channels && a.eps == b.eps &&
             a.momentum == b.momentum;
    case LayerKind::hardtanh:
      return a.clamp_min == b.clamp_min && a.clamp_max == b.clamp_max;
  }
  return false;
}

// Appends to a caller's buffer like snprintf: counts everything, writes what fits.
class TextWriter {
 public:
  TextWriter(char* buffer, std::size_t capacity)
      : buffer_(buffer), capacity_(buffer == nullptr ? 0 : capacity) {}

  void print(const char* format, ...) __attribute__((format(printf, 2, 3))) {
    const std::size_t room = length_ < capacity_ ? capacity_ - length_ : 0;
    va_list args;
    va_start(args, format);
    const int n = std::vsnprintf(room > 0 ? buffer_ + length_ : nullptr, room, format, args);
    va_end(args);
    if (n > 0) length_ += static_cast<std::size_t>(n);
  }
  // `(h, w)`, or one number when both are equal.
  void size(std::int32_t h, std::int32_t w) {
    if (h == w)
      print("%d", static_cast<int>(h));
    else
      print("(%d, %d)", static_cast<int>(h), static_cast<int>(w));
  }
  void keyword_size(const char* keyword, std::int32_t h, std::int32_t w) {
    print(", %s=", keyword);
    size(h, w);
  }

  // The shortest decimal that reads back as the same float, with a decimal point as PyTorch
  // prints it: 1e-05, 0.1, -1.0.
  void real(float value) {
    char text[32] = "nan";  // NaN and infinities are written as words the parser refuses
    if (std::isfinite(value)) {
      for (int digits = 1; digits <= 9; ++digits) {
        std::snprintf(text, sizeof text, "%.*g", digits, static_cast<double>(value));
        if (std::strtof(text, nullptr) == value) break;
      }
      if (std::strpbrk(text, ".e") == nullptr) std::strcat(text, ".0");
    }
    print("%s", text);
  }

  std::size_t length() const { return length_; }
  bool fits() const { return length_ < capacity_; }

 private:
  char* buffer_;
  std::size_t capacity_;
  std::size_t length_ = 0;
};

// The module call, `Conv2d(...)`, without the name or the inputs.
void write_module(const LayerSpec& layer, TextWriter* out) {
  switch (layer.kind) {
    case LayerKind::conv2d:
      out->print("Conv2d(%d, %d, kernel_size=", static_cast<int>(layer.in_channels),
                 static_cast<int>(layer.out_channels));
      out->size(layer.kernel_h, layer.kernel_w);
      if (layer.stride_h != 1 || layer.stride_w != 1)
        out->keyword_size("stride", layer.stride_h, layer.stride_w);
      if (layer.pad_h != 0 || layer.pad_w != 0)
        out->keyword_size("padding", layer.pad_h, layer.pad_w);
      if (layer.dilation_h != 1 || layer.dilation_w != 1)
        out->keyword_size("dilation", layer.dilation_h, layer.dilation_w);
      if (layer.groups != 1) out->print(", groups=%d", static_cast<int>(layer.groups));
      if (!layer.bias) out->print(", bias=False");
      out->print(")");
      return;
    case LayerKind::linear:
      out->print("Linear(%d, %d%s)", static_cast<int>(layer.in_channels),
                 static_cast<int>(layer.out_channels), layer.bias ? "" : ", bias=False");
      return;
    case LayerKind::relu:
      out->print("ReLU()");
      return;
    case LayerKind::relu6:
      out->print("ReLU6()");
      return;
    case LayerKind::hardtanh:
      out->print("Hardtanh(min_val=");
      out->real(layer.clamp_min);
      out->print(", max_val=");
      out->real(layer.clamp_max);
      out->print(")");
      return;
    case LayerKind::batch_norm2d:
      out->print("BatchNorm2d(%d", static_cast<int>(layer.in_channels));
      if (layer.eps != LayerSpec{}.eps) {
        out->print(", eps=");
        out->real(layer.eps);
      }
      if (layer.momentum != LayerSpec{}.momentum) {
        out->print(", momentum=");
        out->real(layer.momentum);
      }
      out->print(")");
      return;
    case LayerKind::add:
      out->print(layer.relu ? "Add(relu=True)" : "Add()");
      return;
    case LayerKind::max_pool2d:
    case LayerKind::avg_pool2d:
      out->print("%s(kernel_size=",
                 layer.kind == LayerKind::max_pool2d ? "MaxPool2d" : "AvgPool2d");
      out->size(layer.kernel_h, layer.kernel_w);
      if (layer.stride_h != layer.kernel_h || layer.stride_w != layer.kernel_w)
        out->keyword_size("stride", layer.stride_h, layer.stride_w);
      if (layer.pad_h != 0 || layer.pad_w != 0)
        out->keyword_size("padding", layer.pad_h, layer.pad_w);
      out->print(")");
      return;
    case LayerKind::adaptive_avg_pool2d:
      out->print("AdaptiveAvgPool2d(1)");
      return;
    case LayerKind::flatten:
      out->print("Flatten()");
      return;
  }
  out->print("?");  // an invalid kind: the round-trip check below rejects it
}

void write_layer(const LayerSpec& layer, TextWriter* out) {
  out->print("%.*s: ", LayerSpec::kMaxNameLength, layer.name);
  write_module(layer, out);
  if (layer.input_count > 0) {
    const std::int32_t count =
        layer.input_count < LayerSpec::kMaxInputs ? layer.input_count : LayerSpec::kMaxInputs;
    for (std::int32_t i = 0; i < count; ++i)
      out->print("%s%.*s", i == 0 ? "(" : ", ", LayerSpec::kMaxNameLength, layer.inputs[i]);
    out->print(")");
  }
  out->print("\n");
}

}  // namespace

bool operator==(const ModelSpec& a, const ModelSpec& b) {
  if (a.input != b.input || a.layers.size() != b.layers.size()) return false;
  for (std::size_t i = 0; i < a.layers.size(); ++i)
    if (!layers_equal(a.layers[i], b.layers[i])) return false;
  return true;
}

Status parse_model_spec(const char* text, std::size_t length, ModelSpec* out, SpecError* error) {
  if (out == nullptr) return Status::invalid_argument;
  if (error != nullptr) *error = SpecError{};
  ModelSpec spec;
  LSUV_TRY(detail::parse_spec_text(text, length, &spec, error));
  *out = spec;
  return Status::ok;
}

Status load_model_spec(const char* path, ModelSpec* out, SpecError* error) {
  if (error != nullptr) *error = SpecError{};
  if (path == nullptr || out == nullptr) return Status::invalid_argument;
  int fd = -1;
  FileError file_error;
  const Status opened = detail::open_regular_file(path, &fd, &file_error);
  if (opened != Status::ok) {
    if (error != nullptr)
      std::snprintf(error->message, sizeof error->message, "%.120s", file_error.message);
    return opened;
  }
  std::FILE* file = fdopen(fd, "rb");
  if (file == nullptr) {
    close(fd);
    return Status::io_error;
  }
  std::vector<char> text;
  char chunk[4096];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0) {
    if (text.size() + n > kMaxModelSpecBytes) {
      std::fclose(file);
      return Status::size_overflow;
    }
    text.insert(text.end(), chunk, chunk + n);
  }
  const bool failed = std::ferror(file) != 0;
  std::fclose(file);
  if (failed) return Status::io_error;
  return parse_model_spec(text.data(), text.size(), out, error);
}

Status format_model_spec(const ModelSpec& spec, char* buffer, std::size_t capacity,
                         std::size_t* length) {
  if (length == nullptr) return Status::invalid_argument;
  if (spec.layers.empty()) return Status::invalid_argument;
  TextWriter out(buffer, capacity);
  const ImageShape input = spec.input;
  if (input != ImageShape{})
    out.print("input: %dx%dx%d\n", static_cast<int>(input.channels), static_cast<int>(input.height),
              static_cast<int>(input.width));
  for (const LayerSpec& layer : spec.layers) write_layer(layer, &out);
  *length = out.length();
  if (!out.fits()) return Status::arena_too_small;
  // The parser is the one definition of a valid spec: what it reads back differently (an
  // invalid name, a value out of range) was not representable.
  ModelSpec parsed;
  if (parse_model_spec(buffer, out.length(), &parsed, nullptr) != Status::ok || parsed != spec)
    return Status::invalid_argument;
  return Status::ok;
}

Status save_model_spec(const char* path, const ModelSpec& spec, FileError* error) {
  std::size_t length = 0;
  const Status sized = format_model_spec(spec, nullptr, 0, &length);
  if (sized != Status::arena_too_small && sized != Status::ok) return sized;
  std::vector<char> text(length + 1);
  LSUV_TRY(format_model_spec(spec, text.data(), text.size(), &length));
  return detail::write_file_atomically(
      path, [&](detail::FileSink& sink) { return sink.write(text.data(), length); }, error);
}

}  // namespace lsuv
