#include "lsuv/io/checkpoint.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "io/atomic_file.hpp"
#include "io/file_error_detail.hpp"

namespace lsuv {
namespace {

constexpr char kMagic[8] = {'L', 'S', 'U', 'V', 'C', 'K', 'P', 'T'};
constexpr std::size_t kHeaderBytes = 8 + 4 * 4 + 6 * 8;
constexpr std::size_t kCrcBytes = 4;

// Little-endian bytes, whatever the host.
void put_u32(std::vector<unsigned char>& out, std::uint32_t value) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<unsigned char>(value >> (8 * i)));
}
void put_u64(std::vector<unsigned char>& out, std::uint64_t value) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<unsigned char>(value >> (8 * i)));
}
void put_floats(std::vector<unsigned char>& out, const float* values, std::size_t count) {
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t bits = 0;
    std::memcpy(&bits, &values[i], 4);
    put_u32(out, bits);
  }
}
std::uint32_t get_u32(const unsigned char* p) {
  return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
         static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint64_t get_u64(const unsigned char* p) {
  return get_u32(p) | static_cast<std::uint64_t>(get_u32(p + 4)) << 32;
}
float get_float(const unsigned char* p) {
  const std::uint32_t bits = get_u32(p);
  float value = 0.0f;
  std::memcpy(&value, &bits, 4);
  return value;
}

std::size_t velocity_count(const Model& model, const Trainer& trainer) {
  std::size_t count = 0;
  for (std::int32_t i = 0; i < trainer.op_count(); ++i) {
    if (trainer.op(i).weight_velocity != nullptr) count += model.layer(i).weight_count;
    if (trainer.op(i).bias_velocity != nullptr) count += model.layer(i).bias_count;
  }
  return count;
}

std::uint32_t model_signature(const Model& model, const Trainer& trainer) {
  std::vector<unsigned char> bytes;
  for (std::int32_t i = 0; i < model.layer_count(); ++i) {
    const Layer& layer = model.layer(i);
    bytes.push_back(static_cast<unsigned char>(layer.spec.kind));
    bytes.insert(bytes.end(), layer.spec.name, layer.spec.name + std::strlen(layer.spec.name) + 1);
    for (const ImageShape& shape : {layer.input, layer.output}) {
      put_u32(bytes, static_cast<std::uint32_t>(shape.height));
      put_u32(bytes, static_cast<std::uint32_t>(shape.width));
      put_u32(bytes, static_cast<std::uint32_t>(shape.channels));
    }
    put_u64(bytes, layer.weight_count);
    put_u64(bytes, layer.bias_count);
    bytes.push_back(static_cast<unsigned char>((trainer.op(i).weight_velocity != nullptr ? 1 : 0) |
                                               (trainer.op(i).bias_velocity != nullptr ? 2 : 0)));
  }
  return crc32(bytes.data(), bytes.size());
}

bool usable(const Model& model, const Trainer& trainer) {
  return model.bound() && trainer.bound() && trainer.op_count() == model.layer_count();
}

Status refuse(FileError* error, const char* path, Status status, const std::string& why) {
  detail::set_file_error(error, path, why);
  return status;
}

}  // namespace

std::size_t checkpoint_bytes(const Model& model, const Trainer& trainer) {
  return kHeaderBytes + 4 * (model.parameter_count() + velocity_count(model, trainer)) + kCrcBytes;
}

Status save_checkpoint(const char* path, const Model& model, const Trainer& trainer,
                       const TrainingState& state, FileError* error) {
  detail::clear_file_error(error);
  if (!usable(model, trainer)) return Status::not_bound;
  if (path == nullptr || path[0] == '\0' || state.step < 0 || state.schedule_step < 0 ||
      (state.order_increment & 1u) == 0)
    return Status::invalid_argument;
  const std::size_t parameters = model.parameter_count();
  std::vector<float> values(parameters);
  LSUV_TRY(model.copy_parameters_to(values.data(), values.size()));
  std::vector<unsigned char> bytes;
  bytes.reserve(checkpoint_bytes(model, trainer));
  bytes.insert(bytes.end(), kMagic, kMagic + 8);
  put_u32(bytes, kCheckpointVersion);
  put_u32(bytes, model_signature(model, trainer));
  put_u32(bytes, state.run_fingerprint);
  put_u32(bytes, 0);
  put_u64(bytes, static_cast<std::uint64_t>(state.step));
  put_u64(bytes, static_cast<std::uint64_t>(state.schedule_step));
  put_u64(bytes, state.order_state);
  put_u64(bytes, state.order_increment);
  put_u64(bytes, parameters);
  put_u64(bytes, velocity_count(model, trainer));
  put_floats(bytes, values.data(), parameters);
  for (std::int32_t i = 0; i < trainer.op_count(); ++i) {
    const TrainingOp& op = trainer.op(i);
    if (op.weight_velocity != nullptr)
      put_floats(bytes, op.weight_velocity, model.layer(i).weight_count);
    if (op.bias_velocity != nullptr) put_floats(bytes, op.bias_velocity, model.layer(i).bias_count);
  }
  put_u32(bytes, crc32(bytes.data(), bytes.size()));
  return detail::write_file_atomically(
      path, [&](detail::FileSink& sink) { return sink.write(bytes.data(), bytes.size()); }, error);
}

