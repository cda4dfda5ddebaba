// The suite on a GPU: PyTorch's golden numbers reproduced by CUDA kernels (TF32 off, fp32),
// exact resume with deterministic algorithms, sampling and translation on the device. Where
// there is no CUDA device every test skips, saying so.
#include <torch/torch.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "forgery/core/fs.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/evaluate.h"
#include "forgery/io/image.h"
#include "forgery/io/state_dict.h"
#include "forgery/models/patchgan.h"
#include "forgery/models/registry.h"
#include "forgery/models/resnet.h"
#include "forgery/models/unet.h"
#include "forgery/core/rng.h"
#include "forgery/core/runtime.h"
#include "forgery/train/cuda_step.h"
#include "forgery/train/cyclegan_step.h"
#include "forgery/train/fused_adam.h"
#include "forgery/train/gan_step.h"
#include "forgery/train/image_pool.h"
#include "forgery/train/options.h"
#include "forgery/train/trainer.h"
#include "golden_fixture.h"
#include "run_fixture.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::run_forgery;
using test::same;
using test::weights;

const c10::Device kGpu(c10::kCUDA, 0);

// The largest difference between two pictures of the same size, in 8-bit levels.
int levels_apart(const fs::path& a_file, const fs::path& b_file) {
  Image a = read_png(a_file), b = read_png(b_file);
  if (a.pixels.size() != b.pixels.size()) return 256;
  int worst = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) worst = std::max(worst, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return worst;
}

class Cuda : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: the GPU tests run on machines with one";
    // fp32 as PyTorch's reference computed it (TF32 would round the products to 10 bits).
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  // cuBLAS and cuDNN sum in other orders than the CPU: 1e-4 relative (PyTorch's own CUDA
  // against CPU tolerance for fp32 is 1.3e-6 relative per operation; a step chains hundreds).
  static void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
    test::expect_close(got.cpu(), want, what, 1e-4, 1e-6);
  }
  test::TempDir tmp_;
};

TEST_F(Cuda, GanStepMatchesPyTorchsNumbers) {
  const test::GoldenFile fx("golden_gan_step.pt");
  Config c = build_config("gan-mnist", {"nz=16", "image_size=7", "width=8", "dropout=0"});
  GanNetworks nets = find_model("mlp-gan").make_gan(c);
  load_module_state(*nets.generator, load_state_dict(test::fixture("py_generator_state_dict.pt")), "G");
  load_module_state(*nets.discriminator, load_state_dict(test::fixture("py_discriminator_state_dict.pt")), "D");
  nets.generator->to(kGpu);
  nets.discriminator->to(kGpu);
  auto& G = *nets.generator;
  auto& D = *nets.discriminator;
  torch::optim::Adam opt_g(G.parameters(), torch::optim::AdamOptions(0.0002));
  torch::optim::Adam opt_d(D.parameters(), torch::optim::AdamOptions(0.0002));
  LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  auto gpu = [&](const char* k) { return fx.get(k).to(kGpu); };
  auto st = gan_step(G, D, ctx, gpu("real"), {}, {gpu("z_d")}, gpu("z_g"));
  expect_close(st.loss_d, fx.get("s1.loss_d"), "loss_d");
  expect_close(st.loss_g, fx.get("s1.loss_g"), "loss_g");
  for (const auto& p : D.named_parameters()) expect_close(p.value().grad(), fx.get("s1.grad_d." + p.key()), "D grad " + p.key());
  for (const auto& p : G.named_parameters()) expect_close(p.value().grad(), fx.get("s1.grad_g." + p.key()), "G grad " + p.key());
  gan_step(G, D, ctx, gpu("real"), {}, {gpu("z_d2")}, gpu("z_g2"));
  for (const auto& p : D.named_parameters()) expect_close(p.value(), fx.get("s2.after_d." + p.key()), "D step 2 " + p.key());
  for (const auto& p : G.named_parameters()) expect_close(p.value(), fx.get("s2.after_g." + p.key()), "G step 2 " + p.key());
}

