#pragma once
// Per-epoch metrics as JSON lines and CSV, rewritten atomically after every epoch (a run has
// hundreds of rows at most), so a stop or crash never leaves a torn row.
#include <filesystem>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace forgery {

using MetricValue = std::variant<int64_t, double, std::string>;
using MetricRow = std::vector<std::pair<std::string, MetricValue>>;

class MetricsLog {
 public:
  explicit MetricsLog(std::filesystem::path dir) : dir_(std::move(dir)) {}
  // Reads dir/metrics.jsonl if present (resume, report). The file is a record, not the run's
  // state (the checkpoint is): a line that is not JSON (the file damaged outside Forgery, which
  // writes it atomically) is left out with a warning naming the file and the line, and the next
  // save() first keeps the file as it was in metrics.jsonl.damaged.
  void load();
  // Keeps rows whose "epoch" is at most `epoch` (a resumed run rewrites what follows).
  void truncate_after(int64_t epoch);
  void append(MetricRow row);
  void save() const;
  const std::vector<MetricRow>& rows() const { return rows_; }
  std::vector<double> column(const std::string& name) const;

 private:
  std::filesystem::path dir_;
  std::vector<MetricRow> rows_;
  mutable std::string damaged_;  // the file as read, where lines were left out (until saved)
};

}  // namespace forgery