Status load_checkpoint(const char* path, Model& model, Trainer& trainer,
                       std::uint32_t run_fingerprint, TrainingState* state, FileError* error) {
  detail::clear_file_error(error);
  if (path == nullptr || state == nullptr) return Status::invalid_argument;
  if (!usable(model, trainer)) return Status::not_bound;
  const std::size_t parameters = model.parameter_count();
  const std::size_t velocities = velocity_count(model, trainer);
  const std::size_t expected = checkpoint_bytes(model, trainer);
  std::vector<unsigned char> bytes;
  // A little over this model's size: enough to tell a longer file (another model's) from a
  // damaged one by its header.
  const Status read = detail::read_whole_file(path, expected + 4096, &bytes, error);
  if (read == Status::size_overflow)
    return refuse(error, path, Status::shape_mismatch,
                  "larger than a checkpoint of this model (" + std::to_string(expected) +
                      " bytes): written for another model");
  LSUV_TRY(read);
  const std::size_t magic = bytes.size() < 8 ? bytes.size() : 8;
  if (!std::equal(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(magic), kMagic))
    return refuse(error, path, Status::bad_format, "not an lsuv checkpoint");
  if (bytes.size() < 12) return refuse(error, path, Status::truncated, "ends inside the header");
  const std::uint32_t version = get_u32(bytes.data() + 8);
  if (version != kCheckpointVersion)
    return refuse(error, path, Status::unsupported,
                  "checkpoint version " + std::to_string(version) + "; this lsuv reads version " +
                      std::to_string(kCheckpointVersion));
  if (bytes.size() < kHeaderBytes)
    return refuse(error, path, Status::truncated, "ends inside the header");
  const unsigned char* header = bytes.data();
  const std::uint64_t file_parameters = get_u64(header + 56);
  const std::uint64_t file_velocities = get_u64(header + 64);
  const std::uint64_t file_bytes_max = (SIZE_MAX - kHeaderBytes - kCrcBytes) / 4;
  if (file_parameters > file_bytes_max || file_velocities > file_bytes_max - file_parameters)
    return refuse(error, path, Status::bad_format, "counts past any file");
  const std::size_t declared = kHeaderBytes + 4 * (file_parameters + file_velocities) + kCrcBytes;
  if (bytes.size() < declared)
    return refuse(
        error, path, Status::truncated,
        std::to_string(bytes.size()) + " bytes; its header says " + std::to_string(declared));
  if (bytes.size() > declared)
    return refuse(error, path, Status::bad_format,
                  std::to_string(bytes.size() - declared) + " bytes after the end");
  if (crc32(bytes.data(), declared - kCrcBytes) != get_u32(bytes.data() + declared - kCrcBytes))
    return refuse(error, path, Status::bad_format, "CRC mismatch: the file is damaged");
  if (file_parameters != parameters || file_velocities != velocities)
    return refuse(error, path, Status::shape_mismatch,
                  "holds " + std::to_string(file_parameters) + " parameters and " +
                      std::to_string(file_velocities) +
                      " velocities; this model and trainer have " + std::to_string(parameters) +
                      " and " + std::to_string(velocities));
  if (get_u32(header + 12) != model_signature(model, trainer))
    return refuse(error, path, Status::shape_mismatch,
                  "written for another model (other layers, names or shapes) or another "
                  "selection of what trains");
  if (get_u32(header + 16) != run_fingerprint)
    return refuse(error, path, Status::invalid_argument,
                  "written by a run with other options (batch size, data, schedule or "
                  "optimiser): resume with the options it was written with");
  TrainingState loaded;
  loaded.step = static_cast<std::int64_t>(get_u64(header + 24));
  loaded.schedule_step = static_cast<std::int64_t>(get_u64(header + 32));
  loaded.order_state = get_u64(header + 40);
  loaded.order_increment = get_u64(header + 48);
  loaded.run_fingerprint = run_fingerprint;
  if (loaded.step < 0 || loaded.schedule_step < 0 || (loaded.order_increment & 1u) == 0)
    return refuse(error, path, Status::bad_format, "a step or generator state out of range");
  std::vector<float> values(parameters + velocities);
  for (std::size_t i = 0; i < values.size(); ++i) {
    values[i] = get_float(bytes.data() + kHeaderBytes + 4 * i);
    if (!std::isfinite(values[i]))
      return refuse(error, path, Status::non_finite,
                    std::string(i < parameters ? "a parameter" : "a velocity") + " is NaN or Inf");
  }
  LSUV_TRY(model.copy_parameters_from(values.data(), parameters));
  const float* velocity = values.data() + parameters;
  for (std::int32_t i = 0; i < trainer.op_count(); ++i) {
    const TrainingOp& op = trainer.op(i);
    if (op.weight_velocity != nullptr) {
      std::memcpy(op.weight_velocity, velocity, 4 * model.layer(i).weight_count);
      velocity += model.layer(i).weight_count;
    }
    if (op.bias_velocity != nullptr) {
      std::memcpy(op.bias_velocity, velocity, 4 * model.layer(i).bias_count);
      velocity += model.layer(i).bias_count;
    }
  }
  *state = loaded;
  return Status::ok;
}

}  // namespace lsuv