TEST_F(Cuda, Pix2pixNetworksInEvalModeMatchPyTorchsNumbers) {
  const test::GoldenFile fx("golden_pix2pix.pt");
  UnetGenerator G(UnetGeneratorOptions(3, 3).num_downs(6).ngf(1).use_dropout(true));
  NLayerDiscriminator D(NLayerDiscriminatorOptions(6).ndf(2));
  load_module_state(*G, load_state_dict(test::fixture("py_pix2pix_G.pt")), "G");
  load_module_state(*D, adapt_reference_state(*D, load_state_dict(test::fixture("py_pix2pix_D_old.pt"))), "D");
  torch::NoGradGuard no_grad;
  // PyTorch's eval-mode numbers follow one training-mode forward, whose batch statistics moved
  // the running ones: that forward on the CPU with the reference's dropout draws (the CUDA
  // generator draws other masks), then eval mode on the GPU.
  const at::Tensor x = normalize_bytes(fx.get("x"));
  seed_everything(5);
  G->forward(x);
  D->forward(at::cat({x, fx.get("g_train")}, 1));
  G->to(kGpu);
  D->to(kGpu);
  G->eval();
  D->eval();
  expect_close(G->forward(x.to(kGpu)), fx.get("g_eval"), "U-Net, eval mode");
  expect_close(D->forward(at::cat({x, fx.get("g_eval")}, 1).to(kGpu)), fx.get("d_eval"), "PatchGAN, eval mode");
}

TEST_F(Cuda, CycleGanIterationMatchesPyTorchsLossesAndGradients) {
  const test::GoldenFile fx("golden_cyclegan.pt");
  auto g = [] { return ResnetGenerator(ResnetGeneratorOptions(3, 3).n_blocks(2).ngf(2)); };
  auto d = [] { return NLayerDiscriminator(NLayerDiscriminatorOptions(3).ndf(2).norm(NormKind::Instance)); };
  ResnetGenerator G_A = g(), G_B = g();
  NLayerDiscriminator D_A = d(), D_B = d();
  const std::vector<std::pair<std::string, torch::nn::Module*>> all = {
      {"G_A", G_A.get()}, {"G_B", G_B.get()}, {"D_A", D_A.get()}, {"D_B", D_B.get()}};
  for (const auto& [name, m] : all) {
    load_module_state(*m, fx.with_prefix(name + "."), name);
    m->to(kGpu);
  }
  std::vector<at::Tensor> g_params, d_params;
  for (auto* m : {static_cast<torch::nn::Module*>(G_A.get()), static_cast<torch::nn::Module*>(G_B.get())})
    for (auto& p : m->parameters()) g_params.push_back(p);
  for (auto* m : {static_cast<torch::nn::Module*>(D_A.get()), static_cast<torch::nn::Module*>(D_B.get())})
    for (auto& p : m->parameters()) d_params.push_back(p);
  torch::optim::Adam opt_g(g_params, torch::optim::AdamOptions(0.0002).betas({0.5, 0.999}));
  torch::optim::Adam opt_d(d_params, torch::optim::AdamOptions(0.0002).betas({0.5, 0.999}));
  LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  ImagePool pool_a(0), pool_b(0);
  CycleGanLosses l = cyclegan_step({*G_A, *G_B, *D_A, *D_B}, ctx, normalize_bytes(fx.get("s1.A")).to(kGpu),
                                   normalize_bytes(fx.get("s1.B")).to(kGpu), pool_a, pool_b, CycleGanWeights{},
                                   GanLoss::Lsgan);
  const std::vector<std::pair<std::string, at::Tensor>> losses = {
      {"D_A", l.D_A}, {"G_A", l.G_A}, {"cycle_A", l.cycle_A}, {"idt_A", l.idt_A},
      {"D_B", l.D_B}, {"G_B", l.G_B}, {"cycle_B", l.cycle_B}, {"idt_B", l.idt_B}};
  for (const auto& [k, v] : losses) expect_close(v, fx.get("s1." + k), k);
  // Weight gradients within 1e-4 relative or 1e-5 of the network's largest gradient (cuDNN's
  // fp32 convolutions sum in other orders; rounding errors scale with the largest terms: on an
  // H100 the largest difference was 4.1e-5 against gradients of up to ~16). A bias before
  // InstanceNorm has a zero gradient up to rounding: skipped.
  for (const auto& [name, m] : all) {
    double scale = 0;
    for (const auto& p : m->named_parameters())
      scale = std::max(scale, fx.get("s1.grad_" + name + "." + p.key()).abs().max().item<double>());
    for (const auto& p : m->named_parameters()) {
      const std::string& k = p.key();
      if (k.size() > 5 && k.compare(k.size() - 5, 5, ".bias") == 0) continue;
      test::expect_close(p.value().grad().cpu(), fx.get("s1.grad_" + name + "." + k), "grad " + name + " " + k, 1e-4,
                         std::max(1e-6, 1e-5 * scale));
    }
  }
}

