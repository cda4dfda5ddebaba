// Golden tests for DCGAN, the conditional DCGAN and the MLP cGAN: numbers computed by the
// PyTorch reference (tests/fixtures/make_fixtures.py with bench/reference/dcgan.py).
#include <torch/torch.h>

#include "forgery/core/rng.h"
#include "forgery/io/torch_file.h"
#include "forgery/models/registry.h"
#include "forgery/train/gan_step.h"
#include "forgery/train/options.h"
#include "forgery/io/state_dict.h"
#include "golden_fixture.h"
#include "test_util.h"

namespace forgery {
namespace {

struct Case {
  std::string name, preset, model;
  std::vector<std::string> sets;
  double beta1;
};

// gtest prints a parameter it cannot format as a hex dump of its bytes; ctest shows it.
void PrintTo(const Case& c, std::ostream* os) { *os << c.preset << " (" << c.model << ")"; }

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"dcgan64", "dcgan-mnist", "dcgan", {"nz=8", "ngf=4", "ndf=4", "channels=1", "image_size=64"}, 0.5},
      {"dcgan32", "dcgan-mnist", "dcgan", {"nz=8", "ngf=4", "ndf=4", "channels=3", "image_size=32"}, 0.5},
      {"cdcgan32", "cdcgan-mnist", "cdcgan", {"nz=8", "ngf=4", "ndf=4", "channels=1", "image_size=32", "num_classes=3"}, 0.5},
      {"mlpcgan", "cgan-mnist", "mlp-cgan", {"nz=16", "width=8", "image_size=7", "num_classes=3", "dropout=0"}, 0.9},
  };
  return all;
}

class GoldenModels : public ::testing::TestWithParam<Case> {
 protected:
  static void SetUpTestSuite() { at::set_num_threads(1); }
  static const test::GoldenFile& fx() {
    static const test::GoldenFile file("golden_models.pt");
    return file;
  }
  static at::Tensor get(const std::string& key) { return fx().get(key); }
  static bool has(const std::string& key) { return fx().has(key); }
  static NamedTensors state(const std::string& prefix) { return fx().with_prefix(prefix); }
  // The Python networks' state (parameters and BatchNorm buffers) in Forgery's model.
  GanNetworks networks(const Case& c) {
    Config config = build_config(c.preset, c.sets);
    EXPECT_EQ(config.get_string("model"), c.model);
    GanNetworks nets = find_model(c.model).make_gan(config);
    load_module_state(*nets.generator, state(c.name + ".state_g."), "G");
    load_module_state(*nets.discriminator, state(c.name + ".state_d."), "D");
    return nets;
  }
  // 1e-4 relative with a floor of 1e-6: convolutions sum in another order than Python's
  // only where the library picks another algorithm; BatchNorm on 3-4 images amplifies it.
  static void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
    test::expect_close(got, want, what, 1e-4, 1e-6);
  }
  at::Tensor labels(const Case& c) { return has(c.name + ".labels") ? get(c.name + ".labels") : at::Tensor(); }
  // Two steps of gan_step from the fixture's networks against Python's "NAME.<tag>1." and
  // "<tag>2." records: losses, gradients, then every parameter and buffer after each step.
  // Undefined z_g: G's step reuses D's fake batch.
  void two_steps_match(const Case& c, const std::string& tag, const at::Tensor& z_g1, const at::Tensor& z_g2) {
    GanNetworks nets = networks(c);
    auto& G = *nets.generator;
    auto& D = *nets.discriminator;
    auto adam = [&](torch::nn::Module& m) {
      return torch::optim::Adam(m.parameters(), torch::optim::AdamOptions(0.0002).betas({c.beta1, 0.999}));
    };
    auto opt_g = adam(G), opt_d = adam(D);
    LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
    const std::string p1 = c.name + "." + tag + "1.", p2 = c.name + "." + tag + "2.";
    auto st = gan_step(G, D, ctx, get(c.name + ".real"), labels(c), {get(c.name + ".z_d")}, z_g1);
    expect_close(st.loss_d, get(p1 + "loss_d"), "loss_d");
    expect_close(st.loss_g, get(p1 + "loss_g"), "loss_g");
    expect_close(st.d_real, get(p1 + "d_real"), "mean D(x)");
    expect_close(st.d_fake, get(p1 + "d_fake"), "mean D(G(z))");
    for (const auto& p : D.named_parameters()) expect_close(p.value().grad(), get(p1 + "grad_d." + p.key()), "D grad " + p.key());
    for (const auto& p : G.named_parameters()) expect_close(p.value().grad(), get(p1 + "grad_g." + p.key()), "G grad " + p.key());
    for (const auto& [k, t] : module_state(D)) expect_close(t, get(p1 + "after_d." + k), "D after step 1: " + k);
    for (const auto& [k, t] : module_state(G)) expect_close(t, get(p1 + "after_g." + k), "G after step 1: " + k);
    gan_step(G, D, ctx, get(c.name + ".real"), labels(c), {get(c.name + ".z_d2")}, z_g2);
    for (const auto& [k, t] : module_state(D)) expect_close(t, get(p2 + "after_d." + k), "D after step 2: " + k);
    for (const auto& [k, t] : module_state(G)) expect_close(t, get(p2 + "after_g." + k), "G after step 2: " + k);
  }
};

