#include "cli/training_run.hpp"

#include <algorithm>
#include <cstdio>

#include "cli/cli_common.hpp"
#include "lsuv/init.hpp"

namespace lsuv::cli {

const std::vector<std::string>& init_names() {
  static const std::vector<std::string> names = {"pytorch_default", "he_normal", "orthonormal",
                                                 "lsuv-seed", "lsuv-paper"};
  return names;
}

std::string initialise_weights(Model& model, const std::string& init, std::uint64_t seed,
                               const Dataset& train, std::int32_t calibration_images, float mean,
                               float std, std::vector<LsuvLayerReport>* lsuv_layers) {
  if (lsuv_layers != nullptr) lsuv_layers->clear();
  const bool lsuv = init.rfind("lsuv-", 0) == 0;
  Initializer base = Initializer::pytorch_default;
  if (!lsuv) (void)initializer_from_name(init.c_str(), &base);
  CheckedArray<unsigned char> scratch(initialize_scratch_bytes(model, base) + Arena::kAlignment,
                                      "the initialiser's scratch memory");
  Arena arena(scratch.data(), scratch.size());
  InitOptions options;
  options.seed = seed;
  check(initialize(model, base, options, arena), "initialising the weights");
  char line[160];
  if (!lsuv) {
    std::snprintf(line, sizeof line, "%s init (seed %llu)", initializer_name(base),
                  static_cast<unsigned long long>(seed));
    return line;
  }
  LsuvOptions lsuv_options;
  lsuv_options.seed = seed;
  if (init == "lsuv-paper") {
    lsuv_options.variant = LsuvVariant::paper;
    lsuv_options.orthonormal_preinit = true;
  }
  IdxBatchOptions calibration;
  calibration.image_count = std::min(calibration_images, train.count);
  calibration.batch_size = calibration.image_count;
  calibration.mean = mean;
  calibration.std = std;
  IdxBatchSource source;
  check(source.configure(train.images, calibration), "batching the calibration images");
  ReportBuffer buffer(model, lsuv_options);
  check(run_lsuv(model, source, lsuv_options, &buffer.report), "LSUV");
  if (lsuv_layers != nullptr)
    lsuv_layers->assign(buffer.entries.begin(), buffer.entries.begin() + buffer.report.count);
  std::snprintf(line, sizeof line,
                "%s init: LSUV (%s variant) on the first %d training images (seed %llu)",
                initializer_name(base), lsuv_variant_name(lsuv_options.variant),
                static_cast<int>(calibration.image_count), static_cast<unsigned long long>(seed));
  return line;
}

std::int32_t classifier_classes(const Model& model, const char* command) {
  const ImageShape out = model.output_shape();
  if (out.height != 1 || out.width != 1)
    fail(std::string(command) +
         " trains classifiers: the model's output must be one vector of class scores per image "
         "(it is " +
         std::to_string(out.channels) + "x" + std::to_string(out.height) + "x" +
         std::to_string(out.width) + ")");
  return out.channels;
}

Status TrainerMemory::configure(Model& model, const TrainOptions& options) {
  records_ = CheckedArray<unsigned char>(
      Trainer::plan_bytes(model.layer_count()) + Arena::kAlignment, "the training plan");
  Arena plan(records_.data(), records_.size());
  return trainer_.configure(model, options, plan);
}

void TrainerMemory::bind() {
  memory_ =
      CheckedArray<unsigned char>(trainer_.training_bytes() + Arena::kAlignment, "training memory");
  Arena arena(memory_.data(), memory_.size());
  check(trainer_.bind(arena), "binding the trainer");
}

void shuffle(detail::Pcg32& rng, std::vector<std::int32_t>& order) {
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int32_t>(i);
  for (std::size_t i = order.size(); i > 1; --i)
    std::swap(order[i - 1], order[rng.bounded(static_cast<std::uint32_t>(i))]);
}

TrainStepReport take_step(Trainer& trainer, Batcher& batcher, const std::int32_t* indices,
                          std::int32_t n, float learning_rate, std::int64_t step,
                          const std::string& consequence) {
  batcher.gather(indices, n);
  TrainStepReport report;
  const Status status =
      trainer.train_step(batcher.images(), batcher.labels(), n, learning_rate, &report);
  if (status == Status::non_finite)
    fail("step " + std::to_string(step + 1) +
         ": the loss or a gradient is not finite (try a smaller --lr, or --clip): " + consequence);
  check(status, "training step " + std::to_string(step + 1));
  return report;
}

}  // namespace lsuv::cli
