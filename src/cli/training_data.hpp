// The data of a training run (`lsuv train`, `lsuv experiment`): IDX images and labels, training
// and held out, the first N of each, normalised as (pixel/255 - mean) / std; batches gathered by
// index; the held-out loss and accuracy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "cli/checked_array.hpp"
#include "lsuv/io/idx.hpp"
#include "lsuv/io/model_spec.hpp"
#include "lsuv/model.hpp"

namespace lsuv::cli {

struct TrainingDataOptions {
  std::string images, labels, test_images, test_labels;
  std::int32_t train_count = 0;  // the first N training images; 0: all
  std::int32_t test_count = 0;   // the first N held-out images; 0: all
  float mean = 0.0f;             // inputs are (pixel/255 - mean) / std
  float std = 1.0f;
};

// Images and labels, the first `count` of each file.
struct Dataset {
  IdxImages images;
  IdxLabels labels;
  std::int32_t count = 0;
};

// The first `limit` (0: all) images and labels; fails unless the images are the spec's input and
// every label is below `classes`.
Dataset load_dataset(const std::string& images_path, const std::string& labels_path,
                     std::int32_t limit, const ModelSpec& spec, std::int32_t classes);

// Gathers images by index into NHWC floats (pixel/255 - mean) / std, and their labels.
class Batcher {
 public:
  Batcher(const Dataset& data, float mean, float std, std::int32_t batch);
  void gather(const std::int32_t* indices, std::int32_t n);
  const float* images() const { return images_.data(); }
  const std::int32_t* labels() const { return labels_.data(); }

 private:
  const Dataset& data_;
  CheckedArray<float> images_;
  std::vector<std::int32_t> labels_;
  float table_[256] = {};
};

struct Evaluation {
  double loss = 0.0;      // mean softmax cross-entropy
  double accuracy = 0.0;  // fraction whose largest logit is the label
};

// The model on every image of `test`, in batches of `batch`.
Evaluation evaluate(Model& model, const Dataset& test, Batcher& batcher, std::int32_t batch);

}  // namespace lsuv::cli
