#include "lsuv/io/weights.hpp"

#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "io/atomic_directory.hpp"
#include "io/file_error_detail.hpp"
#include "lsuv/io/npy.hpp"

namespace lsuv {
namespace {

std::string parameter_path(const char* directory, const Layer& layer, const char* suffix) {
  return std::string(directory) + "/" + layer.spec.name + suffix;
}

// PyTorch's shape of the weight: (out, in / groups, kh, kw) or (out, in). Returns the rank.
int torch_weight_shape(const Layer& layer, std::int64_t shape[4]) {
  shape[0] = layer.output.channels;
  if (layer.spec.kind == LayerKind::conv2d) {
    shape[1] = layer.input.channels / layer.spec.groups;
    shape[2] = layer.spec.kernel_h;
    shape[3] = layer.spec.kernel_w;
    return 4;
  }
  shape[1] = layer.fan_in();
  return 2;
}

// A layer name becomes a file name: one with a path separator would write outside the directory.
Status check_names(const Model& model) {
  for (std::int32_t index = 0; index < model.layer_count(); ++index) {
    const char* name = model.layer(index).spec.name;
    if (std::strchr(name, '/') != nullptr || std::strchr(name, '\\') != nullptr)
      return Status::invalid_argument;
  }
  return Status::ok;
}

std::string shape_text(const std::int64_t* shape, std::size_t rank) {
  std::string text = "(";
  for (std::size_t i = 0; i < rank; ++i) {
    if (i > 0) text += ", ";
    text += std::to_string(shape[i]);
  }
  return text + (rank == 1 ? ",)" : ")");
}

// Reads a float32 file of exactly `shape` with only finite values.
Status read_parameter(const std::string& path, const std::int64_t* shape, int rank, NpyArray* array,
                      FileError* error) {
  LSUV_TRY(read_npy(path.c_str(), array, error));
  if (array->dtype != NpyDtype::float32) {
    detail::set_file_error(error, path,
                           std::string("dtype '<f4' (float32) expected, file has '") +
                               npy_dtype_descr(array->dtype) + "'");
    return Status::unsupported;
  }
  const std::size_t expected_rank = static_cast<std::size_t>(rank);
  bool same = array->shape.size() == expected_rank;
  for (std::size_t i = 0; same && i < expected_rank; ++i) same = array->shape[i] == shape[i];
  if (!same) {
    detail::set_file_error(error, path,
                           "shape " + shape_text(shape, expected_rank) + " expected, file has " +
                               shape_text(array->shape.data(), array->shape.size()));
    return Status::shape_mismatch;
  }
  const float* values = array->as_float32();
  const std::size_t count = array->elements();
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(values[i])) {
      detail::set_file_error(error, path,
                             std::string(std::isnan(values[i]) ? "NaN" : "Inf") + " at element " +
                                 std::to_string(i) + " (C order)");
      return Status::non_finite;
    }
  return Status::ok;
}

// Writes one parameter into the staging directory; an error names the file's final path.
Status write_parameter(const std::string& staging, const char* directory, const Layer& layer,
                       const char* suffix, NpyDtype dtype, const std::int64_t* shape, int rank,
                       const void* values, FileError* error) {
  const Status status = write_npy(parameter_path(staging.c_str(), layer, suffix).c_str(), dtype,
                                  shape, rank, values, error);
  if (status != Status::ok && error != nullptr) {
    const std::string message = error->message;
    detail::set_file_error(error, parameter_path(directory, layer, suffix), message);
  }
  return status;
}

// BatchNorm2d's state as PyTorch's state_dict names it: four (C,) float arrays, each with the
// model's storage, and num_batches_tracked, an int64 scalar.
struct BatchNormArray {
  const char* suffix;
  float* values;
};
constexpr int kBatchNormArrays = 4;
void batch_norm_arrays(const Layer& layer, BatchNormArray arrays[kBatchNormArrays]) {
  arrays[0] = {".weight.npy", layer.weights};
  arrays[1] = {".bias.npy", layer.bias};
  arrays[2] = {".running_mean.npy", layer.running_mean};
  arrays[3] = {".running_var.npy", layer.running_var};
}
constexpr char kBatchesTracked[] = ".num_batches_tracked.npy";

Status save_batch_norm(const std::string& staging, const char* directory, const Layer& layer,
                       FileError* error) {
  BatchNormArray arrays[kBatchNormArrays];
  batch_norm_arrays(layer, arrays);
  const std::int64_t shape[1] = {layer.output.channels};
  for (const BatchNormArray& array : arrays)
    LSUV_TRY(write_parameter(staging, directory, layer, array.suffix, NpyDtype::float32, shape, 1,
                             array.values, error));
  return write_parameter(staging, directory, layer, kBatchesTracked, NpyDtype::int64, nullptr, 0,
                         layer.batches_tracked, error);
}

// One layer's parameters, validated and already in the model's layout, waiting to be applied.
struct StagedParameters {
  const Layer* layer = nullptr;
  std::vector<float> weights;
  NpyArray bias;
  NpyArray batch_norm[kBatchNormArrays];
  std::int64_t batches_tracked = 0;
};

Status stage_batch_norm(const char* directory, const Layer& layer, StagedParameters* staged,
                        FileError* error) {
  BatchNormArray arrays[kBatchNormArrays];
  batch_norm_arrays(layer, arrays);
  const std::int64_t shape[1] = {layer.output.channels};
  for (int k = 0; k < kBatchNormArrays; ++k)
    LSUV_TRY(read_parameter(parameter_path(directory, layer, arrays[k].suffix), shape, 1,
                            &staged->batch_norm[k], error));
  const std::string path = parameter_path(directory, layer, kBatchesTracked);
  NpyArray tracked;
  LSUV_TRY(read_npy(path.c_str(), &tracked, error));
  if (tracked.dtype != NpyDtype::int64 || !tracked.shape.empty()) {
    detail::set_file_error(error, path,
                           std::string("an int64 scalar ('<i8', shape ()) expected, file has '") +
                               npy_dtype_descr(tracked.dtype) + "' of shape " +
                               shape_text(tracked.shape.data(), tracked.shape.size()));
    return tracked.dtype != NpyDtype::int64 ? Status::unsupported : Status::shape_mismatch;
  }
  staged->batches_tracked = tracked.as_int64()[0];
  if (staged->batches_tracked < 0) {
    detail::set_file_error(error, path, "a negative count of batches");
    return Status::bad_format;
  }
  // Eval mode divides by sqrt(running_var + eps): a negative variance is no BatchNorm state.
  const float* variance = staged->batch_norm[3].as_float32();
  for (std::int32_t c = 0; c < layer.output.channels; ++c)
    if (variance[c] < 0.0f) {
      detail::set_file_error(error, parameter_path(directory, layer, arrays[3].suffix),
                             "negative variance at element " + std::to_string(c));
      return Status::bad_format;
    }
  return Status::ok;
}

}  // namespace

