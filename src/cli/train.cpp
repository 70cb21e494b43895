#include "cli/train.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "cli/cli_common.hpp"
#include "cli/progress.hpp"
#include "cli/training_run.hpp"
#include "lsuv/io/checkpoint.hpp"
#include "lsuv/io/npy.hpp"
#include "lsuv/io/output_path.hpp"
#include "lsuv/io/weights.hpp"
#include "lsuv/trainer.hpp"

namespace lsuv::cli {
namespace {

using Clock = std::chrono::steady_clock;

void check_file(Status status, const char* verb, const std::string& path, const FileError& error) {
  if (status == Status::ok) return;
  const std::string file = error.file[0] != '\0' ? error.file : path;
  fail(std::string(verb) + " " + file + ": " +
       (error.message[0] != '\0' ? error.message : status_name(status)));
}

void initialise(Model& model, const TrainCommand& command, const Dataset& train) {
  if (!command.weights.empty()) {
    FileError error;
    check_file(load_weights(model, command.weights.c_str(), &error), "loading", command.weights,
               error);
    std::printf("weights from %s\n", command.weights.c_str());
    return;
  }
  std::printf("%s\n",
              initialise_weights(model, command.init, command.seed, train,
                                 command.recipe.batch_size, command.data.mean, command.data.std)
                  .c_str());
}

// What a resumed run must repeat to continue the same run: the data (count, labels,
// normalisation), the batch size, the seed, the optimiser and the schedule (its length only
// for cosine, which depends on it).
std::uint32_t run_fingerprint(const TrainCommand& command, const Dataset& train,
                              const LrSchedule& schedule) {
  std::vector<unsigned char> bytes;
  const auto put = [&](const void* value, std::size_t size) {
    const auto* p = static_cast<const unsigned char*>(value);
    bytes.insert(bytes.end(), p, p + size);
  };
  put(&train.count, sizeof train.count);
  put(&command.recipe.batch_size, sizeof command.recipe.batch_size);
  put(&command.data.mean, sizeof command.data.mean);
  put(&command.data.std, sizeof command.data.std);
  put(&command.seed, sizeof command.seed);
  put(&command.sgd.momentum, sizeof command.sgd.momentum);
  put(&command.sgd.weight_decay, sizeof command.sgd.weight_decay);
  put(&command.sgd.max_gradient_norm, sizeof command.sgd.max_gradient_norm);
  bytes.push_back(command.sgd.nesterov ? 1 : 0);
  bytes.push_back(static_cast<unsigned char>(schedule.kind));
  put(&schedule.base, sizeof schedule.base);
  put(&schedule.warmup_steps, sizeof schedule.warmup_steps);
  put(&schedule.step_size, sizeof schedule.step_size);
  put(&schedule.gamma, sizeof schedule.gamma);
  if (schedule.kind == LrScheduleKind::cosine)
    put(&schedule.total_steps, sizeof schedule.total_steps);
  return crc32(train.labels.labels(), static_cast<std::size_t>(train.count),
               crc32(bytes.data(), bytes.size()));
}

std::int64_t kill_after_step() {
  const char* text = std::getenv(kKillAfterStepVariable);
  return text != nullptr ? std::atoll(text) : -1;
}

std::string duration_text(double seconds) {
  char text[32];
  const long s = std::lround(std::max(seconds, 0.0));
  if (s >= 3600)
    std::snprintf(text, sizeof text, "%ldh%02ldm", s / 3600, s / 60 % 60);
  else
    std::snprintf(text, sizeof text, "%ldm%02lds", s / 60, s % 60);
  return text;
}

// Loss and accuracy of the steps since the last reset, and the images/s they ran at.
struct Meter {
  double loss_sum = 0.0;
  std::int64_t correct = 0, images = 0;
  Clock::time_point start = Clock::now();
  void reset() { *this = Meter(); }
  void add(const TrainStepReport& report, std::int32_t n) {
    loss_sum += static_cast<double>(report.loss) * n;
    correct += report.correct;
    images += n;
  }
  double loss() const { return images > 0 ? loss_sum / images : 0.0; }
  double accuracy() const { return images > 0 ? static_cast<double>(correct) / images : 0.0; }
  double seconds() const { return std::chrono::duration<double>(Clock::now() - start).count(); }
  double rate() const { return images / std::max(seconds(), 1e-9); }
};

}  // namespace

void run_train(const TrainCommand& command) {
  FileError error;
  check_file(check_output_directory(command.output.c_str(), &error), "writing", command.output,
             error);
  for (const std::string* file : {&command.checkpoint, &command.history, &command.order_out})
    if (!file->empty())
      check_file(check_output_file(file->c_str(), &error), "writing", *file, error);
  const ModelSpec spec = command.spec.empty() ? seed_spec() : load_spec(command.spec);
  auto loaded = bind_model(spec, command.recipe.batch_size);
  Model& model = loaded->model;
  const std::int32_t classes = classifier_classes(model, "lsuv train");
  const TrainingDataOptions& data = command.data;
  const Dataset train = load_dataset(data.images, data.labels, data.train_count, spec, classes);
  const Dataset test =
      load_dataset(data.test_images, data.test_labels, data.test_count, spec, classes);

  std::vector<const char*> frozen;
  for (const std::string& name : command.frozen) {
    if (model.find_layer(name.c_str()) < 0) fail("--freeze: no op is named '" + name + "'");
    frozen.push_back(name.c_str());
  }
  TrainOptions options;
  options.sgd = command.sgd;
  options.trainable.frozen = frozen.data();
  options.trainable.frozen_count = static_cast<std::int32_t>(frozen.size());
  options.trainable.bias_only = command.bias_only;
  options.trainable.last_layers = command.last_layers;
  TrainerMemory memory;
  const Status configured = memory.configure(model, options);
  if (configured == Status::invalid_argument &&
      frozen.size() + command.bias_only + (command.last_layers > 0) > 0)
    fail("the freezing options leave nothing to train (or --last is beyond the model's layers)");
  check(configured, "planning training");
  memory.bind();
  Trainer& trainer = memory.trainer();

  const std::int32_t batch = command.recipe.batch_size;
  const std::int64_t steps_per_epoch = (train.count + batch - 1) / batch;
  const std::int64_t total_steps = steps_per_epoch * command.recipe.epochs;
  LrSchedule schedule = command.schedule;
  if (schedule.step_size == 0) schedule.step_size = steps_per_epoch;
  schedule.total_steps = total_steps;
  if (lr_schedule_check(schedule) != Status::ok)
    fail("--schedule " + command.schedule_name + ": the warm-up (" +
         std::to_string(schedule.warmup_steps) + " steps) must be shorter than the run (" +
         std::to_string(total_steps) + " steps)");

  TrainingState state;
  state.run_fingerprint = run_fingerprint(command, train, schedule);
  detail::Pcg32 rng(command.seed, kOrderStream);
  if (command.resume.empty()) {
    initialise(model, command, train);
  } else {
    check_file(load_checkpoint(command.resume.c_str(), model, trainer, state.run_fingerprint,
                               &state, &error),
               "resuming from", command.resume, error);
    if (state.step > total_steps)
      fail(command.resume + " is at step " + std::to_string(state.step) + ", past this run's " +
           std::to_string(total_steps) + " steps");
    rng = detail::Pcg32::restored(state.order_state, state.order_increment);
    std::printf("resumed from %s at step %lld (epoch %lld, step %lld of it)\n",
                command.resume.c_str(), static_cast<long long>(state.step),
                static_cast<long long>(state.step / steps_per_epoch + 1),
                static_cast<long long>(state.step % steps_per_epoch));
  }
  const std::int64_t start = state.step;
  const std::int64_t schedule_offset = state.schedule_step - state.step;
  std::printf(
      "training %s: %d images (%lld steps of %d per epoch, %d epochs), held out %d; lr %g "
      "(%s), momentum %g%s; training memory %zu bytes\n",
      command.spec.empty() ? "the seed's network" : command.spec.c_str(),
      static_cast<int>(train.count), static_cast<long long>(steps_per_epoch),
      static_cast<int>(batch), static_cast<int>(command.recipe.epochs),
      static_cast<int>(test.count), static_cast<double>(schedule.base),
      lr_schedule_name(schedule.kind), static_cast<double>(command.sgd.momentum),
      command.sgd.nesterov ? " (Nesterov)" : "", trainer.training_bytes());

  Batcher train_batch(train, data.mean, data.std, batch);
  Batcher test_batch(test, data.mean, data.std, batch);
  if (start == 0) {
    const Evaluation before = evaluate(model, test, test_batch, batch);
    std::printf("epoch 0: test loss %.4f, accuracy %.2f%%\n", before.loss, 100.0 * before.accuracy);
    std::fflush(stdout);
  }

  std::vector<std::int32_t> order(static_cast<std::size_t>(train.count));
  // The generator as it was before the current epoch's shuffle: what a checkpoint within the
  // epoch keeps, so that a resume draws the same order.
  detail::Pcg32 epoch_rng = rng;
  const std::int64_t kill_after = kill_after_step();
  std::vector<float> history;
  std::vector<std::int32_t> orders;
  Progress progress("train");
  Meter epoch_meter, log_meter;
  const Clock::time_point run_start = Clock::now();
  for (std::int64_t step = start; step < total_steps; ++step) {
    const std::int64_t epoch = step / steps_per_epoch;
    const std::int64_t in_epoch = step % steps_per_epoch;
    if (in_epoch == 0 || step == start) {
      epoch_rng = rng;
      shuffle(rng, order);
      if (!command.order_out.empty()) orders.insert(orders.end(), order.begin(), order.end());
      epoch_meter.reset();
    }
    const std::int64_t first = in_epoch * batch;
    const auto n = static_cast<std::int32_t>(std::min<std::int64_t>(batch, train.count - first));
    const TrainStepReport report =
        take_step(trainer, train_batch, order.data() + first, n,
                  learning_rate_at(schedule, step + schedule_offset), step, "weights not written");
    if (!command.history.empty())
      history.insert(history.end(),
                     {report.loss, learning_rate_at(schedule, step + schedule_offset),
                      static_cast<float>(report.gradient_norm)});
    epoch_meter.add(report, n);
    log_meter.add(report, n);

    const std::int64_t done = step + 1;
    if (progress.due()) {
      const double elapsed = std::chrono::duration<double>(Clock::now() - run_start).count();
      char text[160];
      std::snprintf(text, sizeof text,
                    "epoch %lld/%d, step %lld/%lld: loss %.4f, accuracy %.2f%%, %.0f images/s, "
                    "ETA %s",
                    static_cast<long long>(epoch + 1), static_cast<int>(command.recipe.epochs),
                    static_cast<long long>(in_epoch + 1), static_cast<long long>(steps_per_epoch),
                    epoch_meter.loss(), 100.0 * epoch_meter.accuracy(), epoch_meter.rate(),
                    duration_text(elapsed / static_cast<double>(done - start) *
                                  static_cast<double>(total_steps - done))
                        .c_str());
      progress.show(text);
    } else if (!progress.enabled() && command.log_every > 0 && done % command.log_every == 0) {
      std::printf("step %lld: loss %.4f, accuracy %.2f%% (the last %lld steps), %.0f images/s\n",
                  static_cast<long long>(done), log_meter.loss(), 100.0 * log_meter.accuracy(),
                  static_cast<long long>(command.log_every), log_meter.rate());
      std::fflush(stdout);
      log_meter.reset();
    }
    if (in_epoch + 1 == steps_per_epoch) {
      const double seconds = epoch_meter.seconds();
      const Evaluation held_out = evaluate(model, test, test_batch, batch);
      progress.clear();
      std::printf(
          "epoch %lld: train loss %.4f, accuracy %.2f%% | test loss %.4f, accuracy %.2f%% | "
          "%.1f s, %.0f images/s, %.1f steps/s\n",
          static_cast<long long>(epoch + 1), epoch_meter.loss(), 100.0 * epoch_meter.accuracy(),
          held_out.loss, 100.0 * held_out.accuracy, seconds, epoch_meter.images / seconds,
          steps_per_epoch / seconds);
      std::fflush(stdout);
    }
    const bool due = command.checkpoint_every > 0 ? done % command.checkpoint_every == 0
                                                  : done % steps_per_epoch == 0;
    if (!command.checkpoint.empty() && (due || done == total_steps)) {
      const detail::Pcg32& next = done % steps_per_epoch == 0 ? rng : epoch_rng;
      state.step = done;
      state.schedule_step = done + schedule_offset;
      state.order_state = next.state();
      state.order_increment = next.increment();
      check_file(save_checkpoint(command.checkpoint.c_str(), model, trainer, state, &error),
                 "writing", command.checkpoint, error);
    }
    if (done == kill_after) std::raise(SIGKILL);
  }
  progress.clear();
  check_file(save_weights(model, command.output.c_str(), &error), "writing", command.output, error);
  std::printf("weights written to %s\n", command.output.c_str());
  if (!command.history.empty()) {
    const std::int64_t shape[2] = {static_cast<std::int64_t>(history.size() / 3), 3};
    check_file(
        write_npy(command.history.c_str(), NpyDtype::float32, shape, 2, history.data(), &error),
        "writing", command.history, error);
  }
  if (!command.order_out.empty()) {
    const std::int64_t shape[2] = {static_cast<std::int64_t>(orders.size() / order.size()),
                                   static_cast<std::int64_t>(order.size())};
    check_file(
        write_npy(command.order_out.c_str(), NpyDtype::int32, shape, 2, orders.data(), &error),
        "writing", command.order_out, error);
  }
}

}  // namespace lsuv::cli
