// CycleGAN: golden tests against the PyTorch reference program (bench/reference/cyclegan.py
// through tests/fixtures/make_fixtures.py --only cyclegan), and end to end on tiny generated
// unpaired images: the run folder, exact resume (pools included), translate both ways, and the
// bad inputs the issue lists.
#include <torch/torch.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/rng.h"
#include "forgery/core/stop.h"
#include "forgery/data/image_data.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/domain_judge.h"
#include "forgery/io/image.h"
#include "forgery/io/metrics.h"
#include "forgery/io/state_dict.h"
#include "forgery/io/torch_file.h"
#include "forgery/models/patchgan.h"
#include "forgery/models/resnet.h"
#include "forgery/train/checkpoint.h"
#include "forgery/models/image_nets.h"
#include "forgery/train/cyclegan_step.h"
#include "forgery/train/pix2pix_step.h"
#include "forgery/train/options.h"
#include "forgery/train/trainer.h"
#include "golden_fixture.h"
#include "run_fixture.h"
#include "test_util.h"

namespace forgery {
namespace {

using test::run_forgery;
using test::same;
using test::TempDir;
using test::weights;
using test::write_domains;

class GoldenCycleGan : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { at::set_num_threads(1); }
  static const test::GoldenFile& fx() {
    static const test::GoldenFile f("golden_cyclegan.pt");
    return f;
  }
  static at::Tensor get(const std::string& key) { return fx().get(key); }
  static at::Tensor image(const std::string& key) { return normalize_bytes(get(key)); }
  struct Nets {
    ResnetGenerator G_A, G_B;
    NLayerDiscriminator D_A, D_B;
  };
  // The fixture's small networks (2 residual blocks, ngf 2; PatchGAN ndf 2; InstanceNorm).
  static Nets networks() {
    auto g = [] { return ResnetGenerator(ResnetGeneratorOptions(3, 3).n_blocks(2).ngf(2)); };
    auto d = [] { return NLayerDiscriminator(NLayerDiscriminatorOptions(3).ndf(2).norm(NormKind::Instance)); };
    Nets n{g(), g(), d(), d()};
    load_module_state(*n.G_A, fx().with_prefix("G_A."), "G_A");
    load_module_state(*n.G_B, fx().with_prefix("G_B."), "G_B");
    load_module_state(*n.D_A, fx().with_prefix("D_A."), "D_A");
    load_module_state(*n.D_B, fx().with_prefix("D_B."), "D_B");
    return n;
  }
  static void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
    test::expect_close(got, want, what, 1e-4, 1e-6);
  }
};

TEST_F(GoldenCycleGan, SeededInitialisationIsTheReferences) {
  // torch.manual_seed(0); G_A, G_B = resnet_6blocks; D_A, D_B = basic, InstanceNorm.
  Config c = build_config("cyclegan-horse2zebra-128", {});
  seed_everything(0);
  std::vector<std::pair<std::string, std::shared_ptr<ImageNet>>> nets;
  nets.emplace_back("G_A", make_image_generator(c, 3, 3));
  nets.emplace_back("G_B", make_image_generator(c, 3, 3));
  nets.emplace_back("D_A", make_image_discriminator(c, 3));
  nets.emplace_back("D_B", make_image_discriminator(c, 3));
  for (const auto& [tag, net] : nets)
    for (const auto& p : net->named_parameters()) {
      auto flat = p.value().detach().to(torch::kDouble).flatten();
      auto got = torch::cat({flat.sum().view(1), flat.pow(2).sum().view(1),
                             flat.narrow(0, 0, std::min<int64_t>(5, flat.numel())), flat.narrow(0, flat.numel() - 1, 1)});
      test::expect_close(got, get("init." + tag + "." + p.key()), "init " + tag + " " + p.key(), 1e-6, 1e-9);
    }
}