Status save_weights(const Model& model, const char* directory, FileError* error) {
  detail::clear_file_error(error);
  if (directory == nullptr || directory[0] == '\0') return Status::invalid_argument;
  if (!model.bound()) return Status::not_bound;
  LSUV_TRY(check_names(model));
  return detail::write_directory_atomically(
      directory, detail::weights_files(),
      [&](const std::string& staging) {
        std::vector<float> torch_order;
        for (std::int32_t index = 0; index < model.layer_count(); ++index) {
          const Layer& layer = model.layer(index);
          if (layer.spec.kind == LayerKind::batch_norm2d) {
            LSUV_TRY(save_batch_norm(staging, directory, layer, error));
            continue;
          }
          if (!has_parameters(layer.spec.kind)) continue;
          std::int64_t shape[4];
          const int rank = torch_weight_shape(layer, shape);
          const std::int32_t outs = layer.output.channels;
          const std::int32_t columns = layer.fan_in();
          torch_order.resize(layer.weight_count);
          for (std::int32_t out = 0; out < outs; ++out)
            for (std::int32_t column = 0; column < columns; ++column)
              torch_order[static_cast<std::size_t>(out) * columns + column] =
                  layer.weights[layer.parameter_index(out, column)];
          LSUV_TRY(write_parameter(staging, directory, layer, ".weight.npy", NpyDtype::float32,
                                   shape, rank, torch_order.data(), error));
          if (layer.bias_count > 0) {
            const std::int64_t bias_shape[1] = {outs};
            LSUV_TRY(write_parameter(staging, directory, layer, ".bias.npy", NpyDtype::float32,
                                     bias_shape, 1, layer.bias, error));
          }
        }
        return Status::ok;
      },
      error);
}

Status load_weights(Model& model, const char* directory, FileError* error) {
  detail::clear_file_error(error);
  if (directory == nullptr || directory[0] == '\0') return Status::invalid_argument;
  if (!model.bound()) return Status::not_bound;
  LSUV_TRY(check_names(model));
  detail::remove_stale_temporaries(directory);
  std::vector<StagedParameters> staged;
  for (std::int32_t index = 0; index < model.layer_count(); ++index) {
    const Layer& layer = model.layer(index);
    StagedParameters parameters;
    parameters.layer = &layer;
    if (layer.spec.kind == LayerKind::batch_norm2d) {
      LSUV_TRY(stage_batch_norm(directory, layer, &parameters, error));
      staged.push_back(std::move(parameters));
      continue;
    }
    if (!has_parameters(layer.spec.kind)) continue;
    std::int64_t shape[4];
    const int rank = torch_weight_shape(layer, shape);
    NpyArray weights;
    LSUV_TRY(read_parameter(parameter_path(directory, layer, ".weight.npy"), shape, rank, &weights,
                            error));
    const std::int32_t outs = layer.output.channels;
    const std::int32_t columns = layer.fan_in();
    const float* torch_order = weights.as_float32();
    parameters.weights.resize(layer.weight_count);
    for (std::int32_t out = 0; out < outs; ++out)
      for (std::int32_t column = 0; column < columns; ++column)
        parameters.weights[layer.parameter_index(out, column)] =
            torch_order[static_cast<std::size_t>(out) * columns + column];
    if (layer.bias_count > 0) {
      const std::int64_t bias_shape[1] = {outs};
      LSUV_TRY(read_parameter(parameter_path(directory, layer, ".bias.npy"), bias_shape, 1,
                              &parameters.bias, error));
    }
    staged.push_back(std::move(parameters));
  }
  for (const StagedParameters& parameters : staged) {
    const Layer& layer = *parameters.layer;
    if (layer.spec.kind == LayerKind::batch_norm2d) {
      BatchNormArray arrays[kBatchNormArrays];
      batch_norm_arrays(layer, arrays);
      for (int k = 0; k < kBatchNormArrays; ++k)
        std::memcpy(arrays[k].values, parameters.batch_norm[k].as_float32(),
                    layer.weight_count * sizeof(float));
      *layer.batches_tracked = parameters.batches_tracked;
      continue;
    }
    std::memcpy(layer.weights, parameters.weights.data(), layer.weight_count * sizeof(float));
    if (layer.bias_count > 0)
      std::memcpy(layer.bias, parameters.bias.as_float32(), layer.bias_count * sizeof(float));
  }
  return Status::ok;
}

}  // namespace lsuv
