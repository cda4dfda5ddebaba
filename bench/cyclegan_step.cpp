// Iterations per second of CycleGAN training steps (Forgery's real cyclegan_step on the
// registered resnet_6blocks / resnet_9blocks generators and basic PatchGANs with InstanceNorm,
// batch 1, random images, pools of 50 filled first), with the optimisers' share, on the CPU or a
// GPU; --graphs 1 steps through CUDA graphs as the trainer's cuda_graphs option does (the pools'
// draws made before each step and handed to it; the two eager steps and the capture fall in the
// warm-up).
//
//   build/bench/cyclegan_step [--size 128|256] [--ngf 64] [--steps 10] [--warmup 3] [--threads 2]
//                             [--device cpu|cuda] [--channels-last 0|1] [--precision fp32|tf32|bf16]
//                             [--graphs 0|1]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "bench_options.h"
#include "graphed_step.h"
#include "forgery/core/precision.h"
#include "forgery/core/runtime.h"
#include "forgery/models/image_nets.h"
#include "forgery/train/cyclegan_step.h"
#include "forgery/train/options.h"
#include "timed_optimizers.h"

namespace {
using Clock = std::chrono::steady_clock;
using forgery::bench::TimedOptimizers;
}  // namespace

int main(int argc, char** argv) {
  int64_t size = 128, ngf = 64, steps = 10, warmup = 3, threads = 2, channels_last = 0, graphs = 0;
  std::string device = "cpu", precision = "fp32";
  if (!forgery::bench::BenchOptions()
           .add("size", &size)
           .add("ngf", &ngf)
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
  auto config = forgery::build_config(size == 256 ? "cyclegan-horse2zebra" : "cyclegan-horse2zebra-128",
                                      {"ngf=" + std::to_string(ngf), "ndf=" + std::to_string(ngf)});
  auto G_A = forgery::make_image_generator(config, 3, 3), G_B = forgery::make_image_generator(config, 3, 3);
  auto D_A = forgery::make_image_discriminator(config, 3), D_B = forgery::make_image_discriminator(config, 3);
  torch::Device dev(device);
  std::vector<at::Tensor> gp, dp;
  for (auto* net : {G_A.get(), G_B.get()}) {
    net->to(dev);
    for (auto& p : net->parameters()) gp.push_back(p);
  }
  for (auto* net : {D_A.get(), D_B.get()}) {
    net->to(dev);
    for (auto& p : net->parameters()) dp.push_back(p);
  }
  const auto fmt = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  if (channels_last)
    for (auto* list : {&gp, &dp})
      for (auto& p : *list)
        if (p.dim() == 4) p.set_data(p.data().contiguous(fmt));
  const forgery::Precision prec = forgery::parse_precision(precision, "--precision");
  forgery::apply_precision(dev, prec);
  forgery::choose_algorithms(dev, /*deterministic=*/false);  // as the trainer does
  torch::optim::Adam opt_g(gp, torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  torch::optim::Adam opt_d(dp, torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  TimedOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  auto opts = torch::TensorOptions().device(dev);
  auto a = (torch::rand({1, 3, size, size}, opts) * 2 - 1).contiguous(fmt);
  auto b = (torch::rand({1, 3, size, size}, opts) * 2 - 1).contiguous(fmt);
  // Pools of 50 already full, as for all but a run's first 50 steps: each query exchanges.
  forgery::ImagePool pool_a(50), pool_b(50);
  for (int i = 0; i < 50; ++i) {
    pool_a.query(torch::rand({1, 3, size, size}, opts) * 2 - 1);
    pool_b.query(torch::rand({1, 3, size, size}, opts) * 2 - 1);
  }
  auto one_step = [&](const forgery::Batch& x) {
    forgery::AutocastScope autocast(dev, prec);
    auto l = forgery::cyclegan_step({*G_A, *G_B, *D_A, *D_B}, ctx, x.at("A"), x.at("B"), pool_a, pool_b,
                                    forgery::CycleGanWeights{}, forgery::GanLoss::Lsgan, &x);
    return std::vector<forgery::LossValue>{{"D_A", l.D_A}, {"G_A", l.G_A}, {"cycle_A", l.cycle_A},
                                           {"idt_A", l.idt_A}, {"D_B", l.D_B}, {"G_B", l.G_B},
                                           {"cycle_B", l.cycle_B}, {"idt_B", l.idt_B}};
  };
  // As the CycleGAN recipe's prepare_batch: the pools' draws made first, handed to the step.
  auto prepare = [&](forgery::Batch& x) { forgery::add_pool_draws(x, pool_a, pool_b, dev); };
  forgery::bench::GraphedStep step(forgery::Batch{{"A", a}, {"B", b}}, one_step, prepare);
  if (graphs && !step.use_graphs("cyclegan_step", {&opt_g, &opt_d})) return 2;
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
  std::printf("{\"program\": \"forgery\", \"precision\": \"%s\", \"channels_last\": %d, \"graphs\": %lld, \"size\": %lld, "
              "\"ngf\": %lld, \"steps\": %lld, \"threads\": %d, "
              "\"seconds\": %.4f, \"iterations_per_sec\": %.3f, \"optimizer_share\": %.3f}\n",
              precision.c_str(), int(channels_last != 0), (long long)step.captures(), (long long)size, (long long)ngf,
              (long long)steps,
              at::get_num_threads(), secs, steps / secs, ctx.seconds / secs);
  return 0;
}