TEST_F(GoldenCycleGan, ResnetGeneratorAndInstanceNormPatchGan) {
  Nets n = networks();
  torch::NoGradGuard no_grad;
  at::Tensor g = n.G_A->forward(image("x"));
  expect_close(g, get("g_out"), "G_A");
  expect_close(n.D_A->forward(get("g_out")), get("d_out"), "D_A");
  // InstanceNorm keeps no statistics: eval mode gives the same images.
  n.G_A->eval();
  expect_close(n.G_A->forward(image("x")), get("g_out"), "G_A in eval mode");
  std::vector<std::string> keys;
  for (const auto& [k, _] : module_state(*n.G_A)) keys.push_back(k);
  EXPECT_EQ(keys.front(), "model.1.weight");
  EXPECT_NE(std::find(keys.begin(), keys.end(), "model.10.conv_block.5.bias"), keys.end());
}

TEST_F(GoldenCycleGan, TwoIterationsMatchEveryLossGradientAndBothAdamSteps) {
  Nets n = networks();
  std::vector<at::Tensor> g_params, d_params;
  for (auto* m : {static_cast<torch::nn::Module*>(n.G_A.get()), static_cast<torch::nn::Module*>(n.G_B.get())})
    for (auto& p : m->parameters()) g_params.push_back(p);
  for (auto* m : {static_cast<torch::nn::Module*>(n.D_A.get()), static_cast<torch::nn::Module*>(n.D_B.get())})
    for (auto& p : m->parameters()) d_params.push_back(p);
  torch::optim::Adam opt_g(g_params, torch::optim::AdamOptions(0.0002).betas({0.5, 0.999}));
  torch::optim::Adam opt_d(d_params, torch::optim::AdamOptions(0.0002).betas({0.5, 0.999}));
  LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  ImagePool pool_a(0), pool_b(0);  // fixed decisions: D sees the latest fakes
  const std::vector<std::pair<std::string, torch::nn::Module*>> all = {
      {"G_A", n.G_A.get()}, {"G_B", n.G_B.get()}, {"D_A", n.D_A.get()}, {"D_B", n.D_B.get()}};
  for (int step : {1, 2}) {
    const std::string s = "s" + std::to_string(step) + ".";
    CycleGanLosses l = cyclegan_step({*n.G_A, *n.G_B, *n.D_A, *n.D_B}, ctx, image(s + "A"), image(s + "B"), pool_a,
                                     pool_b, CycleGanWeights{}, GanLoss::Lsgan);
    const std::vector<std::pair<std::string, at::Tensor>> losses = {
        {"D_A", l.D_A}, {"G_A", l.G_A}, {"cycle_A", l.cycle_A}, {"idt_A", l.idt_A},
        {"D_B", l.D_B}, {"G_B", l.G_B}, {"cycle_B", l.cycle_B}, {"idt_B", l.idt_B}};
    for (const auto& [k, v] : losses) expect_close(v, get(s + k), s + k);
    for (const auto& [name, m] : all) {
      if (step == 1) {
        // Gradients within 1e-5 of the network's largest one: other LibTorch builds (2.x's CPU
        // kernels) sum in other orders, and rounding errors scale with the largest terms summed;
        // a bias before InstanceNorm (zero in exact arithmetic) carries only such noise.
        double scale = 0;
        for (const auto& p : m->named_parameters())
          scale = std::max(scale, get("s1.grad_" + name + "." + p.key()).abs().max().item<double>());
        for (const auto& p : m->named_parameters())
          test::expect_close(p.value().grad(), get("s1.grad_" + name + "." + p.key()), "grad " + name + " " + p.key(),
                             1e-4, std::max(1e-6, 1e-5 * scale));
      }
      for (const auto& [k, t] : module_state(*m)) {
        // A convolution's bias before InstanceNorm has a zero gradient in exact arithmetic (the
        // norm removes each channel's mean): both programs compute rounding noise there, which
        // Adam turns into steps of up to lr each way. Those biases only have to stay within them.
        const std::string grad = "s1.grad_" + name + "." + k;
        const bool bias = k.size() > 5 && k.compare(k.size() - 5, 5, ".bias") == 0;
        const std::string weight_grad = bias ? grad.substr(0, grad.size() - 5) + ".weight" : "";
        if (bias && fx().has(grad) &&
            get(grad).abs().max().item<double>() < 1e-3 * get(weight_grad).abs().max().item<double>())
          test::expect_close(t, get(s + "after_" + name + "." + k), s + name + " " + k + " (zero gradient)", 0,
                             2 * 0.0002 * step);
        else
          expect_close(t, get(s + "after_" + name + "." + k), s + name + " " + k);
      }
    }
  }
}