// ---- The fused CUDA Adam and CUDA graphs of whole steps (cuda_step.h) ----

// The largest absolute difference, for messages.
double max_apart(const at::Tensor& a, const at::Tensor& b) {
  return (a.cpu().to(at::kDouble) - b.cpu().to(at::kDouble)).abs().max().item<double>();
}

int64_t adam_steps(torch::optim::Adam& opt) {
  for (auto& [key, state] : opt.state()) {
    (void)key;
    return static_cast<torch::optim::AdamParamState&>(*state).step();
  }
  return -1;
}

TEST_F(Cuda, FusedAdamMatchesTheCpuUpdateAndKeepsTheHostsStepCounts) {
  if (!cuda_step_built()) GTEST_SKIP() << "this build has no fused CUDA Adam (see the configure output)";
  torch::manual_seed(0);
  // The third: a channels-last weight with one input channel (DCGAN's first layer on MNIST),
  // whose gradients come contiguous: strides that differ only where the size is 1.
  std::vector<at::Tensor> cpu = {torch::randn({37, 53}), torch::randn({53}), torch::randn({8, 1, 4, 4})};
  std::vector<at::Tensor> gpu;
  for (auto& t : cpu) {
    t.set_requires_grad(true);
    gpu.push_back(t.detach().to(kGpu).set_requires_grad(true));
  }
  gpu[2] = at::empty_strided({8, 1, 4, 4}, {16, 1, 4, 1}, gpu[2].options()).copy_(gpu[2].detach()).set_requires_grad(true);
  ASSERT_NE(gpu[2].strides(), torch::randn({8, 1, 4, 4}).strides());
  auto options = torch::optim::AdamOptions(2e-4).betas({0.5, 0.999});
  torch::optim::Adam on_cpu(cpu, options), on_gpu(gpu, options);
  auto step_both = [&] {
    for (size_t i = 0; i < cpu.size(); ++i) {
      at::Tensor g = torch::randn(cpu[i].sizes());
      cpu[i].mutable_grad() = g;
      gpu[i].mutable_grad() = g.to(kGpu);
    }
    adam_step(on_cpu);
    ASSERT_TRUE(fused_adam_cuda(on_gpu));
  };
  for (int s = 0; s < 5; ++s) step_both();
  EXPECT_EQ(adam_steps(on_gpu), 5);
  for (size_t i = 0; i < cpu.size(); ++i) expect_close(gpu[i].detach(), cpu[i].detach(), "parameter after 5 steps");
  // A step count changed on the host (a loaded checkpoint): the device's copy follows.
  for (auto* opt : {&on_cpu, &on_gpu})
    for (auto& [key, state] : opt->state()) static_cast<torch::optim::AdamParamState&>(*state).step(1000);
  step_both();
  EXPECT_EQ(adam_steps(on_gpu), 1001);
  for (size_t i = 0; i < cpu.size(); ++i) expect_close(gpu[i].detach(), cpu[i].detach(), "parameter after step 1001");
}

