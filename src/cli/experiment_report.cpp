#include "cli/experiment_report.hpp"

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>

#include "cli/svg_plot.hpp"

namespace lsuv::cli {
namespace {

std::string format(const char* pattern, ...) {
  char text[256];
  va_list args;
  va_start(args, pattern);
  std::vsnprintf(text, sizeof text, pattern, args);
  va_end(args);
  return text;
}

std::vector<const RunResult*> runs_of(const ExperimentResults& results, const std::string& init) {
  std::vector<const RunResult*> runs;
  for (const RunResult& run : results.runs)
    if (run.init == init) runs.push_back(&run);
  return runs;
}

// The accuracies (percent) or losses after `epoch` of the runs, and their times.
std::vector<double> accuracies(const std::vector<const RunResult*>& runs, std::size_t epoch) {
  std::vector<double> values;
  for (const RunResult* run : runs) values.push_back(100.0 * run->epochs.at(epoch).accuracy);
  return values;
}
std::vector<double> losses(const std::vector<const RunResult*>& runs, std::size_t epoch) {
  std::vector<double> values;
  for (const RunResult* run : runs) values.push_back(run->epochs.at(epoch).loss);
  return values;
}
std::vector<double> seconds(const std::vector<const RunResult*>& runs) {
  std::vector<double> values;
  for (const RunResult* run : runs) values.push_back(run->seconds);
  return values;
}

std::string seed_list(const std::vector<std::uint64_t>& seeds) {
  std::string text;
  for (std::uint64_t seed : seeds)
    text += (text.empty() ? "" : ", ") + std::to_string(static_cast<unsigned long long>(seed));
  return text;
}

bool is_lsuv(const std::string& init) {
  return init.rfind("lsuv-", 0) == 0;
}

}  // namespace

Spread spread(const std::vector<double>& values) {
  Spread s;
  if (values.empty()) return s;
  for (double v : values) s.mean += v;
  s.mean /= static_cast<double>(values.size());
  if (values.size() < 2) return s;
  double squares = 0.0;
  for (double v : values) squares += (v - s.mean) * (v - s.mean);
  s.std = std::sqrt(squares / static_cast<double>(values.size() - 1));
  return s;
}

std::string results_markdown(const ExperimentResults& results) {
  std::string md = "# lsuv experiment: " + results.model + "\n\n";
  md += format(
      "SGD lr %g, momentum %g, batch %d, %d epoch%s on %d training images; test accuracy "
      "on %d held-out images. ",
      static_cast<double>(results.learning_rate), static_cast<double>(results.momentum),
      static_cast<int>(results.batch_size), static_cast<int>(results.epochs),
      results.epochs == 1 ? "" : "s", static_cast<int>(results.train_count),
      static_cast<int>(results.test_count));
  md += "Mean ± std (sample std) over " + std::to_string(results.seeds.size()) + " seed" +
        (results.seeds.size() == 1 ? "" : "s") + " (" + seed_list(results.seeds) +
        "); for a seed, every init sees the same data order.\n\n| init |";
  std::string rule = "|:---|";
  for (std::int32_t e = 1; e <= results.epochs; ++e) {
    md += format(" epoch %d test accuracy (%%) |", static_cast<int>(e));
    rule += "---:|";
  }
  md += " time per run (s) |\n" + rule + "---:|\n";
  for (const std::string& init : results.inits) {
    const std::vector<const RunResult*> runs = runs_of(results, init);
    md += "| " + init + " |";
    for (std::int32_t e = 0; e < results.epochs; ++e) {
      const Spread a = spread(accuracies(runs, static_cast<std::size_t>(e)));
      md += format(" %.2f ± %.2f |", a.mean, a.std);
    }
    const Spread t = spread(seconds(runs));
    md += format(" %.1f ± %.1f |\n", t.mean, t.std);
  }
  return md;
}

std::string results_csv(const ExperimentResults& results) {
  std::string csv =
      "init,runs,epoch,test_accuracy_percent_mean,test_accuracy_percent_std,test_loss_mean,"
      "test_loss_std,seconds_mean,seconds_std\n";
  for (const std::string& init : results.inits) {
    const std::vector<const RunResult*> runs = runs_of(results, init);
    const Spread t = spread(seconds(runs));
    for (std::int32_t e = 0; e < results.epochs; ++e) {
      const Spread a = spread(accuracies(runs, static_cast<std::size_t>(e)));
      const Spread l = spread(losses(runs, static_cast<std::size_t>(e)));
      csv += init + format(",%d,%d,%.4f,%.4f,%.6f,%.6f,%.3f,%.3f\n", static_cast<int>(runs.size()),
                           static_cast<int>(e + 1), a.mean, a.std, l.mean, l.std, t.mean, t.std);
    }
  }
  return csv;
}

std::string runs_csv(const ExperimentResults& results) {
  std::string csv = "init,seed,epoch,test_accuracy_percent,test_loss,seconds\n";
  for (const RunResult& run : results.runs)
    for (std::size_t e = 0; e < run.epochs.size(); ++e)
      csv += run.init + format(",%llu,%d,%.4f,%.6f,%.3f\n",
                               static_cast<unsigned long long>(run.seed), static_cast<int>(e + 1),
                               100.0 * run.epochs[e].accuracy, run.epochs[e].loss, run.seconds);
  return csv;
}

std::string loss_svg(const ExperimentResults& results) {
  std::size_t steps = 0;
  for (const RunResult& run : results.runs) steps = std::max(steps, run.losses.size());
  const std::size_t window = std::max<std::size_t>(1, steps / 50);
  LinePlot plot;
  plot.title = "Training loss, " + results.model +
               format(": mean of %d seed%s, moving average of %d steps",
                      static_cast<int>(results.seeds.size()), results.seeds.size() == 1 ? "" : "s",
                      static_cast<int>(window));
  plot.x_label = "step (batch of " + std::to_string(results.batch_size) + ")";
  plot.y_label = "training loss (softmax cross-entropy)";
  plot.y_from_zero = true;
  for (const std::string& init : results.inits) {
    const std::vector<const RunResult*> runs = runs_of(results, init);
    std::vector<double> mean(steps, 0.0);
    for (std::size_t i = 0; i < steps; ++i) {
      for (const RunResult* run : runs) mean[i] += run->losses.at(i);
      mean[i] /= static_cast<double>(runs.size());
    }
    PlotSeries series{init, {}, {}};
    double sum = 0.0;
    for (std::size_t i = 0; i < steps; ++i) {
      sum += mean[i];
      if (i >= window) sum -= mean[i - window];
      series.x.push_back(static_cast<double>(i + 1));
      series.y.push_back(sum / static_cast<double>(std::min(i + 1, window)));
    }
    plot.series.push_back(std::move(series));
  }
  return render_svg(plot);
}

std::string lsuv_std_svg(const ExperimentResults& results) {
  LinePlot plot;
  std::vector<std::int32_t> ops;  // the categories: normalised ops in execution order
  for (const RunResult& run : results.runs) {
    if (!is_lsuv(run.init) || run.seed != results.seeds.front()) continue;
    const int colour = static_cast<int>(plot.series.size() / 2);  // one per init
    PlotSeries before{run.init + ": before", {}, {}, true, true, colour};
    PlotSeries after{run.init + ": after", {}, {}, false, true, colour};
    for (const LsuvLayerReport& layer : run.lsuv) {
      if (layer.status == LsuvLayerStatus::measured) continue;  // an Add: no "before"
      auto at = std::find(ops.begin(), ops.end(), layer.layer_index);
      if (at == ops.end()) at = ops.insert(ops.end(), layer.layer_index);
      const double x = static_cast<double>(at - ops.begin());
      before.x.push_back(x);
      before.y.push_back(layer.std_before);
      after.x.push_back(x);
      after.y.push_back(layer.std_after);
    }
    plot.series.push_back(std::move(before));
    plot.series.push_back(std::move(after));
  }
  if (plot.series.empty()) return "";
  for (std::int32_t op : ops)
    plot.x_categories.push_back(results.op_names.at(static_cast<std::size_t>(op)));
  plot.title = "Per-layer output std before and after LSUV, " + results.model + " (seed " +
               std::to_string(static_cast<unsigned long long>(results.seeds.front())) + ")";
  plot.x_label = "layer (pre-activation output, calibration batch)";
  plot.y_label = "output std";
  plot.y_from_zero = true;
  return render_svg(plot);
}

}  // namespace lsuv::cli