TEST_F(GoldenCycleGan, ImagePoolDecidesAsTheReferenceWithTheSameDraws) {
  seed_everything(7);
  ImagePool pool(3);
  std::vector<double> returned;
  for (int i = 0; i < 10; ++i) returned.push_back(pool.query(torch::full({1, 1, 1, 1}, double(i))).item<double>());
  EXPECT_TRUE(torch::equal(torch::tensor(returned, torch::kFloat), get("pool.returned"))) << torch::tensor(returned);
  EXPECT_TRUE(torch::equal(pool.state().flatten(), get("pool.kept")));
  // The first three are stored and passed on as they come; a full pool passes the new image or
  // a stored one, and keeps three.
  EXPECT_EQ(std::vector<double>(returned.begin(), returned.begin() + 3), (std::vector<double>{0, 1, 2}));
  EXPECT_EQ(pool.count(), 3);
  ImagePool off(0);
  at::Tensor fakes = torch::rand({2, 3, 4, 4});
  EXPECT_TRUE(off.query(fakes).is_same(fakes));
}

TEST(FrozenDiscriminators, AStepLeftByAnExceptionLeavesThemTrainable) {
  // A step left half-way (a failed CUDA graph capture is retried eagerly; a program may catch
  // and go on): the discriminators frozen for the generators' part are trainable again.
  struct ThrowsAtG : StepContext {
    void zero_grad(const std::string&) override {}
    void step(const std::string& name) override {
      if (name == "G") throw std::runtime_error("stopped in G's step");
    }
  } ctx;
  auto trainable = [](torch::nn::Module& m) {
    for (const auto& p : m.parameters())
      if (!p.requires_grad()) return false;
    return true;
  };
  Config c = build_config("cyclegan-horse2zebra-128", {"ngf=2", "ndf=2", "netG=unet_128"});
  auto G_A = make_image_generator(c, 3, 3), G_B = make_image_generator(c, 3, 3);
  auto D_A = make_image_discriminator(c, 3), D_B = make_image_discriminator(c, 3);
  const at::Tensor a = torch::rand({1, 3, 128, 128}) * 2 - 1, b = torch::rand({1, 3, 128, 128}) * 2 - 1;
  ImagePool pool_a(0), pool_b(0);
  EXPECT_THROW(cyclegan_step({*G_A, *G_B, *D_A, *D_B}, ctx, a, b, pool_a, pool_b, CycleGanWeights{}, GanLoss::Lsgan),
               std::runtime_error);
  EXPECT_TRUE(trainable(*D_A));
  EXPECT_TRUE(trainable(*D_B));
  Config p = build_config("pix2pix-facades-128", {"ngf=2", "ndf=2"});
  auto G = make_image_generator(p, 3, 3);
  auto D = make_image_discriminator(p, 6);
  EXPECT_THROW(pix2pix_step(*G, *D, ctx, a, b, GanLoss::BceLogits, 100.0), std::runtime_error);
  EXPECT_TRUE(trainable(*D));
}

