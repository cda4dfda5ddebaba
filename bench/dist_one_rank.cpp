// What the data-parallel optimiser seam costs on one device: gan-mnist epochs of the trainer
// alone, and as a world of one rank whose gradient buckets go through a collective (NCCL on
// CUDA, or Gloo), in alternating runs. A world of one is what a machine with one GPU can measure
// of NCCL: the all-reduce's launches and bookkeeping, with no traffic between devices. Both arms
// step eagerly (data-parallel steps are not captured as CUDA graphs).
//
//   build/bench/dist_one_rank --data MNIST_DIR [--device cpu|cuda] [--backend gloo|nccl (default:
//       nccl on CUDA where built)]
//       [--epochs 3] [--rounds 2] [--threads 0]
//
// Prints a Markdown table (seconds per epoch after the first, median and range over the rounds;
// rank 0's share of each epoch in collectives) and one JSON line with every figure.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <unistd.h>

#include "bench_options.h"
#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/runtime.h"
#include "forgery/dist/dist.h"
#include "forgery/dist/nccl.h"
#include "forgery/io/metrics.h"
#include "forgery/train/options.h"
#include "forgery/train/trainer.h"

namespace {

struct Epochs {
  std::vector<double> seconds, collective_share;
};

// One run of `epochs` epochs in `dir`; `backend` empty: no group.
Epochs run(const std::vector<std::string>& sets, const forgery::fs::path& dir, const std::string& backend) {
  forgery::prepare_output_dir(dir, true);
  std::shared_ptr<forgery::dist::Group> group;
  if (!backend.empty()) {
    forgery::dist::WorldSpec spec;
    spec.method = "file";
    spec.file_path = (dir.parent_path() / (dir.filename().string() + ".rendezvous")).string();
    forgery::fs::remove(spec.file_path);
    group = forgery::dist::Group::create(spec, std::chrono::seconds(120), backend);
  }
  {
    forgery::Trainer t(forgery::build_config("gan-mnist", sets), dir);
    if (group) t.set_group(group, /*keep_alone=*/true);
    t.start_new();
    if (t.train() != 0) throw forgery::Error("the run in " + dir.string() + " did not finish");
  }
  forgery::MetricsLog log(dir);
  log.load();
  const auto secs = log.column("seconds");
  Epochs e;
  for (size_t i = 1; i < secs.size(); ++i) {  // the first epoch carries the start-up
    e.seconds.push_back(secs[i]);
    e.collective_share.push_back(group ? log.column("collective_seconds")[i] / secs[i] : 0.0);
  }
  return e;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data, device = "cpu", backend;
  int epochs = 3, rounds = 2, threads = 0;
  if (!forgery::bench::BenchOptions()
           .add("data", &data)
           .add("device", &device)
           .add("backend", &backend)
           .add("epochs", &epochs)
           .add("rounds", &rounds)
           .add("threads", &threads)
           .parse(argc, argv))
    return 2;
  if (data.empty()) {
    std::fprintf(stderr, "--data MNIST_DIR is needed (the MNIST files, e.g. ../shared/datasets/mnist)\n");
    return 2;
  }
  if (epochs < 2) {
    std::fprintf(stderr, "--epochs %d: at least 2 (the first is not timed)\n", epochs);
    return 2;
  }
  // NCCL on CUDA where this build has it (what a one-GPU machine can measure of it), else Gloo.
  if (backend.empty()) backend = device == "cuda" && forgery::dist::nccl_built() ? "nccl" : "gloo";
  threads = forgery::configure_threads(threads);  // as the forgery command does (0: the machine's cores)
  try {
    if (!forgery::dist::available())
      throw forgery::Error("this build has no data-parallel training (Gloo's headers were missing at configure time)");
    const std::vector<std::string> sets = {"data_dir=" + data,     "epochs=" + std::to_string(epochs),
                                           "device=" + device,     "threads=" + std::to_string(threads),
                                           "progress=off",         "cuda_graphs=off",
                                           "final_samples=0",      "async_writes=true"};
    const std::string group_arm = "one rank, " + backend;
    const std::vector<std::pair<std::string, std::string>> arms = {{"alone", ""}, {group_arm, backend}};
    std::map<std::string, Epochs> got;
    const forgery::fs::path tmp = forgery::fs::temp_directory_path() / ("forgery-dist-one-rank-" + std::to_string(::getpid()));
    forgery::fs::create_directories(tmp);
    for (int r = 0; r < rounds; ++r)
      for (const auto& [name, b] : arms) {
        Epochs e = run(sets, tmp / (b.empty() ? "alone" : "group"), b);
        auto& all = got[name];
        all.seconds.insert(all.seconds.end(), e.seconds.begin(), e.seconds.end());
        all.collective_share.insert(all.collective_share.end(), e.collective_share.begin(), e.collective_share.end());
      }
    forgery::fs::remove_all(tmp);
    const double base = median(got["alone"].seconds);
    std::printf("\n| gan-mnist on %s, %d timed epoch(s) x %d rounds, eager steps | s/epoch (median) | range | vs alone "
                "| in collectives |\n|---|---|---|---|---|\n",
                device.c_str(), epochs - 1, rounds);
    nlohmann::json out = {{"device", device}, {"backend", backend}, {"epochs", epochs}, {"rounds", rounds}};
    for (const auto& [name, b] : arms) {
      const Epochs& e = got[name];
      const double m = median(e.seconds);
      std::printf("| %s | %.3f | %.3f-%.3f | %.3fx | %.1f%% |\n", name.c_str(), m,
                  *std::min_element(e.seconds.begin(), e.seconds.end()),
                  *std::max_element(e.seconds.begin(), e.seconds.end()), m / base, 100 * median(e.collective_share));
      out[name] = {{"seconds", e.seconds}, {"collective_share", e.collective_share}};
    }
    std::printf("%s\n", out.dump().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dist_one_rank: %s\n", e.what());
    return 1;
  }
  return 0;
}