// A small GAN whose step has what the recipes' steps have: noise and dropout from the CUDA
// generator, two optimisers, a frozen network, losses returned on the device.
struct TinyGan {
  torch::nn::Sequential G{nullptr}, D{nullptr};
  std::unique_ptr<torch::optim::Adam> opt_g, opt_d;
  TinyGan() {
    torch::manual_seed(7);
    G = torch::nn::Sequential(torch::nn::Linear(8, 64), torch::nn::ReLU(), torch::nn::Linear(64, 16));
    D = torch::nn::Sequential(torch::nn::Linear(16, 64), torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)),
                              torch::nn::Dropout(0.3), torch::nn::Linear(64, 1));
    G->to(kGpu);
    D->to(kGpu);
    auto o = torch::optim::AdamOptions(2e-4).betas({0.5, 0.999});
    opt_g = std::make_unique<torch::optim::Adam>(G->parameters(), o);
    opt_d = std::make_unique<torch::optim::Adam>(D->parameters(), o);
  }
  std::vector<LossValue> step(const Batch& batch, bool sync_inside = false) {
    LocalOptimizers ctx({{"G", opt_g.get()}, {"D", opt_d.get()}});
    const at::Tensor& real = batch.at("real");
    const int64_t n = real.size(0);
    at::Tensor fake = G->forward(at::randn({n, 8}, real.options()));
    ctx.zero_grad("D");
    at::Tensor loss_d = at::binary_cross_entropy_with_logits(D->forward(real), at::ones({n, 1}, real.options())) +
                        at::binary_cross_entropy_with_logits(D->forward(fake.detach()), at::zeros({n, 1}, real.options()));
    loss_d.backward();
    if (sync_inside) (void)loss_d.item<float>();  // a host read: what a graph cannot record
    ctx.step("D");
    set_requires_grad(*D, false);
    ctx.zero_grad("G");
    at::Tensor loss_g = at::binary_cross_entropy_with_logits(D->forward(fake), at::ones({n, 1}, real.options()));
    loss_g.backward();
    ctx.step("G");
    set_requires_grad(*D, true);
    return {{"loss_d", loss_d.detach()}, {"loss_g", loss_g.detach()}};
  }
};

// Full batches and an epoch's shorter last one, as the trainer feeds them.
std::vector<Batch> tiny_batches() {
  torch::manual_seed(3);
  std::vector<Batch> out;
  for (int epoch = 0; epoch < 3; ++epoch)
    for (int64_t n : {32, 32, 32, 20}) out.push_back({{"real", torch::randn({n, 16}).to(kGpu)}});
  return out;
}

TEST_F(Cuda, GraphedStepsGiveTheEagerStepsNumbersBitForBit) {
  if (!cuda_step_built()) GTEST_SKIP() << "this build has no CUDA graphs (see the configure output)";
  use_deterministic_algorithms();
  const auto batches = tiny_batches();
  TinyGan eager, graphed;
  std::vector<at::Tensor> eager_losses, graphed_losses;
  torch::manual_seed(11);
  for (const auto& b : batches)
    for (const auto& l : eager.step(b)) eager_losses.push_back(l.sum.clone());
  const at::Tensor eager_rng = at::globalContext().defaultGenerator(kGpu).get_state();
  torch::manual_seed(11);
  GraphedSteps graphs({graphed.opt_g.get(), graphed.opt_d.get()}, /*warmup=*/2);
  for (const auto& b : batches)
    for (const auto& l : graphs.run(b, [&](const Batch& x) { return graphed.step(x); }))
      graphed_losses.push_back(l.sum.clone());
  EXPECT_EQ(graphs.disabled_reason(), "");
  // Two eager steps of each shape first: the full batches' first two, the short ones of the
  // first two epochs; then a full batch and a short one captured.
  EXPECT_EQ(graphs.eager_steps(), 4);
  EXPECT_EQ(graphs.captures(), 2);
  EXPECT_EQ(graphs.replays(), int64_t(batches.size()) - 4);
  ASSERT_EQ(eager_losses.size(), graphed_losses.size());
  for (size_t i = 0; i < eager_losses.size(); ++i)
    EXPECT_TRUE(torch::equal(eager_losses[i], graphed_losses[i]))
        << "loss " << i << ": " << eager_losses[i].item<double>() << " eager, " << graphed_losses[i].item<double>()
        << " graphed";
  auto pe = eager.G->parameters(), pg = graphed.G->parameters();
  auto de = eager.D->parameters(), dg = graphed.D->parameters();
  pe.insert(pe.end(), de.begin(), de.end());
  pg.insert(pg.end(), dg.begin(), dg.end());
  for (size_t i = 0; i < pe.size(); ++i)
    EXPECT_TRUE(torch::equal(pe[i], pg[i])) << "parameter " << i << " apart by " << max_apart(pe[i], pg[i]);
  // The host's step counts, which checkpoints hold, advanced with every replay.
  EXPECT_EQ(adam_steps(*graphed.opt_d), int64_t(batches.size()));
  EXPECT_EQ(adam_steps(*graphed.opt_g), int64_t(batches.size()));
  // And the CUDA generator's position, which checkpoints hold too: replays advance it as the
  // eager steps did.
  EXPECT_TRUE(torch::equal(eager_rng, at::globalContext().defaultGenerator(kGpu).get_state()));
}

