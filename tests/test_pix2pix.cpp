// pix2pix golden tests: numbers computed by the PyTorch reference program
// (bench/reference/pix2pix.py through tests/fixtures/make_fixtures.py --only pix2pix) that
// Forgery's networks, step, schedule, resizing and metrics must reproduce.
#include <torch/torch.h>

#include "forgery/core/error.h"
#include "forgery/core/rng.h"
#include "forgery/data/paired_images.h"
#include "forgery/io/image.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/image_quality.h"
#include "forgery/io/resize.h"
#include "forgery/io/state_dict.h"
#include "forgery/io/torch_file.h"
#include "forgery/models/patchgan.h"
#include "forgery/models/unet.h"
#include "forgery/train/options.h"
#include "forgery/train/pix2pix_step.h"
#include "forgery/train/schedule.h"
#include "golden_fixture.h"
#include "test_util.h"

namespace forgery {
namespace {

class GoldenPix2pix : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { at::set_num_threads(1); }
  static at::Tensor get(const std::string& key) {
    static const test::GoldenFile fx("golden_pix2pix.pt");
    return fx.get(key);
  }
  // 8-bit images as the data pipelines normalise them.
  static at::Tensor image(const std::string& key) { return normalize_bytes(get(key)); }
  // The fixture's small networks: a U-Net with 6 downsamplings, ngf 1 (one dropout block), and
  // a 70x70 PatchGAN with ndf 2, from the reference's files.
  static std::pair<UnetGenerator, NLayerDiscriminator> networks() {
    UnetGenerator G(UnetGeneratorOptions(3, 3).num_downs(6).ngf(1).use_dropout(true));
    NLayerDiscriminator D(NLayerDiscriminatorOptions(6).ndf(2));
    load_module_state(*G, load_state_dict(test::fixture("py_pix2pix_G.pt")), "py_pix2pix_G.pt");
    // Written without num_batches_tracked, as PyTorch before 0.4.1 did.
    load_module_state(*D, adapt_reference_state(*D, load_state_dict(test::fixture("py_pix2pix_D_old.pt"))),
                      "py_pix2pix_D_old.pt");
    return {G, D};
  }
  static void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what) {
    test::expect_close(got, want, what, 1e-4, 1e-6);
  }
};

// An A|B image of odd width splits as the reference's aligned dataset splits it (w2 = int(w / 2):
// A the left w2 columns, B the other w - w2), resized or, unresized, with B's extra column left
// out (every crop lies inside A's width).
TEST(PairedImages, AnOddWidthSplitsAsTheReferenceSplitsIt) {
  Image ab{7, 3, 3, {}};
  for (int i = 0; i < 7 * 3 * 3; ++i) ab.pixels.push_back(static_cast<uint8_t>(i * 5));
  auto [a, b] = split_pair(ab, "ab.png");
  EXPECT_EQ(a.width, 3);
  EXPECT_EQ(b.width, 4);
  EXPECT_EQ(a.height, 3);
  EXPECT_EQ(b.height, 3);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 7; ++x)
      for (int c = 0; c < 3; ++c) {
        const uint8_t want = ab.pixels[(y * 7 + x) * 3 + c];
        const Image& half = x < 3 ? a : b;
        const int hx = x < 3 ? x : x - 3;
        EXPECT_EQ(half.pixels[(y * half.width + hx) * 3 + c], want) << x << "," << y << "," << c;
      }
  test::TempDir tmp;
  write_png(tmp / "p.png", ab);
  PairedLoadOptions o;
  o.progress = ProgressMode::Off;
  o.size = 0;
  PairedImages kept = load_paired_images(tmp.path(), o, c10::Device(c10::kCPU));
  ASSERT_EQ(kept.b.sizes(), at::IntArrayRef({1, 3, 3, 3}));
  ASSERT_EQ(kept.a.sizes(), kept.b.sizes());
  EXPECT_TRUE(at::equal(kept.b[0].permute({1, 2, 0}).contiguous(),
                        at::from_blob(crop_image(b, 0, 0, 3, 3).pixels.data(), {3, 3, 3}, at::kByte)));
  o.size = 5;
  PairedImages resized = load_paired_images(tmp.path(), o, c10::Device(c10::kCPU));
  Image b5 = resize_image(b, 5, 5, ResampleFilter::Bicubic);
  EXPECT_TRUE(at::equal(resized.b[0].permute({1, 2, 0}).contiguous(), at::from_blob(b5.pixels.data(), {5, 5, 3}, at::kByte)));
  EXPECT_THROW(split_pair(Image{1, 3, 3, std::vector<uint8_t>(9, 0)}, "thin.png"), Error);
}

