// Images per second of DCGAN training steps (Forgery's real gan_step on the registered dcgan or
// cdcgan networks, random data) on the CPU or a GPU. bench/dcgan_speed.py runs it against the
// same DCGAN in Python (bench/reference/dcgan.py).
//
//   build/bench/dcgan_step [--size 64] [--batch 128] [--steps 30] [--warmup 3] [--threads 2]
//                          [--classes 0] [--device cpu|cuda] [--channels-last 0|1] [--precision fp32|tf32|bf16]
//                          [--graphs 0|1]
// --graphs 1 (CUDA): the step captured as a CUDA graph and replayed (forgery::GraphedSteps, as
// the trainer's cuda_graphs option); its two eager steps and the capture fall in the warm-up.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "bench_options.h"
#include "graphed_step.h"
#include "forgery/core/precision.h"
#include "forgery/core/runtime.h"
#include "forgery/models/registry.h"
#include "forgery/train/gan_step.h"
#include "forgery/train/options.h"

static int64_t batch_size(const forgery::Batch& b) { return b.at("real").size(0); }

int main(int argc, char** argv) {
  int64_t size = 64, batch = 128, steps = 30, warmup = 3, threads = 2, classes = 0, channels_last = 0, graphs = 0;
  std::string device = "cpu", precision = "fp32";
  if (!forgery::bench::BenchOptions()
           .add("size", &size)
           .add("batch", &batch)
           .add("steps", &steps)
           .add("warmup", &warmup)
           .add("threads", &threads)
           .add("classes", &classes)
           .add("device", &device)
           .add("channels-last", &channels_last)
           .add("precision", &precision)
           .add("graphs", &graphs)
           .parse(argc, argv))
    return 2;
  at::set_num_threads(static_cast<int>(threads));
  torch::manual_seed(0);
  const std::string model = classes > 0 ? "cdcgan" : "dcgan";
  std::vector<std::string> sets = {"model=" + model, "channels=1", "image_size=" + std::to_string(size)};
  if (classes > 0) sets.push_back("num_classes=" + std::to_string(classes));
  auto config = forgery::build_config("dcgan-mnist", sets);
  auto nets = forgery::find_model(model).make_gan(config);
  torch::Device dev(device);
  nets.generator->to(dev);
  nets.discriminator->to(dev);
  auto fmt = channels_last ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
  if (channels_last) {
    for (auto& p : nets.generator->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(fmt));
    for (auto& p : nets.discriminator->parameters())
      if (p.dim() == 4) p.set_data(p.data().contiguous(fmt));
  }
  auto adam = [](torch::nn::Module& m) {
    return torch::optim::Adam(m.parameters(), torch::optim::AdamOptions(2e-4).betas({0.5, 0.999}));
  };
  auto opt_g = adam(*nets.generator), opt_d = adam(*nets.discriminator);
  forgery::LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  auto opts = torch::TensorOptions().device(dev);
  auto real = (torch::rand({batch, 1, size, size}, opts) * 2 - 1).contiguous(fmt);
  auto labels = classes > 0 ? torch::randint(0, classes, {batch}, opts.dtype(torch::kLong)) : at::Tensor();
  const forgery::Precision prec = forgery::parse_precision(precision, "--precision");
  forgery::apply_precision(dev, prec);
  forgery::choose_algorithms(dev, /*deterministic=*/false);  // as the trainer does
  forgery::Batch data{{"real", real}};
  if (labels.defined()) data["labels"] = labels;
  auto one_step = [&](const forgery::Batch& b) {
    forgery::AutocastScope autocast(dev, prec);
    auto st = forgery::gan_step(*nets.generator, *nets.discriminator, ctx, b.at("real"),
                                b.count("labels") ? b.at("labels") : at::Tensor(), {torch::randn({batch_size(b), 100}, opts)},
                                torch::randn({batch_size(b), 100}, opts));
    return std::vector<forgery::LossValue>{{"loss_d", st.loss_d}, {"loss_g", st.loss_g}};
  };
  forgery::bench::GraphedStep step(data, one_step);
  if (graphs && !step.use_graphs("dcgan_step", {&opt_g, &opt_d})) return 2;
  auto sync = [&] {
    if (dev.is_cuda()) torch::cuda::synchronize();
  };
  for (int64_t i = 0; i < warmup; ++i) step();
  sync();
  auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) step();
  sync();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("{\"program\": \"forgery\", \"precision\": \"%s\", \"channels_last\": %d, \"graphs\": %lld, "
              "\"size\": %lld, \"batch\": %lld, \"steps\": %lld, \"threads\": %d, "
              "\"seconds\": %.4f, \"images_per_sec\": %.2f}\n",
              precision.c_str(), int(channels_last != 0), (long long)step.captures(), (long long)size,
              (long long)batch, (long long)steps, at::get_num_threads(), secs, steps * batch / secs);
  return 0;
}