TEST_F(Cuda, AStepThatCannotBeCapturedRunsEagerlyWithTheSameNumbers) {
  if (!cuda_step_built()) GTEST_SKIP() << "this build has no CUDA graphs (see the configure output)";
  use_deterministic_algorithms();
  const auto batches = tiny_batches();
  TinyGan eager, graphed;
  torch::manual_seed(11);
  for (const auto& b : batches) eager.step(b, true);
  torch::manual_seed(11);
  GraphedSteps graphs({graphed.opt_g.get(), graphed.opt_d.get()}, /*warmup=*/1);
  for (const auto& b : batches) graphs.run(b, [&](const Batch& x) { return graphed.step(x, true); });
  EXPECT_NE(graphs.disabled_reason().find("capture failed"), std::string::npos) << graphs.disabled_reason();
  EXPECT_EQ(graphs.captures(), 0);
  EXPECT_EQ(graphs.eager_steps(), int64_t(batches.size()));
  EXPECT_EQ(adam_steps(*graphed.opt_d), int64_t(batches.size()));
  auto pe = eager.D->parameters(), pg = graphed.D->parameters();
  for (size_t i = 0; i < pe.size(); ++i)
    EXPECT_TRUE(torch::equal(pe[i], pg[i])) << "parameter " << i << " apart by " << max_apart(pe[i], pg[i]);
}

class CudaRun : public Cuda {
 protected:
  void SetUp() override {
    Cuda::SetUp();
    if (IsSkipped()) return;
    test::write_fake_mnist(tmp_ / "mnist", 600, 64, false);
  }
  std::string gan(const std::string& preset, const std::string& out, int epochs) {
    return "train " + preset + " --data '" + (tmp_ / "mnist").string() + "' --out '" + (tmp_ / out).string() +
           "' --epochs " + std::to_string(epochs) + " --device cuda --set progress=off --set deterministic=true";
  }
};

TEST_F(CudaRun, DeterministicRunsResumeBitForBit) {
  for (const std::string preset : {"gan-mnist", "dcgan-mnist"}) {
    auto a = run_forgery(gan(preset, preset + "-straight", 3), tmp_.path());
    ASSERT_EQ(a.exit_code, 0) << a.err;
    auto b = run_forgery(gan(preset, preset + "-split", 1), tmp_.path());
    ASSERT_EQ(b.exit_code, 0) << b.err;
    auto c = run_forgery("resume '" + (tmp_ / (preset + "-split")).string() + "' --epochs 3", tmp_.path());
    ASSERT_EQ(c.exit_code, 0) << c.err;
    for (const char* net : {"generator", "discriminator"})
      EXPECT_TRUE(same(weights(tmp_ / (preset + "-straight"), net), weights(tmp_ / (preset + "-split"), net)))
          << preset << " " << net;
  }
}

