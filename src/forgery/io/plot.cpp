#include "forgery/io/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/features.h"
#include "forgery/core/fs.h"

#if FORGERY_HAVE_CAIRO
#include <cairo-svg.h>
#include <cairo.h>
#endif

namespace forgery {

std::vector<double> nice_ticks(double lo, double hi, int count) {
  if (!(hi > lo)) hi = lo + 1;
  double raw = (hi - lo) / std::max(1, count);
  double mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = mag;
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * mag >= raw) { step = m * mag; break; }
  std::vector<double> ticks;
  for (double t = std::ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step)
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : t);
  return ticks;
}

#if FORGERY_HAVE_CAIRO
bool plot_supported() { return true; }

namespace {
const double kColours[][3] = {{0.89, 0.29, 0.20}, {0.20, 0.47, 0.74}, {0.35, 0.62, 0.25},
                              {0.60, 0.31, 0.64}, {0.95, 0.60, 0.10}};

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

std::string tick_label(double v, double step) {
  char buf[32];
  int decimals = step >= 1 ? 0 : static_cast<int>(std::ceil(-std::log10(step) - 1e-9));
  std::snprintf(buf, sizeof buf, "%.*f", std::min(decimals, 6), v);
  return buf;
}

void draw(cairo_t* cr, const PlotSpec& spec) {
  const double W = spec.width, H = spec.height;
  const double left = 70, right = 20, top = 40, bottom = 55;
  cairo_set_source_rgb(cr, 1, 1, 1);
  cairo_paint(cr);
  double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
  for (const auto& s : spec.series)
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) continue;
      xmin = std::min(xmin, s.x[i]); xmax = std::max(xmax, s.x[i]);
      ymin = std::min(ymin, s.y[i]); ymax = std::max(ymax, s.y[i]);
    }
  if (!std::isfinite(xmin)) { xmin = 0; xmax = 1; ymin = 0; ymax = 1; }
  if (xmax == xmin) xmax = xmin + 1;
  if (ymax == ymin) { ymin -= 0.5; ymax += 0.5; }
  double pad = (ymax - ymin) * 0.05;
  ymin -= pad; ymax += pad;
  auto X = [&](double x) { return left + (x - xmin) / (xmax - xmin) * (W - left - right); };
  auto Y = [&](double y) { return H - bottom - (y - ymin) / (ymax - ymin) * (H - top - bottom); };

  cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, 12);
  cairo_text_extents_t ext;
  // Grid and tick labels.
  auto yt = nice_ticks(ymin, ymax, 6), xt = nice_ticks(xmin, xmax, 8);
  double ystep = yt.size() > 1 ? yt[1] - yt[0] : 1, xstep = xt.size() > 1 ? xt[1] - xt[0] : 1;
  cairo_set_line_width(cr, 1);
  for (double t : yt) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, left, Y(t)); cairo_line_to(cr, W - right, Y(t)); cairo_stroke(cr);
    std::string s = tick_label(t, ystep);
    cairo_text_extents(cr, s.c_str(), &ext);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, left - 6 - ext.width, Y(t) + ext.height / 2); cairo_show_text(cr, s.c_str());
  }
  for (double t : xt) {
    cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
    cairo_move_to(cr, X(t), top); cairo_line_to(cr, X(t), H - bottom); cairo_stroke(cr);
    std::string s = tick_label(t, xstep);
    cairo_text_extents(cr, s.c_str(), &ext);
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_move_to(cr, X(t) - ext.width / 2, H - bottom + 18); cairo_show_text(cr, s.c_str());
  }
  // Axes.
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, left, top, W - left - right, H - top - bottom);
  cairo_stroke(cr);
  // Labels and title.
  cairo_text_extents(cr, spec.x_label.c_str(), &ext);
  cairo_move_to(cr, left + (W - left - right - ext.width) / 2, H - 14);
  cairo_show_text(cr, spec.x_label.c_str());
  cairo_save(cr);
  cairo_text_extents(cr, spec.y_label.c_str(), &ext);
  cairo_move_to(cr, 18, top + (H - top - bottom + ext.width) / 2);
  cairo_rotate(cr, -M_PI / 2);
  cairo_show_text(cr, spec.y_label.c_str());
  cairo_restore(cr);
  cairo_set_font_size(cr, 15);
  cairo_text_extents(cr, spec.title.c_str(), &ext);
  cairo_move_to(cr, (W - ext.width) / 2, 25);
  cairo_show_text(cr, spec.title.c_str());
  // Curves, clipped to the plot area.
  cairo_save(cr);
  cairo_rectangle(cr, left, top, W - left - right, H - top - bottom);
  cairo_clip(cr);
  cairo_set_line_width(cr, 2);
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const auto& s = spec.series[k];
    const double* c = kColours[k % 5];
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    bool pen = false;
    for (size_t i = 0; i < s.x.size() && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) { pen = false; continue; }
      if (pen) cairo_line_to(cr, X(s.x[i]), Y(s.y[i]));
      else cairo_move_to(cr, X(s.x[i]), Y(s.y[i]));
      pen = true;
    }
    if (s.x.size() == 1) cairo_arc(cr, X(s.x[0]), Y(s.y[0]), 3, 0, 2 * M_PI);
    cairo_stroke(cr);
  }
  cairo_restore(cr);
  // Legend, top right.
  cairo_set_font_size(cr, 12);
  double lw = 0;
  for (const auto& s : spec.series) {
    cairo_text_extents(cr, s.name.c_str(), &ext);
    lw = std::max(lw, ext.width);
  }
  double lx = W - right - lw - 50, ly = top + 10;
  cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
  cairo_rectangle(cr, lx, ly, lw + 40, 20.0 * spec.series.size() + 8);
  cairo_fill(cr);
  for (size_t k = 0; k < spec.series.size(); ++k) {
    const double* c = kColours[k % 5];
    double y = ly + 16 + 20.0 * k;
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
    cairo_set_line_width(cr, 2);
    cairo_move_to(cr, lx + 6, y - 4); cairo_line_to(cr, lx + 26, y - 4); cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
    cairo_move_to(cr, lx + 32, y); cairo_show_text(cr, spec.series[k].name.c_str());
  }
}
}  // namespace

