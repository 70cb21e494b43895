// A line chart as a standalone SVG document, written here (no plotting library): a frame with
// ticks at round values and grid lines, tick labels, axis labels, a title and a legend beside
// the frame. Enough for the plots of `lsuv experiment`:
//
//   LinePlot plot;
//   plot.title = "Training loss";
//   plot.x_label = "step";
//   plot.y_label = "loss";
//   plot.series.push_back({"he_normal", steps, losses});
//   const std::string svg = render_svg(plot);
#pragma once

#include <string>
#include <vector>

namespace lsuv::cli {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;  // the same length; points that are not finite are left out
  bool dashed = false;
  bool markers = false;  // a dot at each point
  int colour = -1;       // the palette's colour; -1: the series' own (its index)
};

struct LinePlot {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  // Non-empty: the x axis is categorical, one tick at x = i named x_categories[i].
  std::vector<std::string> x_categories;
  bool y_from_zero = false;  // the y axis includes 0
};

// The SVG text of `plot` (UTF-8, XML-escaped names). The palette has eight colours; further
// series reuse them.
std::string render_svg(const LinePlot& plot);

// Round tick values covering [low, high]: about `target` steps of 1, 2 or 5 times a power of
// ten. low < high and both finite.
std::vector<double> nice_ticks(double low, double high, int target);

}  // namespace lsuv::cli