// A run that diverges on the GPU stops with an explanation, graphed or eager, whichever way
// the NaN surfaces: the trainer's divergence check, or BCE's device-side assert (which loses the
// CUDA context, explained by the tool).
TEST_F(CudaRun, ADivergedRunStopsAndSaysSo) {
  for (const std::string graphs : {"off", "on"})
    for (const std::string loss : {"bce", "lsgan"}) {
      const std::string out = "diverged-" + loss + "-" + graphs;
      auto r = run_forgery("train gan-mnist --data '" + (tmp_ / "mnist").string() + "' --out '" + (tmp_ / out).string() +
                               "' --epochs 1 --device cuda --set progress=off --set lr_g=1e30 --set lr_d=1e30 --set loss=" +
                               loss + " --set cuda_graphs=" + graphs,
                           tmp_.path());
      EXPECT_EQ(r.exit_code, 1) << out << "\n" << r.err;
      EXPECT_TRUE(r.err.find("training diverged in") != std::string::npos ||
                  r.err.find("a check inside a CUDA kernel failed") != std::string::npos)
          << out << "\n" << r.err;
      EXPECT_FALSE(fs::exists(tmp_ / out / "checkpoints" / "last.pt")) << out;
    }
}

// The trainer's graphed run (cuda_graphs on: both batch shapes captured in epoch 3 and replayed
// in epoch 4) against the same run stepped eagerly: the same weights and losses, bit for bit;
// also the generator's moving average (updated after each replay, outside the graph).
TEST_F(CudaRun, GraphedRunsGiveTheEagerRunsWeights) {
  if (!cuda_step_built()) GTEST_SKIP() << "this build has no CUDA graphs (see the configure output)";
  for (const std::string preset : {"gan-mnist", "dcgan-mnist"}) {
    const std::string ema = " --set ema_kimg=0.5 --set ema_rampup=0.5";
    auto g = run_forgery(gan(preset, preset + "-graphs", 4) + ema + " --set cuda_graphs=on", tmp_.path());
    ASSERT_EQ(g.exit_code, 0) << g.err;
    EXPECT_NE(g.out.find("CUDA graphs: 2 captured"), std::string::npos) << g.out;
    auto e = run_forgery(gan(preset, preset + "-eager", 4) + ema + " --set cuda_graphs=off", tmp_.path());
    ASSERT_EQ(e.exit_code, 0) << e.err;
    for (const char* net : {"generator", "discriminator", "generator_ema"})
      EXPECT_TRUE(same(weights(tmp_ / (preset + "-graphs"), net), weights(tmp_ / (preset + "-eager"), net)))
          << preset << " " << net;
    // The losses as the metrics record them (the same sums, read once per epoch).
    auto losses = [](const fs::path& run) {
      std::string all = read_file(run / "metrics.jsonl", "metrics"), out;
      for (size_t at = all.find("\"loss_d\""); at != std::string::npos; at = all.find("\"loss_d\"", at + 1))
        out += all.substr(at, 40) + "\n";
      return out;
    };
    EXPECT_EQ(losses(tmp_ / (preset + "-graphs")), losses(tmp_ / (preset + "-eager"))) << preset;
  }
}

// CycleGAN's graphed steps (once both pools are full, their draws made before the step and
// handed to the graph with the batch) against the same run stepped eagerly: the same weights,
// bit for bit. U-Net generators, whose kernels have deterministic forms on CUDA (the ResNet
// generator's reflection padding has none for its backward pass).
TEST_F(CudaRun, CycleGanGraphedRunGivesTheEagerRunsWeights) {
  if (!cuda_step_built()) GTEST_SKIP() << "this build has no CUDA graphs (see the configure output)";
  test::write_domains(tmp_ / "h2z", 4, 3, 0);
  auto run = [&](const std::string& name, const std::string& graphs) {
    return run_forgery("train cyclegan-horse2zebra-128 --data '" + (tmp_ / "h2z").string() + "' --out '" +
                           (tmp_ / name).string() +
                           "' --epochs 4 --device cuda --set progress=off --set deterministic=true --set netG=unet_128 "
                           "--set ngf=2 --set ndf=2 --set load_size=136 --set crop_size=128 --set pool_size=2 "
                           "--set visual_count=1 --set eval_every=0 --set cuda_graphs=" + graphs,
                       tmp_.path());
  };
  auto g = run("graphs", "on");
  ASSERT_EQ(g.exit_code, 0) << g.err;
  // 16 steps: two fill the pools (eager, outside the graphs), two more warm up, then twelve
  // replays (the captured step's own included).
  EXPECT_NE(g.out.find("CUDA graphs: 1 captured, 12 steps replayed, 2 eager"), std::string::npos) << g.out;
  auto e = run("eager", "off");
  ASSERT_EQ(e.exit_code, 0) << e.err;
  for (const char* net : {"G_A", "G_B", "D_A", "D_B"})
    EXPECT_TRUE(same(weights(tmp_ / "graphs", net), weights(tmp_ / "eager", net))) << net;
}

