#include "lsuv/io/quantized_file.hpp"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "io/atomic_file.hpp"
#include "lsuv/io/checkpoint.hpp"

namespace lsuv {
namespace {

constexpr char kMagic[8] = {'L', 'S', 'U', 'V', 'Q', '8', '\r', '\n'};
constexpr std::size_t kHeaderBytes = 8 + 4 * 5;
constexpr std::size_t kOpRecordBytes = 15 * 4;

class Writer {
 public:
  explicit Writer(std::vector<unsigned char>* out) : out_(out) {}
  void u32(std::uint32_t v) {
    for (int k = 0; k < 4; ++k) out_->push_back(static_cast<unsigned char>(v >> (8 * k)));
  }
  void i32(std::int32_t v) { u32(static_cast<std::uint32_t>(v)); }
  void f32(float v) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &v, 4);
    u32(bits);
  }
  void bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    out_->insert(out_->end(), p, p + n);
  }

 private:
  std::vector<unsigned char>* out_;
};

class Reader {
 public:
  Reader(const unsigned char* data, std::size_t size) : data_(data), size_(size) {}
  bool has(std::size_t n) const { return n <= size_ - at_; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int k = 0; k < 4; ++k) v |= static_cast<std::uint32_t>(data_[at_ + k]) << (8 * k);
    at_ += 4;
    return v;
  }
  std::int32_t i32() { return static_cast<std::int32_t>(u32()); }
  float f32() {
    const std::uint32_t bits = u32();
    float v = 0.0f;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  const unsigned char* take(std::size_t n) {
    const unsigned char* p = data_ + at_;
    at_ += n;
    return p;
  }
  std::size_t remaining() const { return size_ - at_; }

 private:
  const unsigned char* data_;
  std::size_t size_;
  std::size_t at_ = 0;
};

Status fail(FileError* error, Status status, const char* format, ...)
    __attribute__((format(printf, 3, 4)));
Status fail(FileError* error, Status status, const char* format, ...) {
  if (error != nullptr) {
    va_list args;
    va_start(args, format);
    std::vsnprintf(error->message, sizeof error->message, format, args);
    va_end(args);
  }
  return status;
}

}  // namespace

Status encode_quantized_model(const ModelSpec& spec, const QuantizedModel& model,
                              std::vector<unsigned char>* out) {
  if (out == nullptr) return Status::invalid_argument;
  if (!model.bound()) return Status::not_bound;
  if (spec.count() != model.layer_count() || spec.input != model.input_shape())
    return Status::invalid_argument;
  for (std::int32_t i = 0; i < spec.count(); ++i)
    if (spec.layers[static_cast<std::size_t>(i)].kind != model.layer(i).spec.kind ||
        std::strcmp(spec.layers[static_cast<std::size_t>(i)].name, model.layer(i).spec.name) != 0)
      return Status::invalid_argument;
  std::size_t length = 0;
  if (format_model_spec(spec, nullptr, 0, &length) != Status::arena_too_small)
    return Status::invalid_argument;
  std::vector<char> text(length + 1);
  LSUV_TRY(format_model_spec(spec, text.data(), text.size(), &length));
  std::vector<unsigned char> bytes;
  Writer w(&bytes);
  w.bytes(kMagic, sizeof kMagic);
  w.u32(kQuantizedFileVersion);
  w.u32(static_cast<std::uint32_t>(length));
  w.u32(static_cast<std::uint32_t>(model.layer_count()));
  w.f32(model.input_quant().scale);
  w.i32(model.input_quant().zero_point);
  w.bytes(text.data(), length);
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const QuantizedLayer& l = model.layer(i);
    w.f32(l.output_quant.scale);
    w.i32(l.output_quant.zero_point);
    w.i32(l.output_min);
    w.i32(l.output_max);
    w.i32(l.add_left_shift);
    for (std::int32_t m : l.add_multiplier) w.i32(m);
    for (std::int32_t s : l.add_shift) w.i32(s);
    w.i32(l.add_output_multiplier);
    w.i32(l.add_output_shift);
  }
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const QuantizedLayer& l = model.layer(i);
    if (l.channels == 0) continue;
    w.u32(static_cast<std::uint32_t>(l.channels));
    w.u32(static_cast<std::uint32_t>(l.weight_count));
    w.bytes(l.weights, l.weight_count);
    for (std::int32_t o = 0; o < l.channels; ++o) w.i32(l.bias[o]);
    for (std::int32_t o = 0; o < l.channels; ++o) w.f32(l.weight_scale[o]);
    for (std::int32_t o = 0; o < l.channels; ++o) w.i32(l.multiplier[o]);
    for (std::int32_t o = 0; o < l.channels; ++o) w.i32(l.shift[o]);
  }
  w.u32(crc32(bytes.data(), bytes.size()));
  *out = std::move(bytes);
  return Status::ok;
}