TEST(ImagePoolDraws, DrawsThenApplyDecideAsQueryWithTheSameStream) {
  // The graph-safe form of a full pool's query (draws on the host first, then device work
  // only) passes on and keeps the same images as query(), drawing the same numbers.
  auto fake = [](int i) { return torch::full({2, 1, 2, 2}, double(i)) + torch::arange(2).view({2, 1, 1, 1}) * 0.5; };
  ImagePool a(3), b(3);
  seed_everything(11);
  std::vector<at::Tensor> from_query;
  for (int i = 0; i < 12; ++i) from_query.push_back(a.query(fake(i)));
  seed_everything(11);
  std::vector<at::Tensor> from_draws;
  for (int i = 0; i < 12; ++i) {
    EXPECT_EQ(b.full(), i >= 2) << i;  // two images a query: full after the second
    if (!b.full()) {
      from_draws.push_back(b.query(fake(i)));
      continue;
    }
    const at::Tensor d = b.draws(2);
    EXPECT_EQ(d.sizes(), (std::vector<int64_t>{2, 2}));
    from_draws.push_back(b.apply(fake(i), d));
  }
  const double next_after_draws = at::rand({1}).item<double>();
  for (int i = 0; i < 12; ++i) EXPECT_TRUE(torch::equal(from_query[i], from_draws[i])) << i;
  EXPECT_TRUE(torch::equal(a.state(), b.state()));
  // The same stream consumed: the next number drawn after either is the same.
  seed_everything(11);
  ImagePool c(3);
  for (int i = 0; i < 12; ++i) c.query(fake(i));
  EXPECT_EQ(at::rand({1}).item<double>(), next_after_draws);
  // Old images came back at least once (the pool really exchanged some).
  int passed_on_old = 0;
  for (int i = 2; i < 12; ++i) passed_on_old += !torch::equal(from_query[i], fake(i).narrow(0, 0, 2));
  EXPECT_GT(passed_on_old, 0);
  EXPECT_THROW(ImagePool(2).apply(fake(0), torch::zeros({2, 2}, torch::kLong)), std::logic_error);
}

// ---------------------------------------------------------------------------------------------
// End to end on generated unpaired images.

class CycleGanRun : public test::RunTest {
 protected:
  void SetUp() override {
    RunTest::SetUp();
    write_domains(tmp_ / "h2z", 4, 3, 2);
  }
  // The 128 preset with tiny networks on 32x32 images (resized to 36, cropped to 32), pools of 2.
  Config config(int64_t epochs, std::vector<std::string> extra = {}) {
    std::vector<std::string> sets = {"data_dir=" + (tmp_ / "h2z").string(), "epochs=" + std::to_string(epochs),
                                     "progress=off", "threads=2", "device=cpu", "ngf=2", "ndf=2", "load_size=36",
                                     "crop_size=32", "pool_size=2", "n_epochs=1", "n_epochs_decay=2", "visual_count=2"};
    sets.insert(sets.end(), extra.begin(), extra.end());
    return build_config("cyclegan-horse2zebra-128", sets);
  }
  std::string tiny() const {
    return "--data '" + (tmp_ / "h2z").string() + "' --set ngf=2 --set ndf=2 --set load_size=36 --set crop_size=32 "
           "--set progress=off --set visual_count=1";
  }
};