TEST_F(GoldenPix2pix, SeededInitialisationIsTheReferences) {
  // torch.manual_seed(0); define_G(unet_128, ngf 64, batch norm, dropout); define_D(basic, 6 channels).
  Config c = build_config("pix2pix-facades-128", {});
  seed_everything(0);
  auto G = make_image_generator(c, 3, 3);
  auto D = make_image_discriminator(c, 6);
  for (auto [tag, net] : {std::pair<std::string, ImageNet*>{"G", G.get()}, {"D", D.get()}})
    for (const auto& p : net->named_parameters()) {
      auto flat = p.value().detach().to(torch::kDouble).flatten();
      auto got = torch::cat({flat.sum().view(1), flat.pow(2).sum().view(1), flat.narrow(0, 0, std::min<int64_t>(5, flat.numel())),
                             flat.narrow(0, flat.numel() - 1, 1)});
      test::expect_close(got, get("init." + tag + "." + p.key()), "init " + tag + " " + p.key(), 1e-6, 1e-9);
    }
}

TEST_F(GoldenPix2pix, UnetAndPatchGanInTrainingAndEvalMode) {
  auto [G, D] = networks();
  torch::NoGradGuard no_grad;
  at::Tensor x = image("x");
  seed_everything(5);  // the same dropout masks as Python's after torch.manual_seed(5)
  at::Tensor g = G->forward(x);
  expect_close(g, get("g_train"), "G, training mode (batch statistics, dropout)");
  expect_close(D->forward(at::cat({x, get("g_train")}, 1)), get("d_train"), "D, training mode");
  G->eval();
  D->eval();
  expect_close(G->forward(x), get("g_eval"), "G, eval mode");
  expect_close(D->forward(at::cat({x, get("g_eval")}, 1)), get("d_eval"), "D, eval mode");
  EXPECT_EQ(D->forward(at::cat({x, x}, 1)).sizes(), (std::vector<int64_t>{1, 1, 6, 6}));  // 64 -> 32 16 8 7 6
}

TEST_F(GoldenPix2pix, TwoStepsMatchLossesGradientsAdamAndRunningStats) {
  auto [G, D] = networks();
  auto adam = [](torch::nn::Module& m) {
    return torch::optim::Adam(m.parameters(), torch::optim::AdamOptions(0.0002).betas({0.5, 0.999}));
  };
  auto opt_g = adam(*G), opt_d = adam(*D);
  LocalOptimizers ctx({{"G", &opt_g}, {"D", &opt_d}});
  for (int step : {1, 2}) {
    const std::string s = "s" + std::to_string(step) + ".";
    seed_everything(10 + step);
    Pix2PixLosses l = pix2pix_step(*G, *D, ctx, image(s + "A"), image(s + "B"), GanLoss::BceLogits, 100.0);
    expect_close(l.g_gan, get(s + "G_GAN"), s + "G_GAN");
    expect_close(l.g_l1, get(s + "G_L1"), s + "G_L1");
    expect_close(l.d_real, get(s + "D_real"), s + "D_real");
    expect_close(l.d_fake, get(s + "D_fake"), s + "D_fake");
    if (step == 1) {
      // D was frozen in G's step, so its gradients are those of its own step.
      for (const auto& p : G->named_parameters()) expect_close(p.value().grad(), get("s1.grad_G." + p.key()), "G grad " + p.key());
      for (const auto& p : D->named_parameters()) expect_close(p.value().grad(), get("s1.grad_D." + p.key()), "D grad " + p.key());
    }
    // Parameters after Adam, and BatchNorm's running statistics and batch counts (D runs three times a step).
    for (const auto& [k, t] : module_state(*G)) expect_close(t, get(s + "after_G." + k), s + "G " + k);
    for (const auto& [k, t] : module_state(*D)) expect_close(t, get(s + "after_D." + k), s + "D " + k);
  }
}

TEST_F(GoldenPix2pix, LinearScheduleIsTheReferences) {
  LrSchedule s;
  s.policy = "linear";
  s.n_epochs = 3;
  s.n_epochs_decay = 4;
  auto want = get("schedule.lr");
  for (int64_t e = 0; e < want.size(0); ++e) EXPECT_DOUBLE_EQ(0.0002 * s.factor(e), want[e].item<double>()) << "epoch " << e + 1;
  EXPECT_EQ(LrSchedule{}.factor(150), 1.0);  // constant
}