Status save_quantized_model(const char* path, const ModelSpec& spec, const QuantizedModel& model,
                            FileError* error) {
  std::vector<unsigned char> bytes;
  LSUV_TRY(encode_quantized_model(spec, model, &bytes));
  return detail::write_file_atomically(
      path, [&](detail::FileSink& sink) { return sink.write(bytes.data(), bytes.size()); }, error);
}

Status QuantizedModelFile::parse(const unsigned char* data, std::size_t size,
                                 std::int32_t max_batch, FileError* error) {
  if (error != nullptr) *error = FileError();
  if ((data == nullptr && size > 0) || max_batch < 1) return Status::invalid_argument;
  static const unsigned char kNothing = 0;
  if (data == nullptr) data = &kNothing;
  Reader r(data, size);
  if (!r.has(8) || std::memcmp(r.take(8), kMagic, 8) != 0)
    return fail(error, size < 8 ? Status::truncated : Status::bad_format,
                "not an lsuv int8 model file (no LSUVQ8 magic)");
  if (!r.has(kHeaderBytes - 8 + 4))
    return fail(error, Status::truncated, "the header is cut short");
  const std::uint32_t version = r.u32();
  if (version != kQuantizedFileVersion)
    return fail(error, Status::unsupported, "file version %u, this lsuv reads version %u",
                static_cast<unsigned>(version), static_cast<unsigned>(kQuantizedFileVersion));
  const std::uint32_t spec_bytes = r.u32();
  const std::uint32_t op_count = r.u32();
  QuantParams input;
  input.scale = r.f32();
  input.zero_point = r.i32();
  if (spec_bytes > kMaxModelSpecBytes || !r.has(static_cast<std::size_t>(spec_bytes) + 4))
    return fail(error, Status::truncated, "the spec (%u bytes) runs past the end of the file",
                static_cast<unsigned>(spec_bytes));
  const std::uint32_t stored_crc = static_cast<std::uint32_t>(data[size - 4]) |
                                   static_cast<std::uint32_t>(data[size - 3]) << 8 |
                                   static_cast<std::uint32_t>(data[size - 2]) << 16 |
                                   static_cast<std::uint32_t>(data[size - 1]) << 24;
  if (crc32(data, size - 4) != stored_crc)
    return fail(error, Status::bad_format, "CRC mismatch: the file is damaged or truncated");

  ModelSpec spec;
  SpecError spec_error;
  const auto* text = reinterpret_cast<const char*>(r.take(spec_bytes));
  if (parse_model_spec(text, spec_bytes, &spec, &spec_error) != Status::ok)
    return fail(error, Status::bad_format, "its spec does not parse: %s", spec_error.message);
  if (spec.input.elements() == 0)
    return fail(error, Status::bad_format, "its spec has no input line");
  if (op_count != static_cast<std::uint32_t>(spec.count()))
    return fail(error, Status::bad_format, "the header says %u ops, the spec has %d",
                static_cast<unsigned>(op_count), spec.count());

  std::vector<unsigned char> float_graph(Model::graph_bytes(spec.count()) + Arena::kAlignment);
  Arena float_arena(float_graph.data(), float_graph.size());
  Model network;
  ConfigureError why;
  const Status configured =
      network.configure(spec.layers.data(), spec.count(), spec.input, max_batch, float_arena, &why);
  if (configured != Status::ok)
    return fail(error, configured == Status::size_overflow ? configured : Status::bad_format,
                "its spec does not configure: %s", why.message);
  std::vector<unsigned char> graph(QuantizedModel::graph_bytes(spec.count()) + Arena::kAlignment);
  Arena graph_arena(graph.data(), graph.size());
  QuantizedModel model;
  const Status q_configured = model.configure(network, graph_arena);
  if (q_configured != Status::ok)
    return fail(error, q_configured == Status::unsupported ? Status::bad_format : q_configured,
                "its network cannot run in int8 (%s)", status_name(q_configured));
  std::vector<unsigned char> memory(model.required_bytes() + Arena::kAlignment);
  Arena arena(memory.data(), memory.size());
  LSUV_TRY(model.bind(arena));
  model.set_input_quant(input);

  if (!r.has(static_cast<std::size_t>(op_count) * kOpRecordBytes + 4))
    return fail(error, Status::truncated, "the op records run past the end of the file");
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    QuantizedLayer& l = model.mutable_layer(i);
    l.output_quant.scale = r.f32();
    l.output_quant.zero_point = r.i32();
    l.output_min = r.i32();
    l.output_max = r.i32();
    l.add_left_shift = r.i32();
    for (std::int32_t& m : l.add_multiplier) m = r.i32();
    for (std::int32_t& s : l.add_shift) s = r.i32();
    l.add_output_multiplier = r.i32();
    l.add_output_shift = r.i32();
  }
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    QuantizedLayer& l = model.mutable_layer(i);
    if (l.channels == 0) continue;
    if (!r.has(8 + 4)) return fail(error, Status::truncated, "%s: arrays cut short", l.spec.name);
    const std::uint32_t channels = r.u32();
    const std::uint32_t weights = r.u32();
    if (channels != static_cast<std::uint32_t>(l.channels) || weights != l.weight_count)
      return fail(error, Status::bad_format,
                  "%s: %u channels and %u weights, the spec says %d and %zu", l.spec.name,
                  static_cast<unsigned>(channels), static_cast<unsigned>(weights), l.channels,
                  l.weight_count);
    const std::size_t c = static_cast<std::size_t>(l.channels);
    if (!r.has(l.weight_count + 16 * c + 4))
      return fail(error, Status::truncated, "%s: arrays cut short", l.spec.name);
    std::memcpy(l.weights, r.take(l.weight_count), l.weight_count);
    for (std::size_t o = 0; o < c; ++o) l.bias[o] = r.i32();
    for (std::size_t o = 0; o < c; ++o) l.weight_scale[o] = r.f32();
    for (std::size_t o = 0; o < c; ++o) l.multiplier[o] = r.i32();
    for (std::size_t o = 0; o < c; ++o) l.shift[o] = r.i32();
  }
  if (r.remaining() != 4)
    return fail(error, Status::bad_format, "%zu bytes after the last array", r.remaining() - 4);
  if (model.check_parameters() != Status::ok)
    return fail(error, Status::bad_format,
                "a quantisation parameter is outside the kernels' contracts");
  spec_ = std::move(spec);
  graph_ = std::move(graph);
  memory_ = std::move(memory);
  model_ = model;
  return Status::ok;
}

Status QuantizedModelFile::load(const char* path, std::int32_t max_batch, FileError* error) {
  if (error != nullptr) *error = FileError();
  if (path == nullptr) return Status::invalid_argument;
  std::vector<unsigned char> bytes;
  LSUV_TRY(detail::read_whole_file(path, kMaxQuantizedFileBytes, &bytes, error));
  const Status status = parse(bytes.data(), bytes.size(), max_batch, error);
  if (status != Status::ok && error != nullptr)
    std::snprintf(error->file, sizeof error->file, "%s", path);
  return status;
}

}  // namespace lsuv