TEST_F(CycleGanRun, WritesEveryArtifactWithTheReferencesNames) {
  fs::path dir = run("run", config(2));
  MetricsLog log(dir);
  log.load();
  ASSERT_EQ(log.rows().size(), 2u);
  for (const char* k : {"D_A", "G_A", "cycle_A", "idt_A", "D_B", "G_B", "cycle_B", "idt_B"})
    for (double v : log.column(k)) EXPECT_TRUE(std::isfinite(v) && v > 0) << k;
  EXPECT_EQ(log.column("step"), (std::vector<double>{4, 8}));  // max(|A|, |B|) = 4 an epoch
  std::string csv = read_file(dir / "metrics.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')),
            "epoch,step,D_A,G_A,cycle_A,idt_A,D_B,G_B,cycle_B,idt_B,lr_G,lr_D,seconds,images_per_sec");
  // Visuals: 2 test images a domain, real | fake | reconstruction rows.
  Image grid = read_png(dir / "samples/epoch_0002.png");
  EXPECT_EQ(grid.width, 3 * 32 + 4 * 2);
  EXPECT_EQ(grid.height, 4 * 32 + 5 * 2);
  for (const char* net : {"G_A", "G_B", "D_A", "D_B"}) EXPECT_TRUE(fs::exists(dir / "weights" / (std::string(net) + ".pt")));
  EXPECT_EQ(weights(dir, "G_A").front().first, "model.1.weight");
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_EQ(ck.get_string("recipe"), "cyclegan");
  EXPECT_EQ(ck.get("recipe_state", "pool_A").toTensor().size(0), 2);  // full pools of 2
  EXPECT_EQ(ck.get_tensors("optimizers", "G").front().first, "G_A.model.1.weight.exp_avg");
  // The report: a curve for each of the eight losses, a row per epoch, both pictures.
  std::string page = read_file(dir / "report.html");
  size_t curves = 0;
  for (size_t at = page.find("class=\"curve\""); at != std::string::npos; at = page.find("class=\"curve\"", at + 1)) ++curves;
  EXPECT_EQ(curves, 8u);
  EXPECT_NE(page.find("data-loss=\"idt_B\""), std::string::npos);
  EXPECT_NE(page.find("samples/epoch_0002.png"), std::string::npos);
}

// G_A and G_B (and D_A and D_B) have the same keys and shapes: a file goes to the network its
// name ends with (the run's G_B.pt, the reference's latest_net_G_B.pth) or the one named with
// NAME=FILE; where neither tells, and where a network is given twice, the user is asked.
TEST_F(CycleGanRun, InitFromGoesToTheNetworkTheFileNames) {
  fs::path src = run("src", config(1));
  fs::create_directories(tmp_ / "w");
  fs::copy_file(src / "weights/G_B.pt", tmp_ / "w/latest_net_G_B.pth");
  fs::copy_file(src / "weights/G_B.pt", tmp_ / "w/generator.pt");
  fs::copy_file(src / "weights/D_A.pt", tmp_ / "w/discriminator.pt");
  prepare_output_dir(tmp_ / "init", false);
  Trainer t(config(1, {"seed=5"}), tmp_ / "init");
  t.start_new();
  const NamedTensors g_a_before = module_state(t.network("G_A"));
  t.init_from({tmp_ / "w/latest_net_G_B.pth", src / "weights/D_B.pt", fs::path("D_A=" + (tmp_ / "w/discriminator.pt").string())});
  EXPECT_TRUE(same(module_state(t.network("G_B")), weights(src, "G_B")));
  EXPECT_TRUE(same(module_state(t.network("D_B")), weights(src, "D_B")));
  EXPECT_TRUE(same(module_state(t.network("D_A")), weights(src, "D_A")));
  EXPECT_TRUE(same(module_state(t.network("G_A")), g_a_before)) << "G_A was not given";
  std::string msg = test::error_message([&] { t.init_from({tmp_ / "w/generator.pt"}); });
  EXPECT_NE(msg.find("fits networks G_A and G_B alike; name the one it is for: --init-from G_B="), std::string::npos) << msg;
  msg = test::error_message([&] { t.init_from({src / "weights/G_A.pt", fs::path("G_A=" + (tmp_ / "w/generator.pt").string())}); });
  EXPECT_NE(msg.find("network G_A given twice"), std::string::npos) << msg;
  msg = test::error_message([&] { t.init_from({fs::path("G_C=" + (tmp_ / "w/generator.pt").string())}); });
  EXPECT_NE(msg.find("has no network 'G_C' (its networks: G_A, G_B, D_A, D_B)"), std::string::npos) << msg;
  msg = test::error_message([&] { t.init_from({fs::path("D_A=" + (tmp_ / "w/generator.pt").string())}); });
  EXPECT_NE(msg.find("does not fit network D_A"), std::string::npos) << msg;
}

