#pragma once
// report.html: a run folder to look at rather than read. One self-contained page (inline SVG,
// CSS and script; no network, no external files beyond the run's own images): the options, the
// metrics table, the loss curves, every epoch's picture (slider and filmstrip), the evaluation
// figures (best and last), speed and machine, links to the weights and checkpoints. Built from
// the folder's files alone, so any run can have one, also runs made before it existed.
#include <filesystem>
#include <string>
#include <vector>

namespace forgery {

struct ReportLoss {
  std::string name, label;
  bool plot = true;  // drawn in the chart (otherwise a column of the table only)
};

struct ReportInfo {
  std::vector<ReportLoss> losses;  // the recipe's declared losses
  std::string best_metric;         // the recipe's ("fid", "val_l1", "kid"); lower is better
};

// Writes RUN_DIR/report.html atomically from config.toml, metrics.jsonl, samples/, eval/,
// machine.txt, weights/ and checkpoints/.
void write_report(const std::filesystem::path& run_dir, const ReportInfo& info);

// The report of any run folder: its recipe's declarations from its config. `forgery report`.
void write_report_for_run(const std::filesystem::path& run_dir);

// One line for machine.txt: date, what started (train/resume), CPU model and cores, threads,
// device, LibTorch and Forgery versions.
std::string describe_machine(const std::string& what, int threads, const std::string& device,
                             const std::string& libtorch_version);
// Appends that line to RUN_DIR/machine.txt (atomically rewritten).
void record_machine(const std::filesystem::path& run_dir, const std::string& line);

}  // namespace forgery
