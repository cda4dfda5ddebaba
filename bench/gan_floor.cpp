// The compute floor of one epoch of gan-mnist on this machine: every matrix product that one
// training step needs (the shapes and transposes LibTorch's Linear and autograd use), each
// timed alone on warm caches; their sum over an epoch's batches is the time no implementation
// of the seed's step can beat with this BLAS. Prints JSON.
//
//   build/bench/gan_floor [--threads N] [--batch 512] [--images 60000] [--reps 30] [--dtype fp32|bf16]
//
// --dtype bf16: the products in bfloat16 (precision = "bf16": oneDNN on AVX512-BF16 or AMX).
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench_options.h"

namespace {

at::ScalarType g_dtype = at::kFloat;

at::Tensor randn(at::IntArrayRef sizes) { return torch::randn(sizes, torch::dtype(g_dtype)); }

struct Layer {
  int64_t in, out;
};

double median_seconds(const std::function<void()>& f, int reps) {
  for (int i = 0; i < 3; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

struct Cost {
  double seconds = 0, flops = 0;
};

// Forward y = x W^T + b; backward dx = dy W, dW = dy^T x (as LibTorch's linear does).
void forward(Cost& c, const Layer& l, int64_t rows, int reps) {
  auto x = randn({rows, l.in}), w = randn({l.out, l.in}), b = randn({l.out});
  c.seconds += median_seconds([&] { at::addmm(b, x, w.t()); }, reps);
  c.flops += 2.0 * rows * l.in * l.out;
}
void grad_input(Cost& c, const Layer& l, int64_t rows, int reps) {
  auto dy = randn({rows, l.out}), w = randn({l.out, l.in});
  c.seconds += median_seconds([&] { dy.mm(w); }, reps);
  c.flops += 2.0 * rows * l.in * l.out;
}
void grad_weight(Cost& c, const Layer& l, int64_t rows, int reps) {
  auto dy = randn({rows, l.out}), x = randn({rows, l.in});
  c.seconds += median_seconds([&] { dy.t().mm(x); }, reps);
  c.flops += 2.0 * rows * l.in * l.out;
}

// One step of Forgery's gan_step at batch b: D step on real+fake (2b rows), then G step.
Cost step_cost(int64_t b, int reps, bool seed_form) {
  const std::vector<Layer> G = {{128, 256}, {256, 512}, {512, 1024}, {1024, 784}};
  const std::vector<Layer> D = {{784, 1024}, {1024, 512}, {512, 256}, {256, 1}};
  Cost c;
  // D step: G forward (no grad), D forward and backward on 2b rows (no input grad for layer 1)
  for (auto& l : G) forward(c, l, b, reps);
  for (auto& l : D) forward(c, l, 2 * b, reps);
  for (size_t i = 0; i < D.size(); ++i) {
    grad_weight(c, D[i], 2 * b, reps);
    if (i > 0) grad_input(c, D[i], 2 * b, reps);
  }
  // G step: G forward, D forward, D input grads (D frozen), G weight grads and input grads.
  for (auto& l : G) forward(c, l, b, reps);
  for (auto& l : D) forward(c, l, b, reps);
  for (auto& l : D) grad_input(c, l, b, reps);
  if (seed_form)  // the seed also computes D's weight gradients in G's step
    for (auto& l : D) grad_weight(c, l, b, reps);
  for (size_t i = 0; i < G.size(); ++i) {
    grad_weight(c, G[i], b, reps);
    if (i > 0) grad_input(c, G[i], b, reps);
  }
  return c;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 30;
  int64_t batch = 512, images = 60000;
  std::string dtype = "fp32";
  if (!forgery::bench::BenchOptions()
           .add("threads", &threads)
           .add("batch", &batch)
           .add("images", &images)
           .add("reps", &reps)
           .add("dtype", &dtype)
           .parse(argc, argv))
    return 2;
  if (dtype != "fp32" && dtype != "bf16") {
    std::fprintf(stderr, "gan_floor: --dtype %s: expected fp32 or bf16\n", dtype.c_str());
    return 2;
  }
  g_dtype = dtype == "bf16" ? at::kBFloat16 : at::kFloat;
  at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  const int64_t full = images / batch, rest = images % batch;
  Cost full_step = step_cost(batch, reps, false), last_step = rest ? step_cost(rest, reps, false) : Cost{};
  Cost seed_step = step_cost(batch, reps, true);
  double epoch_s = full * full_step.seconds + last_step.seconds;
  double epoch_flops = full * full_step.flops + last_step.flops;
  // A large square product for the machine's peak fp32 GEMM rate.
  auto a = randn({2048, 2048}), bm = randn({2048, 2048});
  double big = median_seconds([&] { a.mm(bm); }, 10);
  std::printf("{\"dtype\": \"%s\", \"threads\": %d, \"batch\": %lld, \"images\": %lld,\n"
              " \"step_gemm_seconds\": %.6f, \"step_flops\": %.4g, \"step_gflops_per_s\": %.1f,\n"
              " \"epoch_floor_seconds\": %.3f, \"epoch_flops\": %.4g, \"flops_per_image\": %.4g,\n"
              " \"seed_form_flops_per_image\": %.4g,\n"
              " \"peak_gemm_2048_gflops_per_s\": %.1f}\n",
              dtype.c_str(), threads, (long long)batch, (long long)images, full_step.seconds, full_step.flops,
              full_step.flops / full_step.seconds / 1e9, epoch_s, epoch_flops, epoch_flops / images,
              seed_step.flops / batch, 2.0 * 2048 * 2048 * 2048 / big / 1e9);
  return 0;
}
