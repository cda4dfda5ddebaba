#include "forgery/core/progress.h"

#include <unistd.h>

#include <cmath>

#include "forgery/core/error.h"

namespace forgery {

ProgressMode parse_progress_mode(const std::string& text) {
  if (text == "auto") return ProgressMode::Auto;
  if (text == "bar") return ProgressMode::Bar;
  if (text == "lines") return ProgressMode::Lines;
  if (text == "off") return ProgressMode::Off;
  throw UsageError("progress '" + text + "': must be auto, bar, lines or off");
}

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "--:--";
  long t = std::lround(s);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else std::snprintf(buf, sizeof buf, "%02ld:%02ld", t / 60, t % 60);
  return buf;
}

ProgressBar::ProgressBar(std::string label, int64_t total, int64_t, ProgressMode mode,
                         std::FILE* out)
    : label_(std::move(label)), total_(total), mode_(mode), out_(out) {
  if (mode_ == ProgressMode::Auto) mode_ = isatty(fileno(out_)) ? ProgressMode::Bar : ProgressMode::Lines;
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

void ProgressBar::update(int64_t done, int64_t items) {
  if (start_done_ < 0) start_done_ = done > 0 ? done - 1 : 0;
  done_ = done;
  items_ = items;
  if (mode_ == ProgressMode::Off) return;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - last_draw_).count();
  // A terminal bar is redrawn up to 8 times a second; plain lines every 15 seconds.
  if ((mode_ == ProgressMode::Bar && since >= 0.125) || (mode_ == ProgressMode::Lines && since >= 15.0)) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::draw(bool final_line) {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = elapsed > 0 ? items_ / elapsed : 0;
  int64_t advanced = done_ - std::max<int64_t>(start_done_, 0);
  double eta = advanced > 0 ? elapsed / advanced * (total_ - done_) : NAN;
  std::string status = status_ ? status_() : "";
  char stats[160];
  std::snprintf(stats, sizeof stats, "%lld/%lld %.0f img/s %s<%s", (long long)done_,
                (long long)total_, rate, format_duration(elapsed).c_str(),
                final_line ? "00:00" : format_duration(eta).c_str());
  if (mode_ == ProgressMode::Bar) {
    const int width = 24;
    int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : width;
    std::string bar(filled, '#');
    bar += std::string(width - filled, '.');
    std::fprintf(out_, "\r\033[K%s [%s] %s %s", label_.c_str(), bar.c_str(), stats, status.c_str());
    if (final_line) std::fputc('\n', out_);
  } else {
    std::fprintf(out_, "%s %s %s\n", label_.c_str(), stats, status.c_str());
  }
  std::fflush(out_);
}

void ProgressBar::finish() {
  // In line mode the caller's epoch summary is the closing line.
  if (finished_ || mode_ != ProgressMode::Bar) return;
  finished_ = true;
  draw(true);
}

}  // namespace forgery