// No training step makes the host wait for the device: the host queues step after step, and
// the GPU is never idle between them. LibTorch's sync debug mode throws on every such wait
// (.item(), a copy to the host or from pageable memory, a stream synchronisation); it is on for
// every step of epochs 4 and 5 but each epoch's first (the epoch's end before it reads the
// losses), when the graphs of both batch shapes have been captured (epochs 1-3) and replay.
// Each recipe, its data path included (dcgan with hflip draws its flips on the host).
class CudaSyncFree : public CudaRun {
 protected:
  void SetUp() override {
    CudaRun::SetUp();
    if (!IsSkipped() && !cuda_step_built()) GTEST_SKIP() << "this build has no CUDA graphs (see the configure output)";
  }
  void TearDown() override { forbid_cuda_syncs(false); }
  void expect_no_waits(const std::string& preset, const std::string& words_of_sets) {
    std::vector<std::string> sets = {"epochs=5", "progress=off", "device=cuda"};
    std::istringstream words(words_of_sets);
    for (std::string w; words >> w;) sets.push_back(w);
    const std::string name = preset + " " + words_of_sets.substr(words_of_sets.find(' ') + 1);
    const fs::path dir = tmp_ / ("run-" + std::to_string(++runs_));
    prepare_output_dir(dir, false);
    Trainer t(build_config(preset, sets), dir);
    t.start_new();
    t.load_data();
    const int64_t nb = t.batches_per_epoch();
    ASSERT_GE(nb, 3) << name;
    int64_t checked = 0;
    bool on = false;
    t.after_step = [&](int64_t step) {
      if (on) ++checked;
      on = step > 3 * nb && step % nb != 0;
      forbid_cuda_syncs(on);
    };
    try {
      EXPECT_EQ(t.train(), 0) << name;
    } catch (const std::exception& e) {
      ADD_FAILURE() << name << ": step " << t.global_step() + 1 << " made the host wait for the device: " << e.what();
    }
    forbid_cuda_syncs(false);  // before the trainer's destructor waits for its graphs
    EXPECT_EQ(checked, 2 * (nb - 1)) << name;
  }
  std::string mnist() const { return "data_dir=" + (tmp_ / "mnist").string(); }
  int runs_ = 0;
};

// The guard the tests below rely on: a host wait under it throws, and nothing after it is lifted.
// (Without this, a guard that did nothing would let every test below pass.)
TEST_F(CudaSyncFree, TheGuardStopsAHostWaitAndOnlyWhileOn) {
  const at::Tensor t = torch::ones({8}, torch::TensorOptions().device(kGpu));
  forbid_cuda_syncs(true);
  EXPECT_THROW(t.sum().item<float>(), c10::Error) << "an .item() under the guard";
  EXPECT_THROW(t.cpu(), c10::Error) << "a copy to the host under the guard";
  EXPECT_NO_THROW(t.add(1).mul_(2)) << "device work alone under the guard";
  forbid_cuda_syncs(false);
  EXPECT_EQ(t.sum().item<float>(), 8.0f);
}

TEST_F(CudaSyncFree, GanMnistStepsGraphedAndEager) {
  expect_no_waits("gan-mnist", mnist() + " batch_size=64 cuda_graphs=on ema_kimg=10 ema_rampup=0.05");
  expect_no_waits("gan-mnist", mnist() + " batch_size=64 cuda_graphs=off");
}

TEST_F(CudaSyncFree, ConditionalGanAndDcganWithFlipsSteps) {
  expect_no_waits("cgan-mnist", mnist() + " cuda_graphs=on");
  expect_no_waits("dcgan-mnist", mnist() + " hflip=true cuda_graphs=on");
}

TEST_F(CudaSyncFree, DcganWithTheTutorialsStep) {
  expect_no_waits("dcgan-mnist", mnist() + " g_noise=reuse cuda_graphs=on");
}

