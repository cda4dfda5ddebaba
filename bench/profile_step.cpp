// Where one gan-mnist training step spends its time on this machine: runs the real step
// (gan_step on the seed's networks, batch 512, random data) under LibTorch's profiler and
// prints the operators by total self time per step. A tool for finding overhead, not a
// benchmark figure.
//
//   build/bench/profile_step [--steps 20] [--threads 2] [--trace FILE.json]
#include <torch/csrc/autograd/profiler_legacy.h>
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench_options.h"
#include "forgery/models/registry.h"
#include "forgery/train/gan_step.h"
#include "forgery/train/options.h"

int main(int argc, char** argv) {
  int steps = 20, threads = 2;
  std::string trace;
  if (!forgery::bench::BenchOptions()
           .add("steps", &steps)
           .add("threads", &threads)
           .add("trace", &trace)
           .parse(argc, argv))
    return 2;
  at::set_num_threads(threads);
  torch::manual_seed(0);
  auto config = forgery::build_config("gan-mnist", {});
  auto nets = forgery::find_model("mlp-gan").make_gan(config);
  torch::optim::Adam opt_g(nets.generator->parameters(), torch::optim::AdamOptions(2e-4));
  torch::optim::Adam opt_d(nets.discriminator->parameters(), torch::optim::AdamOptions(2e-4));
  forgery::LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  auto real = torch::rand({512, 1, 28, 28}) * 2 - 1;
  auto step = [&] {
    forgery::gan_step(*nets.generator, *nets.discriminator, ctx, real, {}, {torch::randn({512, 128})},
                      torch::randn({512, 128}));
  };
  for (int i = 0; i < 5; ++i) step();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  double plain_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / steps;
  std::ostringstream out;
  {
    torch::autograd::profiler::RecordProfile guard(out);
    for (int i = 0; i < steps; ++i) step();
  }
  if (!trace.empty()) std::ofstream(trace) << out.str();
  // Self time per operator: a chrome trace of nested complete events on one thread.
  auto events = nlohmann::json::parse(out.str());
  struct Ev { double ts, dur; std::string name; };
  std::vector<Ev> evs;
  for (auto& e : events) if (e.value("ph", "") == "X") evs.push_back({e["ts"].get<double>(), e["dur"].get<double>(), e["name"].get<std::string>()});
  std::sort(evs.begin(), evs.end(), [](const Ev& a, const Ev& b) { return a.ts < b.ts || (a.ts == b.ts && a.dur > b.dur); });
  std::map<std::string, double> self;
  std::vector<size_t> stack;
  std::vector<double> child(evs.size(), 0);
  for (size_t i = 0; i < evs.size(); ++i) {
    while (!stack.empty() && evs[stack.back()].ts + evs[stack.back()].dur <= evs[i].ts) stack.pop_back();
    if (!stack.empty()) child[stack.back()] += evs[i].dur;
    stack.push_back(i);
  }
  double total = 0;
  for (size_t i = 0; i < evs.size(); ++i) {
    self[evs[i].name] += evs[i].dur - child[i];
    total += evs[i].dur - child[i];
  }
  std::vector<std::pair<double, std::string>> rows;
  for (auto& [n, t] : self) rows.emplace_back(t, n);
  std::sort(rows.rbegin(), rows.rend());
  std::printf("%-40s %10s %6s\n", "operator (self time)", "ms/step", "share");
  for (size_t i = 0; i < rows.size() && i < 30; ++i)
    std::printf("%-40s %10.3f %5.1f%%\n", rows[i].second.c_str(), rows[i].first / 1000 / steps, 100 * rows[i].first / total);
  std::printf("%-40s %10.3f\n", "total profiled", total / 1000 / steps);
  std::printf("%-40s %10.3f\n", "one step without the profiler", plain_ms);
  return 0;
}