TEST_F(CycleGanRun, StopMidEpochResumesExactlyWithPoolsCropsAndFlips) {
  // With both generators' moving averages (a half-life of 10 images).
  fs::path straight = run("straight", config(3, {"ema_kimg=0.01"}));
  fs::path dir = run("stopped", config(3, {"ema_kimg=0.01"}), [](int64_t step) { if (step == 6) request_stop(SIGINT); },
                     128 + SIGINT);
  clear_stop_request();
  Checkpoint ck = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_EQ(ck.get_int("batch_in_epoch"), 2);
  {
    Trainer t(ck.config(), dir);
    t.restore(ck);
    EXPECT_EQ(t.train(), 0);
  }
  for (const char* net : {"G_A", "G_B", "D_A", "D_B", "G_A_ema", "G_B_ema"})
    EXPECT_TRUE(same(weights(straight, net), weights(dir, net))) << net;
  EXPECT_FALSE(same(weights(dir, "G_A"), weights(dir, "G_A_ema")));
  EXPECT_FALSE(fs::exists(dir / "weights/D_A_ema.pt"));
  MetricsLog ma(straight), mb(dir);
  ma.load();
  mb.load();
  for (const char* k : {"D_A", "G_B", "cycle_A", "idt_B"}) EXPECT_EQ(ma.column(k), mb.column(k)) << k;
  auto a = Checkpoint::read(straight / "checkpoints/last.pt"), b = Checkpoint::read(dir / "checkpoints/last.pt");
  EXPECT_TRUE(torch::equal(a.get("recipe_state", "pool_B").toTensor(), b.get("recipe_state", "pool_B").toTensor()));
}