TEST_F(CudaSyncFree, Pix2pixSteps) {
  test::write_pairs(tmp_ / "pairs", 5, 1);
  expect_no_waits("pix2pix-facades-128", "data_dir=" + (tmp_ / "pairs").string() +
                                             " ngf=2 ndf=2 load_size=136 eval_every=0 visual_count=1 cuda_graphs=on");
}

TEST_F(CudaSyncFree, CycleGanSteps) {
  test::write_domains(tmp_ / "h2z", 4, 3, 0);
  // Pools of two: full in the first epoch, graphed from the second.
  expect_no_waits("cyclegan-horse2zebra-128", "data_dir=" + (tmp_ / "h2z").string() +
                                                  " ngf=2 ndf=2 load_size=36 crop_size=32 visual_count=1 eval_every=0"
                                                  " pool_size=2 cuda_graphs=on");
}

TEST_F(CudaRun, SamplingOnTheGpuGivesTheCpusImages) {
  auto r = run_forgery(gan("gan-mnist", "run", 1), tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* dev : {"cpu", "cuda"}) {
    r = run_forgery("sample '" + (tmp_ / "run").string() + "' --n 16 --seed 3 --out '" + (tmp_ / dev).string() +
                        ".png' --device " + dev,
                    tmp_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // The same noise, products summed in another order.
  EXPECT_LE(levels_apart(tmp_ / "cpu.png", tmp_ / "cuda.png"), 2);
}

TEST_F(Cuda, TranslationOnTheGpuGivesTheCpusImages) {
  test::write_domains(tmp_ / "h2z", 4, 3, 2);
  auto r = run_forgery("train cyclegan-horse2zebra-128 --data '" + (tmp_ / "h2z").string() +
                           "' --set ngf=2 --set ndf=2 --set load_size=36 --set crop_size=32 --set progress=off "
                           "--set visual_count=1 --epochs 1 --device cpu --out '" + (tmp_ / "run").string() + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* dev : {"cpu", "cuda"}) {
    r = run_forgery("translate '" + (tmp_ / "run").string() + "' --direction AtoB --input '" + (tmp_ / "h2z/testA").string() +
                        "' --out '" + (tmp_ / dev).string() + "' --device " + dev,
                    tmp_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  EXPECT_LE(levels_apart(tmp_ / "cpu/testA_0.png", tmp_ / "cuda/testA_0.png"), 2);
}

// A feature network for eval_every runs on the training run's GPU: the same features as on the
// CPU, up to the kernels' rounding, and a name of its own for the cache of real features.
TEST_F(Cuda, FeatureNetworkOnTheGpuGivesTheCpusFeatures) {
  const auto file = test::fixture("ts_features.pt");
  auto cpu = torchscript_features(file);
  auto gpu = torchscript_features(file, "option eval_features", c10::Device(c10::kCUDA));
  EXPECT_NE(cpu->id(), gpu->id());
  torch::manual_seed(3);
  ImageSet set{torch::rand({7, 3, 16, 16}) * 2 - 1, "random images"};
  Extracted a = cpu->extract(set, ProgressMode::Off), b = gpu->extract(set, ProgressMode::Off);
  ASSERT_TRUE(b.features.device().is_cpu());
  ASSERT_EQ(a.features.sizes(), b.features.sizes());
  const double scale = a.features.abs().max().item<double>();
  EXPECT_LT((a.features - b.features).abs().max().item<double>(), 1e-4 * std::max(scale, 1.0));
  // The training run's path: eval_every on CUDA through the network.
  test::write_noise_pngs(tmp_ / "faces", 32, 16, 6);
  auto r = run_forgery("train dcgan-mnist --epochs 1 --device cuda --set dataset=folder --set channels=3 --set image_size=16 "
                       "--set ngf=4 --set ndf=4 --set batch_size=16 --set progress=off --set sample_size=4 "
                       "--set eval_every=1 --set eval_n=24 --set eval_features='" + file.string() + "' --data '" +
                           (tmp_ / "faces").string() + "' --out '" + (tmp_ / "run").string() + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("fid "), std::string::npos) << r.out;
}

}  // namespace
}  // namespace forgery
