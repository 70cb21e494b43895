#include "cli/training_data.hpp"

#include <algorithm>
#include <cmath>

#include "cli/cli_common.hpp"

namespace lsuv::cli {

Dataset load_dataset(const std::string& images_path, const std::string& labels_path,
                     std::int32_t limit, const ModelSpec& spec, std::int32_t classes) {
  Dataset data;
  data.images = load_images(images_path);
  check(data.labels.load(labels_path.c_str()), labels_path);
  if (data.labels.count() != data.images.count())
    fail(labels_path + " holds " + std::to_string(data.labels.count()) + " labels for the " +
         std::to_string(data.images.count()) + " images of " + images_path);
  if (data.images.shape() != spec.input)
    fail(images_path + " holds 1x" + std::to_string(data.images.height()) + "x" +
         std::to_string(data.images.width()) + " images but the spec's input is " +
         std::to_string(spec.input.channels) + "x" + std::to_string(spec.input.height) + "x" +
         std::to_string(spec.input.width));
  if (limit > data.images.count())
    fail(images_path + " holds " + std::to_string(data.images.count()) + " images; " +
         std::to_string(limit) + " were asked for");
  data.count = limit > 0 ? limit : data.images.count();
  for (std::int32_t i = 0; i < data.count; ++i)
    if (data.labels[i] >= classes)
      fail(labels_path + ": label " + std::to_string(data.labels[i]) + " of image " +
           std::to_string(i) + " is outside the model's " + std::to_string(classes) + " classes");
  return data;
}

Batcher::Batcher(const Dataset& data, float mean, float std, std::int32_t batch)
    : data_(data),
      images_(static_cast<std::size_t>(batch) * data.images.shape().elements(), "a batch"),
      labels_(static_cast<std::size_t>(batch)) {
  for (int pixel = 0; pixel < 256; ++pixel)
    table_[pixel] = (static_cast<float>(pixel) / 255.0f - mean) / std;
}

void Batcher::gather(const std::int32_t* indices, std::int32_t n) {
  const std::size_t pixels = data_.images.shape().elements();
  for (std::int32_t b = 0; b < n; ++b) {
    const std::uint8_t* image = data_.images.image(indices[b]);
    float* out = images_.data() + static_cast<std::size_t>(b) * pixels;
    for (std::size_t i = 0; i < pixels; ++i) out[i] = table_[image[i]];
    labels_[static_cast<std::size_t>(b)] = data_.labels[indices[b]];
  }
}

Evaluation evaluate(Model& model, const Dataset& test, Batcher& batcher, std::int32_t batch) {
  std::vector<std::int32_t> indices(static_cast<std::size_t>(batch));
  const std::int32_t classes = static_cast<std::int32_t>(model.output_shape().elements());
  double loss = 0.0;
  std::int64_t correct = 0;
  for (std::int32_t first = 0; first < test.count; first += batch) {
    const std::int32_t n = std::min(batch, test.count - first);
    for (std::int32_t b = 0; b < n; ++b) indices[static_cast<std::size_t>(b)] = first + b;
    batcher.gather(indices.data(), n);
    check(model.forward(batcher.images(), n), "evaluating the held-out images");
    const float* logits = model.output().data;
    for (std::int32_t b = 0; b < n; ++b) {
      const float* row = logits + static_cast<std::size_t>(b) * classes;
      const std::int32_t label = batcher.labels()[b];
      const std::int32_t best =
          static_cast<std::int32_t>(std::max_element(row, row + classes) - row);
      double sum = 0.0;
      for (std::int32_t c = 0; c < classes; ++c) sum += std::exp(double{row[c]} - row[best]);
      loss += row[best] + std::log(sum) - row[label];
      correct += best == label ? 1 : 0;
    }
  }
  return {loss / test.count, static_cast<double>(correct) / test.count};
}

}  // namespace lsuv::cli