TEST_F(CycleGanRun, TranslatesBothWaysAndRefusesWhatItCannot) {
  auto r = run_forgery("train cyclegan-horse2zebra-128 " + tiny() + " --epochs 1 --out '" + (tmp_ / "run").string() + "'",
                       tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* dir : {"AtoB", "BtoA"}) {
    const std::string in = std::string(dir) == "AtoB" ? "testA" : "testB";
    r = run_forgery("translate '" + (tmp_ / "run").string() + "' --direction " + dir + " --input '" +
                        (tmp_ / "h2z" / in).string() + "' --out '" + (tmp_ / dir).string() + "' --device cpu",
                    tmp_.path());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    Image o = read_png(tmp_ / dir / (in + "_0.png"));
    EXPECT_EQ(o.width, 32);
    EXPECT_EQ(o.channels, 3);
  }
  // G_A and G_B give different images for the same input.
  r = run_forgery("translate '" + (tmp_ / "run").string() + "' --direction BtoA --input '" + (tmp_ / "h2z/testA").string() +
                      "' --out '" + (tmp_ / "wrongway").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(read_png(tmp_ / "wrongway/testA_0.png").pixels, read_png(tmp_ / "AtoB/testA_0.png").pixels);
  // A generator saved by the reference (its G_A file, with the InstanceNorm statistics PyTorch
  // before 0.4 wrote) loads with --preset and translates as the run does.
  NamedTensors stale = weights(tmp_ / "run", "G_A");
  stale.emplace_back("model.2.running_mean", torch::zeros({2}));
  stale.emplace_back("model.2.running_var", torch::ones({2}));
  save_state_dict(tmp_ / "latest_net_G_A.pth", stale);
  r = run_forgery("translate '" + (tmp_ / "latest_net_G_A.pth").string() +
                      "' --preset cyclegan-horse2zebra-128 --set ngf=2 --set crop_size=32 --set load_size=36 --input '" +
                      (tmp_ / "h2z/testA").string() + "' --out '" + (tmp_ / "ref").string() + "' --device cpu",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_png(tmp_ / "ref/testA_0.png").pixels, read_png(tmp_ / "AtoB/testA_0.png").pixels);
  EXPECT_EQ(r.err.find("warning"), std::string::npos) << r.err;
  // The G_A file with --direction BtoA loads (same keys and shapes as G_B), with a warning.
  r = run_forgery("translate '" + (tmp_ / "latest_net_G_A.pth").string() +
                      "' --preset cyclegan-horse2zebra-128 --set ngf=2 --set crop_size=32 --set load_size=36 --input '" +
                      (tmp_ / "h2z/testB").string() + "' --out '" + (tmp_ / "refBtoA").string() +
                      "' --device cpu --direction BtoA",
                  tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("latest_net_G_A.pth is named for G_A, but --direction BtoA translates with G_B (B to A)"),
            std::string::npos)
      << r.err;
  // ... and a file of another architecture names the keys and shapes.
  r = run_forgery("translate '" + (tmp_ / "latest_net_G_A.pth").string() + "' --preset cyclegan-horse2zebra --input '" +
                      (tmp_ / "h2z/testA").string() + "' --out '" + (tmp_ / "other").string() + "' --device cpu",
                  tmp_.path());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("latest_net_G_A.pth"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing: model.16.conv_block.1.weight"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("model.1.weight: shape [2, 3, 7, 7] in the file, [64, 3, 7, 7] in the model"), std::string::npos)
      << r.err;
  EXPECT_FALSE(fs::exists(tmp_ / "other"));
}

TEST_F(CycleGanRun, TheDomainJudgeLearnsTwoDomainsDeterministically) {
  ImageDataOptions o;
  o.size = 32;
  o.square = true;
  o.progress = ProgressMode::Off;
  write_domains(tmp_ / "more", 30, 30, 0, 5);
  at::Tensor a = load_image_folder(tmp_ / "more/trainA", o, torch::kCPU).pixels;
  at::Tensor b = load_image_folder(tmp_ / "more/trainB", o, torch::kCPU).pixels;
  JudgeTraining t;
  t.epochs = 3;
  t.progress = ProgressMode::Off;
  JudgeResult r1 = train_domain_judge(a, b, tmp_ / "judge1.pt", t);
  JudgeResult r2 = train_domain_judge(a, b, tmp_ / "judge2.pt", t);
  EXPECT_GE(r1.holdout_accuracy, 0.99);  // bright disks against dark squares
  auto sd1 = tensors_of(load_torch_file(tmp_ / "judge1.pt").toGenericDict().at("state_dict"), "1");
  auto sd2 = tensors_of(load_torch_file(tmp_ / "judge2.pt").toGenericDict().at("state_dict"), "2");
  EXPECT_TRUE(same(sd1, sd2));
  auto judge = domain_judge_features(tmp_ / "judge1.pt");
  Extracted e = judge->extract(ImageSet{normalize_bytes(b), "B"}, ProgressMode::Off);
  EXPECT_EQ(e.features.sizes(), (std::vector<int64_t>{30, 64}));
  EXPECT_GE((e.probs.argmax(1) == 1).to(torch::kDouble).mean().item<double>(), 0.9);
  // The cache key follows the images' content.
  EXPECT_EQ(default_judge_path(a, b), default_judge_path(a.clone(), b.clone()));
  EXPECT_NE(default_judge_path(a, b), default_judge_path(b, a));
  std::string msg = test::error_message([&] { domain_judge_features(test::fixture("py_pix2pix_G.pt")); });
  EXPECT_NE(msg.find("is not a Forgery domain judge"), std::string::npos) << msg;
}

TEST_F(CycleGanRun, EvaluationJudgesBothDirectionsAndForgeryEvalAgrees) {
  setenv("FORGERY_CACHE", (tmp_ / "cache").c_str(), 1);
  fs::path dir = run("run", config(1, {"eval_every=1"}));
  MetricsLog log(dir);
  log.load();
  for (const char* k : {"AtoB_target_share", "BtoA_target_share"}) {
    ASSERT_EQ(log.column(k).size(), 1u) << k;
    EXPECT_GE(log.column(k)[0], 0.0);
    EXPECT_LE(log.column(k)[0], 1.0);
  }
  for (const char* k : {"AtoB_kid", "BtoA_kid", "cycle_A_l1", "cycle_B_l1", "kid"})
    EXPECT_TRUE(std::isfinite(log.column(k)[0])) << k;
  EXPECT_TRUE(fs::exists(dir / "checkpoints/best.pt"));
  EXPECT_EQ(fs::directory_iterator(tmp_ / "cache/judges")->path().extension(), ".pt");
  // forgery eval measures the checkpoint the same way (the cached judge, the same test images).
  auto r = run_forgery("eval '" + dir.string() + "'", tmp_.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(read_file(dir / "eval/last.json"));
  for (const char* k : {"AtoB_target_share", "AtoB_kid", "BtoA_kid", "cycle_A_l1", "cycle_B_l1"})
    EXPECT_NEAR(j["metrics"][k].get<double>(), log.column(k)[0], 1e-9) << k;
  // The test sets here are smaller than the judge's features: FID is left out, and eval says so.
  EXPECT_FALSE(j["metrics"].contains("AtoB_fid"));
  EXPECT_NE(r.err.find("forgery: note: AtoB: no FID: it needs more than"), std::string::npos) << r.err;
  ASSERT_TRUE(j.contains("notes")) << j.dump();
  EXPECT_EQ(j["notes"].size(), 2u) << j.dump();
  EXPECT_EQ(j["notes"][1].get<std::string>().rfind("BtoA: no FID", 0), 0u) << j.dump();
  unsetenv("FORGERY_CACHE");
}

TEST_F(CycleGanRun, BadInputsAreNamed) {
  auto expect_error = [&](const std::string& args, int code, std::vector<std::string> words) {
    auto r = run_forgery(args, tmp_.path());
    EXPECT_EQ(r.exit_code, code) << args << "\n" << r.err;
    for (const auto& w : words) EXPECT_NE(r.err.find(w), std::string::npos) << args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(tmp_ / "run")) << args;
  };
  const std::string train = "train cyclegan-horse2zebra-128 --epochs 1 --out '" + (tmp_ / "run").string() + "' ";
  auto data = [&](const std::string& d) {
    return "--data '" + (tmp_ / d).string() + "' --set ngf=2 --set ndf=2 --set load_size=36 --set crop_size=32 --set progress=off";
  };
  write_domains(tmp_ / "noB", 2, 2, 1);
  fs::remove_all(tmp_ / "noB/trainB");
  expect_error(train + data("noB"), 1, {"noB has no trainB/ folder"});
  write_domains(tmp_ / "emptyA", 2, 2, 1);
  fs::remove_all(tmp_ / "emptyA/trainA");
  fs::create_directories(tmp_ / "emptyA/trainA");
  expect_error(train + data("emptyA"), 1, {"emptyA/trainA", "holds no JPEG or PNG"});
  write_domains(tmp_ / "corrupt", 3, 2, 1);
  std::ofstream(tmp_ / "corrupt/trainB/trainB_1.png") << "\x89PNG\r\n\x1a\nbroken";
  expect_error(train + data("corrupt"), 1, {"corrupt/trainB/trainB_1.png", "skip_bad_images"});
  auto r = run_forgery(train + data("corrupt") + " --set skip_bad_images=true", tmp_.path());
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("skipped 1 unreadable image"), std::string::npos) << r.err;
  fs::remove_all(tmp_ / "run");
  expect_error(train + data("h2z") + " --set direction=AtoC", 2, {"option direction 'AtoC'"});
  expect_error(train + data("h2z") + " --set lambda_identity=0.5 --set output_nc=1", 2, {"lambda_identity", "input_nc"});
  // A feature network for eval_every that is not there stops the run before its first epoch.
  expect_error(train + data("h2z") + " --set eval_every=1 --set eval_features=none.pt", 1,
               {"option eval_features", "none.pt does not exist"});
}

}  // namespace
}  // namespace forgery