TEST_F(GoldenPix2pix, ReferenceFilesWithStaleInstanceNormBuffersLoad) {
  UnetGenerator G(UnetGeneratorOptions(3, 3).num_downs(5).ngf(2).norm(NormKind::Instance));
  NamedTensors raw = load_state_dict(test::fixture("py_pix2pix_G_instance_stale.pt"));
  // As saved, the file has running statistics this model does not keep.
  std::string msg = test::error_message([&] { load_module_state(*G, raw, "stale file"); });
  EXPECT_NE(msg.find("unexpected: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("running_mean"), std::string::npos) << msg;
  load_module_state(*G, adapt_reference_state(*G, raw), "stale file");
  G->eval();
  torch::NoGradGuard no_grad;
  expect_close(G->forward(image("instance.x")), get("instance.out"), "InstanceNorm U-Net");
}

TEST_F(GoldenPix2pix, AStateDictOfAnotherArchitectureNamesKeysAndShapes) {
  NamedTensors raw = load_state_dict(test::fixture("py_pix2pix_G.pt"));
  UnetGenerator shallower(UnetGeneratorOptions(3, 3).num_downs(5).ngf(1));
  std::string msg = test::error_message([&] { load_module_state(*shallower, raw, "py_pix2pix_G.pt"); });
  EXPECT_NE(msg.find("py_pix2pix_G.pt does not fit"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing: model.model.1.model.3.model.3.model.3.model.3.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unexpected: model.model.1.model.3.model.3.model.3.model.2.bias"), std::string::npos) << msg;
  UnetGenerator wider(UnetGeneratorOptions(3, 3).num_downs(6).ngf(2));
  msg = test::error_message([&] { load_module_state(*wider, raw, "py_pix2pix_G.pt"); });
  EXPECT_NE(msg.find("model.model.0.weight: shape [1, 3, 4, 4] in the file, [2, 3, 4, 4] in the model"), std::string::npos)
      << msg;
}

TEST_F(GoldenPix2pix, BicubicResizingIsPils) {
  at::Tensor rgb = get("bicubic.rgb");
  Image src;
  src.height = static_cast<int>(rgb.size(0));
  src.width = static_cast<int>(rgb.size(1));
  src.channels = 3;
  src.pixels.assign(rgb.data_ptr<uint8_t>(), rgb.data_ptr<uint8_t>() + rgb.numel());
  for (auto [w, h] : {std::pair{100, 80}, {64, 48}, {13, 9}, {37, 60}}) {
    const std::string size = std::to_string(w) + "x" + std::to_string(h);
    for (int channels : {3, 1}) {
      Image r = resize_image(convert_channels(src, channels), w, h, ResampleFilter::Bicubic);
      at::Tensor want = get(std::string("bicubic.") + (channels == 3 ? "rgb." : "L.") + size).contiguous();
      ASSERT_EQ(static_cast<int64_t>(r.pixels.size()), want.numel()) << size;
      at::Tensor got = torch::from_blob(r.pixels.data(), want.sizes(), torch::kUInt8);
      EXPECT_TRUE(torch::equal(got, want)) << size << " channels " << channels;
    }
  }
}

TEST_F(GoldenPix2pix, L1PsnrAndSsimMatchNumpy) {
  at::Tensor a = get("quality.a").to(torch::kDouble) / 255, b = get("quality.b").to(torch::kDouble) / 255;
  test::expect_close(l1_per_image(a, b), get("quality.l1"), "L1", 1e-12, 1e-14);
  test::expect_close(psnr_per_image(a, b), get("quality.psnr"), "PSNR", 1e-12, 1e-12);
  test::expect_close(ssim_per_image(a, b), get("quality.ssim"), "SSIM", 1e-10, 1e-12);
  PairedScores s = paired_scores(a, b);
  EXPECT_NEAR(s.ssim, get("quality.ssim").mean().item<double>(), 1e-10);
  EXPECT_EQ(s.count, 3);
  // Images smaller than the 11x11 window and sets of different shapes are refused.
  EXPECT_THROW(ssim_per_image(a.narrow(2, 0, 8), b.narrow(2, 0, 8)), Error);
  EXPECT_THROW(l1_per_image(a, b.narrow(0, 0, 2)), Error);
}

}  // namespace
}  // namespace forgery
