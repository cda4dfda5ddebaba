// Golden tests: numbers computed by the PyTorch reference (tests/fixtures/make_fixtures.py,
// Debian python3-torch 1.13.1) that Forgery must reproduce.
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "forgery/core/rng.h"
#include "forgery/io/torch_file.h"
#include "forgery/models/layers.h"
#include "forgery/models/registry.h"
#include "forgery/train/gan_step.h"
#include "forgery/train/options.h"
#include "forgery/io/state_dict.h"
#include "golden_fixture.h"
#include "test_util.h"

namespace forgery {
namespace {

class Golden : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { at::set_num_threads(1); }
  static at::Tensor get(const std::string& key) {
    static const test::GoldenFile fx("golden_gan_step.pt");
    return fx.get(key);
  }
  // The fixture's small networks (width 8, nz 16, 7x7), dropout off, from Python's state_dicts.
  static GanNetworks networks() {
    Config c = build_config("gan-mnist", {"nz=16", "image_size=7", "width=8", "dropout=0"});
    GanNetworks nets = find_model("mlp-gan").make_gan(c);
    load_module_state(*nets.generator, load_state_dict(test::fixture("py_generator_state_dict.pt")), "G");
    load_module_state(*nets.discriminator, load_state_dict(test::fixture("py_discriminator_state_dict.pt")), "D");
    return nets;
  }
  // 1e-5 relative, with an absolute floor for values near zero.
  static void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
    test::expect_close(got, want, what, 1e-5, 1e-7);
  }
};

TEST_F(Golden, PythonStateDictGivesPythonsOutputs) {
  GanNetworks nets = networks();
  auto out = nets.generator->forward(get("z_d"), {});
  expect_close(out, get("g_out"), "G(z)");
  nets.discriminator->eval();
  expect_close(nets.discriminator->forward(get("real"), {}), get("s1.d_out_real"), "D(real)");
}

TEST_F(Golden, GanStepMatchesTheSeedsStepLossesGradientsAndAdam) {
  GanNetworks nets = networks();
  auto& G = *nets.generator;
  auto& D = *nets.discriminator;
  torch::optim::Adam opt_g(G.parameters(), torch::optim::AdamOptions(0.0002));
  torch::optim::Adam opt_d(D.parameters(), torch::optim::AdamOptions(0.0002));
  LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  auto st = gan_step(G, D, ctx, get("real"), {}, {get("z_d")}, get("z_g"));
  expect_close(st.loss_d, get("s1.loss_d"), "loss_d");
  expect_close(st.loss_g, get("s1.loss_g"), "loss_g");
  expect_close(st.d_real, get("s1.d_out_real").mean(), "mean D(x)");
  expect_close(st.d_fake, get("s1.d_out_fake").mean(), "mean D(G(z))");
  // D was frozen in G's step, so its gradients are still those of its own step.
  for (const auto& p : D.named_parameters()) expect_close(p.value().grad(), get("s1.grad_d." + p.key()), "D grad " + p.key());
  for (const auto& p : G.named_parameters()) expect_close(p.value().grad(), get("s1.grad_g." + p.key()), "G grad " + p.key());
  for (const auto& p : D.named_parameters()) expect_close(p.value(), get("s1.after_d." + p.key()), "D after Adam " + p.key());
  for (const auto& p : G.named_parameters()) expect_close(p.value(), get("s1.after_g." + p.key()), "G after Adam " + p.key());
  // A second step exercises Adam's moments and bias correction at step 2.
  gan_step(G, D, ctx, get("real"), {}, {get("z_d2")}, get("z_g2"));
  for (const auto& p : D.named_parameters()) expect_close(p.value(), get("s2.after_d." + p.key()), "D step 2 " + p.key());
  for (const auto& p : G.named_parameters()) expect_close(p.value(), get("s2.after_g." + p.key()), "G step 2 " + p.key());
}

