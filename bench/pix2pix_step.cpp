// Iterations per second of pix2pix training steps (Forgery's real pix2pix_step on the
// registered unet_128 / unet_256 and basic PatchGAN, batch 1, random pairs), with the share of
// the time spent in the optimiser steps, on the CPU or a GPU.
//
//   build/bench/pix2pix_step [--size 128|256] [--steps 20] [--warmup 3] [--threads 2] [--device cpu|cuda]
//                            [--channels-last 0|1] [--precision fp32|tf32|bf16] [--graphs 0|1]
// --graphs 1 (CUDA): the step captured as a CUDA graph and replayed (forgery::GraphedSteps, as the
// trainer's cuda_graphs option; its two eager steps and the capture fall in the warm-up; the
// optimisers' share is then not measured and shows 0).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "bench_options.h"
#include "graphed_step.h"
#include "forgery/core/precision.h"
#include "forgery/core/runtime.h"
#include "forgery/models/image_nets.h"
#include "forgery/train/options.h"
#include "timed_optimizers.h"
#include "forgery/train/pix2pix_step.h"

namespace {
using Clock = std::chrono::steady_clock;
using forgery::bench::TimedOptimizers;
}  // namespace

int main(int argc, char** argv) {
  int64_t size = 128, steps = 20, warmup = 3, threads = 2, channels_last = 0, graphs = 0;
  std::string device = "cpu", precision = "fp32";
  if (!forgery::bench::BenchOptions()
           .add("size", &size)
           .add("steps", &steps)
           .add("warmup", &warmup)
           .add("threads", &threads)
           .add("device", &device)
           .add("channels-last", &channels_last)
           .add("precision", &precision)
           .add("graphs", &graphs)
           .parse(argc, argv))
    return 2;
  at::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  auto config = forgery::build_config(size == 256 ? "pix2pix-facades" : "pix2pix-facades-128", {});
  auto G = forgery::make_image_generator(config, 3, 3);
  auto D = forgery::make_image_discriminator(config, 6);
  torch::Device dev(device);
  G->to(dev);
  D->to(dev);
  const auto fmt = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  if (channels_last)
    for (auto* net : {G.get(), D.get()})
      for (auto& p : net->parameters())
        if (p.dim() == 4) p.set_data(p.data().contiguous(fmt));
  auto adam = [](torch::nn::Module& m) {
    return torch::optim::Adam(m.parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  };
  auto opt_g = adam(*G), opt_d = adam(*D);
  TimedOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  auto opts = torch::TensorOptions().device(dev);
  auto a = (torch::rand({1, 3, size, size}, opts) * 2 - 1).contiguous(fmt);
  auto b = (torch::rand({1, 3, size, size}, opts) * 2 - 1).contiguous(fmt);
  const forgery::Precision prec = forgery::parse_precision(precision, "--precision");
  forgery::apply_precision(dev, prec);
  forgery::choose_algorithms(dev, /*deterministic=*/false);  // as the trainer does
  const forgery::Batch data{{"A", a}, {"B", b}};
  auto one_step = [&](const forgery::Batch& x) {
    forgery::AutocastScope autocast(dev, prec);
    auto l = forgery::pix2pix_step(*G, *D, ctx, x.at("A"), x.at("B"), forgery::GanLoss::BceLogits, 100.0);
    return std::vector<forgery::LossValue>{{"G_GAN", l.g_gan}, {"G_L1", l.g_l1}, {"D_real", l.d_real}, {"D_fake", l.d_fake}};
  };
  forgery::bench::GraphedStep step(data, one_step);
  if (graphs && !step.use_graphs("pix2pix_step", {&opt_g, &opt_d})) return 2;
  auto sync = [&] {
    if (dev.is_cuda()) torch::cuda::synchronize();
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  sync();
  ctx.seconds = 0;
  auto t0 = Clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  sync();
  double secs = std::chrono::duration<double>(Clock::now() - t0).count();
  int64_t params = 0;
  for (const auto& p : G->parameters()) params += p.numel();
  for (const auto& p : D->parameters()) params += p.numel();
  std::printf("{\"program\": \"forgery\", \"precision\": \"%s\", \"channels_last\": %d, \"graphs\": %lld, "
              "\"size\": %lld, \"steps\": %lld, \"threads\": %d, \"parameters\": %lld, "
              "\"seconds\": %.4f, \"iterations_per_sec\": %.3f, \"optimizer_share\": %.3f}\n",
              precision.c_str(), int(channels_last != 0), (long long)step.captures(),
              (long long)size, (long long)steps, at::get_num_threads(), (long long)params, secs, steps / secs,
              ctx.seconds / secs);
  return 0;
}
