#include "cli/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace lsuv::cli {
namespace {

constexpr double kWidth = 760, kHeight = 440;
constexpr double kLeft = 72, kRight = 190, kTop = 44, kBottom = 64;  // margins around the frame
constexpr const char* kPalette[] = {"#1f5fa8", "#d2691e", "#2e8b3a", "#b22234",
                                    "#6a4c9c", "#8b5a2b", "#c71585", "#4d4d4d"};

std::string escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", value);
  return text;
}

// A tick label: as few digits as tell the ticks apart.
std::string tick_label(double value, double step) {
  const int decimals = std::max(0, -static_cast<int>(std::floor(std::log10(step) + 1e-9)));
  char text[32];
  std::snprintf(text, sizeof text, "%.*f", decimals, std::fabs(value) < step * 1e-6 ? 0.0 : value);
  return text;
}

struct Range {
  double low = INFINITY, high = -INFINITY;
  void add(double v) {
    if (!std::isfinite(v)) return;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  // An empty or single-valued range widened so that it can be scaled.
  void settle() {
    if (low > high) low = 0, high = 1;
    if (low == high) {
      const double pad = low == 0.0 ? 1.0 : std::fabs(low) * 0.1;
      low -= pad, high += pad;
    }
  }
};

struct Axis {
  double low, high;
  double screen_low, screen_high;
  double at(double v) const {
    return screen_low + (v - low) / (high - low) * (screen_high - screen_low);
  }
};

void text(std::string& svg, double x, double y, const std::string& words, const char* anchor,
          const std::string& extra = "") {
  svg += "<text x=\"" + number(x) + "\" y=\"" + number(y) + "\" text-anchor=\"" + anchor + "\"" +
         extra + ">" + escaped(words) + "</text>\n";
}

void line(std::string& svg, double x1, double y1, double x2, double y2, const char* style) {
  svg += "<line x1=\"" + number(x1) + "\" y1=\"" + number(y1) + "\" x2=\"" + number(x2) +
         "\" y2=\"" + number(y2) + "\" " + style + "/>\n";
}

}  // namespace

std::vector<double> nice_ticks(double low, double high, int target) {
  const double rough = (high - low) / std::max(target, 1);
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  double step = power;
  for (double multiple : {1.0, 2.0, 5.0, 10.0})
    if (power * multiple >= rough) {
      step = power * multiple;
      break;
    }
  std::vector<double> ticks;
  for (double k = std::floor(low / step); k * step <= high + step * 1e-9; k += 1.0)
    if (k * step >= low - step * 1e-9) ticks.push_back(k * step);
  return ticks;
}

std::string render_svg(const LinePlot& plot) {
  Range xr, yr;
  for (const PlotSeries& s : plot.series)
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i)
      if (std::isfinite(s.x[i]) && std::isfinite(s.y[i])) xr.add(s.x[i]), yr.add(s.y[i]);
  const bool categorical = !plot.x_categories.empty();
  if (categorical) xr.low = -0.5, xr.high = static_cast<double>(plot.x_categories.size()) - 0.5;
  if (plot.y_from_zero) yr.add(0.0);
  xr.settle();
  yr.settle();
  // The y axis is widened to its outer ticks; the x axis keeps the data's extent.
  std::vector<double> yticks = nice_ticks(yr.low, yr.high, 6);
  const double ystep = yticks.size() > 1 ? yticks[1] - yticks[0] : 1.0;
  if (yticks.empty() || yticks.front() > yr.low)
    yticks.insert(yticks.begin(), yticks.empty() ? yr.low : yticks.front() - ystep);
  if (yticks.back() < yr.high) yticks.push_back(yticks.back() + ystep);
  const Axis x{xr.low, xr.high, kLeft, kWidth - kRight};
  const Axis y{yticks.front(), yticks.back(), kHeight - kBottom, kTop};

  std::string svg =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" "
      "width=\"" +
      number(kWidth) + "\" height=\"" + number(kHeight) + "\" viewBox=\"0 0 " + number(kWidth) +
      " " + number(kHeight) +
      "\" font-family=\"sans-serif\" font-size=\"12\">\n"
      "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  text(svg, (x.screen_low + x.screen_high) / 2, 24, plot.title, "middle", " font-size=\"15\"");

  for (double v : yticks) {
    line(svg, x.screen_low, y.at(v), x.screen_high, y.at(v), "stroke=\"#e4e4e4\"");
    line(svg, x.screen_low - 5, y.at(v), x.screen_low, y.at(v), "stroke=\"black\"");
    text(svg, x.screen_low - 8, y.at(v) + 4, tick_label(v, ystep), "end");
  }
  const auto x_tick = [&](double v, const std::string& label, bool rotate) {
    line(svg, x.at(v), y.screen_low, x.at(v), y.screen_low + 5, "stroke=\"black\"");
    const double ty = y.screen_low + 19;
    text(svg, x.at(v), ty, label, rotate ? "end" : "middle",
         rotate ? " transform=\"rotate(-30 " + number(x.at(v)) + " " + number(ty) + ")\"" : "");
  };
  if (categorical) {
    const bool rotate = plot.x_categories.size() > 6;
    for (std::size_t i = 0; i < plot.x_categories.size(); ++i)
      x_tick(static_cast<double>(i), plot.x_categories[i], rotate);
  } else {
    const std::vector<double> xticks = nice_ticks(xr.low, xr.high, 8);
    const double xstep = xticks.size() > 1 ? xticks[1] - xticks[0] : 1.0;
    for (double v : xticks) x_tick(v, tick_label(v, xstep), false);
  }
  svg += "<rect x=\"" + number(x.screen_low) + "\" y=\"" + number(y.screen_high) + "\" width=\"" +
         number(x.screen_high - x.screen_low) + "\" height=\"" +
         number(y.screen_low - y.screen_high) + "\" fill=\"none\" stroke=\"black\"/>\n";
  text(svg, (x.screen_low + x.screen_high) / 2, kHeight - 14, plot.x_label, "middle");
  const double label_y = (y.screen_low + y.screen_high) / 2;
  text(svg, 18, label_y, plot.y_label, "middle",
       " transform=\"rotate(-90 18 " + number(label_y) + ")\"");

  for (std::size_t k = 0; k < plot.series.size(); ++k) {
    const PlotSeries& s = plot.series[k];
    const std::size_t index = s.colour >= 0 ? static_cast<std::size_t>(s.colour) : k;
    const std::string colour = kPalette[index % (sizeof kPalette / sizeof kPalette[0])];
    const std::string dash = s.dashed ? " stroke-dasharray=\"6 4\"" : "";
    std::string points;
    for (std::size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      points += (points.empty() ? "" : " ") + number(x.at(s.x[i])) + "," + number(y.at(s.y[i]));
      if (s.markers)
        svg += "<circle cx=\"" + number(x.at(s.x[i])) + "\" cy=\"" + number(y.at(s.y[i])) +
               "\" r=\"3\" fill=\"" + colour + "\"/>\n";
    }
    svg += "<polyline fill=\"none\" stroke=\"" + colour + "\" stroke-width=\"1.6\"" + dash +
           " points=\"" + points + "\"/>\n";
    const double ly = kTop + 8 + 20 * static_cast<double>(k);
    const double lx = kWidth - kRight + 14;
    line(svg, lx, ly, lx + 26, ly, ("stroke=\"" + colour + "\" stroke-width=\"2\"" + dash).c_str());
    text(svg, lx + 32, ly + 4, s.name, "start");
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace lsuv::cli