TEST_F(Golden, SeededInitialisationIsPyTorchs) {
  // torch.manual_seed(0); Generator(128); Discriminator() in Python, at full size.
  auto fx = load_torch_file(test::fixture("golden_init.pt")).toGenericDict();
  seed_everything(0);
  Config c = build_config("gan-mnist", {});
  GanNetworks nets = find_model("mlp-gan").make_gan(c);
  for (auto [tag, net] : {std::pair<std::string, torch::nn::Module*>{"g", nets.generator.get()}, {"d", nets.discriminator.get()}}) {
    for (const auto& p : net->named_parameters()) {
      auto want = fx.at(tag + "." + p.key()).toTensor();
      auto flat = p.value().detach().to(torch::kDouble).flatten();
      auto got = torch::cat({flat.sum().view(1), flat.pow(2).sum().view(1), flat.narrow(0, 0, std::min<int64_t>(5, flat.numel())), flat.narrow(0, flat.numel() - 1, 1)});
      EXPECT_TRUE(torch::allclose(got, want, 1e-6, 1e-9)) << tag << "." << p.key() << "\n" << got << "\n" << want;
    }
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(1);
  auto noise = at::randn({64, 128}, gen).narrow(0, 0, 2).narrow(1, 0, 8);
  EXPECT_TRUE(torch::equal(noise, fx.at("fixed_noise_head").toTensor()));
}

TEST(GoldenLoss, BinaryCrossEntropyClampsLikePyTorch) {
  auto fx = load_torch_file(test::fixture("golden_misc.pt")).toGenericDict();
  auto got = torch::nn::functional::binary_cross_entropy(fx.at("bce_p").toTensor(), fx.at("bce_y").toTensor());
  EXPECT_NEAR(got.item<double>(), fx.at("bce").toTensor().item<double>(), 1e-6);
}

TEST(Dropout, KeepsSeventyPercentScaledAndIgnoresThreadCount) {
  auto x = torch::ones({512, 1024});
  auto m1 = dropout_mask(x, 0.3, 99);
  double kept = (m1 > 0).to(torch::kDouble).mean().item<double>();
  EXPECT_NEAR(kept, 0.7, 0.005);
  EXPECT_NEAR(m1.max().item<float>(), 1.f / 0.7f, 1e-6);
  int before = at::get_num_threads();
  at::set_num_threads(1);
  auto m2 = dropout_mask(x, 0.3, 99);
  at::set_num_threads(before);
  EXPECT_TRUE(torch::equal(m1, m2));
  EXPECT_FALSE(torch::equal(m1, dropout_mask(x, 0.3, 100)));
  // Neighbouring elements and rows are not correlated.
  auto a = (m1.narrow(1, 0, 1023) > 0).to(torch::kDouble), b = (m1.narrow(1, 1, 1023) > 0).to(torch::kDouble);
  double both = (a * b).mean().item<double>();
  EXPECT_NEAR(both, 0.49, 0.01);
}

TEST(Dropout, ModuleFollowsTrainAndEvalAndTheSeed) {
  FastDropout d(0.3);
  auto x = torch::randn({64, 100});
  d->eval();
  EXPECT_TRUE(torch::equal(d->forward(x), x));
  d->train();
  torch::manual_seed(5);
  auto y1 = d->forward(x);
  torch::manual_seed(5);
  auto y2 = d->forward(x);
  EXPECT_TRUE(torch::equal(y1, y2));
  EXPECT_FALSE(torch::equal(y1, d->forward(x)));
  // Gradients flow through the kept units only, scaled.
  auto xr = x.clone().requires_grad_(true);
  torch::manual_seed(6);
  auto y = d->forward(xr);
  y.sum().backward();
  EXPECT_TRUE(torch::allclose(xr.grad(), (y.detach() != 0).to(torch::kFloat) / 0.7));
}

TEST(Dropout, FusedLeakyReluDropoutEqualsTheTwoOperations) {
  auto x = torch::randn({300, 77});
  torch::manual_seed(11);
  auto xr = x.clone().requires_grad_(true);
  auto y = leaky_relu_dropout(xr, 0.2, 0.3, true);
  torch::manual_seed(11);
  uint64_t seed = draw_dropout_seed();
  auto want = torch::leaky_relu(x, 0.2) * dropout_mask(x, 0.3, seed);
  EXPECT_TRUE(torch::allclose(y, want, 1e-6, 1e-7));
  auto g = torch::randn_like(x);
  y.backward(g);
  auto xw = x.clone().requires_grad_(true);
  (torch::leaky_relu(xw, 0.2) * dropout_mask(x, 0.3, seed)).backward(g);
  EXPECT_TRUE(torch::allclose(xr.grad(), xw.grad(), 1e-6, 1e-7));
  // Not training, or p = 0: LeakyReLU alone.
  EXPECT_TRUE(torch::equal(leaky_relu_dropout(x, 0.2, 0.3, false), torch::leaky_relu(x, 0.2)));
  EXPECT_TRUE(torch::equal(leaky_relu_dropout(x, 0.2, 0.0, true), torch::leaky_relu(x, 0.2)));
}

}  // namespace
}  // namespace forgery
