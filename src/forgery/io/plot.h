#pragma once
// Line plots (loss curves) as PNG and SVG through cairo. No torch here.
#include <filesystem>
#include <string>
#include <vector>

namespace forgery {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
};

struct PlotSpec {
  std::string title, x_label, y_label;
  std::vector<PlotSeries> series;
  int width = 800, height = 500;
};

bool plot_supported();
// Writes `png` and/or `svg` (an empty path skips that format), atomically.
void write_line_plot(const PlotSpec& spec, const std::filesystem::path& png,
                     const std::filesystem::path& svg);

// Round tick positions covering [lo, hi] (about `count` of them).
std::vector<double> nice_ticks(double lo, double hi, int count);

}  // namespace forgery