void write_line_plot(const PlotSpec& spec, const fs::path& png, const fs::path& svg) {
  if (!png.empty()) {
    cairo_surface_t* surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, spec.width, spec.height);
    cairo_t* cr = cairo_create(surface);
    draw(cr, spec);
    cairo_destroy(cr);
    std::string bytes;
    cairo_status_t st = cairo_surface_write_to_png_stream(surface, append_bytes, &bytes);
    cairo_surface_destroy(surface);
    if (st != CAIRO_STATUS_SUCCESS)
      throw Error("cannot write plot " + png.string() + ": " + cairo_status_to_string(st));
    atomic_write_file(png, bytes);
  }
  if (!svg.empty()) {
    std::string bytes;
    cairo_surface_t* surface = cairo_svg_surface_create_for_stream(append_bytes, &bytes, spec.width, spec.height);
    cairo_t* cr = cairo_create(surface);
    draw(cr, spec);
    cairo_destroy(cr);
    cairo_surface_finish(surface);
    cairo_status_t st = cairo_surface_status(surface);
    cairo_surface_destroy(surface);
    if (st != CAIRO_STATUS_SUCCESS)
      throw Error("cannot write plot " + svg.string() + ": " + cairo_status_to_string(st));
    atomic_write_file(svg, bytes);
  }
}
#else
bool plot_supported() { return false; }
void write_line_plot(const PlotSpec&, const fs::path& png, const fs::path&) {
  throw Error("cannot write plot " + png.string() + ": this build has no plotting support (cairo)");
}
#endif

}  // namespace forgery
