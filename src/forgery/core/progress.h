#pragma once
// Per-epoch progress: a redrawn bar on a terminal, plain periodic lines otherwise.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace forgery {

enum class ProgressMode { Auto, Bar, Lines, Off };
ProgressMode parse_progress_mode(const std::string& text);

class ProgressBar {
 public:
  // `status` is called only when a line is drawn (so reading losses costs nothing per step).
  ProgressBar(std::string label, int64_t total, int64_t items_per_unit, ProgressMode mode,
              std::FILE* out = stderr);
  void set_status_source(std::function<std::string()> status) { status_ = std::move(status); }
  // Marks `done` units complete (absolute count) with `items` processed so far.
  void update(int64_t done, int64_t items);
  void finish();

 private:
  void draw(bool final_line);
  std::string label_;
  int64_t total_, done_ = 0, items_ = 0, start_done_ = -1;
  ProgressMode mode_;
  std::FILE* out_;
  std::function<std::string()> status_;
  std::chrono::steady_clock::time_point start_, last_draw_;
  bool finished_ = false;
};

std::string format_duration(double seconds);

}  // namespace forgery