TEST_P(GoldenModels, OutputsInTrainingAndEvalModeArePyTorchs) {
  const Case& c = GetParam();
  GanNetworks nets = networks(c);
  torch::NoGradGuard no_grad;
  expect_close(nets.generator->forward(get(c.name + ".z_d"), labels(c)), get(c.name + ".g_out_train"), "G train");
  expect_close(nets.discriminator->forward(get(c.name + ".real"), labels(c)), get(c.name + ".d_out_train"), "D train");
  nets.generator->eval();
  nets.discriminator->eval();
  expect_close(nets.generator->forward(get(c.name + ".z_d"), labels(c)), get(c.name + ".g_out_eval"), "G eval");
  expect_close(nets.discriminator->forward(get(c.name + ".real"), labels(c)), get(c.name + ".d_out_eval"), "D eval");
}

TEST_P(GoldenModels, TwoRecipeStepsMatchLossesGradientsAdamAndRunningStats) {
  const Case& c = GetParam();
  two_steps_match(c, "s", get(c.name + ".z_g"), get(c.name + ".z_g2"));
}

// g_noise = "reuse": the PyTorch DCGAN tutorial's own step (G's step on D's fake batch; D's
// real and fake losses backpropagated one after the other), from the same start.
TEST_P(GoldenModels, TwoTutorialStepsMatchWhenGReusesDsFakeBatch) {
  two_steps_match(GetParam(), "t", at::Tensor(), at::Tensor());
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenModels, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

TEST(GoldenModelsInit, DcganSeededInitialisationIsTheTutorials) {
  // torch.manual_seed(0); G = Generator(); G.apply(weights_init); D = ...; D.apply(...)
  test::GoldenFile fx("golden_models.pt");
  seed_everything(0);
  GanNetworks nets = find_model("dcgan").make_gan(build_config("dcgan-mnist", {"channels=3"}));
  int checked = 0;
  for (auto [tag, net] : {std::pair<std::string, torch::nn::Module*>{"g", nets.generator.get()}, {"d", nets.discriminator.get()}}) {
    for (const auto& p : net->named_parameters()) {
      auto want = fx.get("init." + tag + "." + p.key());
      auto flat = p.value().detach().to(torch::kDouble).flatten();
      auto got = torch::cat({flat.sum().view(1), flat.pow(2).sum().view(1), flat.narrow(0, 0, std::min<int64_t>(5, flat.numel())),
                             flat.narrow(0, flat.numel() - 1, 1)});
      EXPECT_TRUE(torch::allclose(got, want, 1e-6, 1e-9)) << tag << "." << p.key() << "\n" << got << "\n" << want;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 13 + 11);  // G: 5 convolutions, 4 BatchNorms; D: 5 and 3
}

TEST(GoldenModelsInit, PythonDcganStateDictWithBatchNormBuffersLoads) {
  auto sd = load_state_dict(test::fixture("py_dcgan_generator_state_dict.pt"));
  GanNetworks nets = find_model("dcgan").make_gan(
      build_config("dcgan-mnist", {"nz=8", "ngf=4", "ndf=4", "channels=3", "image_size=32"}));
  load_module_state(*nets.generator, sd, "py_dcgan_generator_state_dict.pt");
  bool saw_tracked = false;
  for (const auto& [k, t] : module_state(*nets.generator))
    if (k.find("num_batches_tracked") != std::string::npos) saw_tracked = t.scalar_type() == torch::kLong;
  EXPECT_TRUE(saw_tracked);
  // A DCGAN state_dict does not fit another size.
  GanNetworks other = find_model("dcgan").make_gan(build_config("dcgan-mnist", {"nz=8", "ngf=4", "ndf=4", "channels=3"}));
  std::string msg = test::error_message([&] { load_module_state(*other.generator, sd, "py_dcgan_generator_state_dict.pt"); });
  EXPECT_NE(msg.find("py_dcgan_generator_state_dict.pt does not fit"), std::string::npos) << msg;
}

TEST(ModelOptions, DcganRejectsSizesThatAreNotPowersOfTwo) {
  Config c = build_config("dcgan-mnist", {"image_size=48"});
  try {
    find_model("dcgan").make_gan(c);
    ADD_FAILURE() << "no error";
  } catch (const UsageError& e) {
    EXPECT_NE(std::string(e.what()).find("image_size 48"), std::string::npos) << e.what();
  }
  EXPECT_THROW(build_config("cgan-mnist", {"num_classes=1"}), UsageError);
  EXPECT_THROW(build_config("dcgan-mnist", {"ngf=0"}), UsageError);
}

TEST(ModelOptions, ConditionalModelsNeedLabelsInRange) {
  GanNetworks nets = find_model("mlp-cgan").make_gan(build_config("cgan-mnist", {"width=8"}));
  EXPECT_EQ(nets.generator->num_classes(), 10);
  EXPECT_THROW(nets.generator->forward(torch::randn({2, 128}), at::Tensor()), Error);
  auto out = nets.generator->forward(torch::randn({2, 128}), torch::tensor({3, 9}, torch::kLong));
  EXPECT_EQ(out.sizes(), (std::vector<int64_t>{2, 1, 28, 28}));
}

}  // namespace
}  // namespace forgery
