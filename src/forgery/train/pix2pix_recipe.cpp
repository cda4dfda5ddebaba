// pix2pix (Isola et al.), as the reference implementation trains it: a U-Net G from input A
// to output B, a PatchGAN D on the joined (A, B) pair, the vanilla GAN loss on logits plus
// lambda_L1 times the L1 distance to the target, D's loss halved, Adam 2e-4 with betas
// (0.5, 0.999), batch 1, 100 epochs at the full rate and 100 of linear decay; aligned A|B data
// resized to load_size (bicubic) with the same random crop and flip for A and B.
#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include <algorithm>
#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/progress.h"
#include "forgery/data/image_data.h"
#include "forgery/data/paired_images.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/image_quality.h"
#include "forgery/models/image_nets.h"
#include "forgery/models/registry.h"
#include "forgery/train/losses.h"
#include "forgery/train/pix2pix_step.h"
#include "forgery/train/recipe.h"
#include "forgery/train/translation.h"

namespace forgery {

namespace {

class Pix2PixRecipe : public Recipe {
 public:
  Pix2PixRecipe(const Config& config, const c10::Device& device)
      : config_(config),
        device_(device),
        a_to_b_(config.get_string("direction") == "AtoB"),
        lambda_l1_(config.get_float("lambda_L1")),
        loss_(parse_gan_loss(config.get_string("gan_mode"), "gan_mode")) {}

  void build() override {
    const int64_t in = config_.get_int("input_nc"), out = config_.get_int("output_nc");
    // G before D, as the reference's model does.
    G_ = make_image_generator(config_, in, out);
    D_ = make_image_discriminator(config_, in + out);
    G_->to(device_);
    D_->to(device_);
  }

  std::vector<NetworkDecl> networks() const override { return {{"G", G_}, {"D", D_}}; }
  std::vector<OptimizerDecl> optimizers() const override {
    const double lr = config_.get_float("lr"), b1 = config_.get_float("beta1"), b2 = config_.get_float("beta2");
    return {{"G", {"G"}, lr, b1, b2}, {"D", {"D"}, lr, b1, b2}};
  }
  std::vector<LossDecl> losses() const override {
    return {{"G_GAN", "G_GAN (G's adversarial loss)", true},
            {"G_L1", "G_L1 (lambda_L1 x L1 to the target)", true},
            {"D_real", "D_real", true},
            {"D_fake", "D_fake", true}};
  }
  std::string best_metric() const override { return "val_l1"; }
  std::vector<std::string> generators() const override { return {"G"}; }

  std::unique_ptr<TrainingData> load_data() override;

  bool graph_safe_step() const override { return true; }

  std::vector<LossValue> train_step(const Batch& batch, StepContext& ctx) override {
    const at::Tensor& real_a = batch.at(a_to_b_ ? "A" : "B");
    const at::Tensor& real_b = batch.at(a_to_b_ ? "B" : "A");
    Pix2PixLosses l = pix2pix_step(*G_, *D_, ctx, real_a, real_b, loss_, lambda_l1_);
    return {{"G_GAN", l.g_gan}, {"G_L1", l.g_l1}, {"D_real", l.d_real}, {"D_fake", l.d_fake}};
  }

  std::optional<Visual> visuals() override {
    if (!visual_.a.defined()) return std::nullopt;
    // Rows of input | output | target for the fixed images, run as at test time.
    at::Tensor input = a_to_b_ ? visual_.a : visual_.b, target = a_to_b_ ? visual_.b : visual_.a;
    at::Tensor output = translate_images(*G_, input, translate_options());
    const int64_t c = std::max(input.size(1), output.size(1));
    at::Tensor rows = at::stack({to_channels(input, c), to_channels(output, c), to_channels(target, c)}, 1);
    at::Tensor images = rows.flatten(0, 1).to(at::kFloat).div_(255.0);
    return Visual{images, 3, 2};
  }

  std::optional<Evaluation> evaluate(int64_t epoch) override {
    (void)epoch;
    if (!val_.a.defined()) return std::nullopt;
    at::Tensor input = a_to_b_ ? val_.a : val_.b, target = a_to_b_ ? val_.b : val_.a;
    at::Tensor output = translate_images(*G_, input, translate_options());
    PairedScores s = paired_scores(output.to(at::kDouble).div_(255.0), target.to(at::kDouble).div_(255.0));
    Evaluation ev;
    ev.metrics = {{"val_l1", s.l1}, {"val_psnr", s.psnr}, {"val_ssim", s.ssim}};
    ev.best_value = s.l1;
    char buf[160];
    std::snprintf(buf, sizeof buf, " %lld %s pairs: L1 %.4f  PSNR %.2f dB  SSIM %.4f", (long long)s.count,
                  val_name_.c_str(), s.l1, s.psnr, s.ssim);
    ev.summary = buf;
    return ev;
  }

 private:
  TranslateOptions translate_options() const {
    TranslateOptions o;
    o.eval_mode = config_.get_bool("eval_mode");
    o.seed = static_cast<uint64_t>(config_.get_int("seed")) + 4;
    o.device = device_;
    return o;
  }

  Config config_;
  c10::Device device_;
  bool a_to_b_;
  double lambda_l1_;
  GanLoss loss_;
  std::shared_ptr<ImageNet> G_, D_;
  PairedImages val_, visual_;  // at crop_size: the val (or test) pairs and the visuals' first few
  std::string val_name_;
};

std::unique_ptr<TrainingData> Pix2PixRecipe::load_data() {
  const fs::path root = config_.get_string("data_dir");
  if (root.empty())
    throw UsageError("pix2pix needs --data DIR (option data_dir): a folder with train/ (and val/ or test/) A|B pairs");
  require_folder(root, "pix2pix data folder");
  const fs::path train = root / "train";
  std::error_code ec;
  if (!fs::is_directory(train, ec))
    throw Error("pix2pix data folder " + root.string() + " has no train/ folder (expected train/, and val/ or "
                "test/, of A|B pair images)");
  const int64_t in = config_.get_int("input_nc"), out = config_.get_int("output_nc");
  const int64_t crop = config_.get_int("crop_size");
  PairedLoadOptions o;
  // The stored A half is the input when the direction is AtoB.
  o.a_channels = a_to_b_ ? in : out;
  o.b_channels = a_to_b_ ? out : in;
  o.threads = std::max(1, at::get_num_threads());
  o.progress = parse_progress_mode(config_.get_string("progress"));
  const bool resize = config_.get_string("preprocess") == "resize_and_crop";
  o.size = resize ? config_.get_int("load_size") : 0;
  o.min_size = crop;
  PairedImages images = load_paired_images(train, o, device_);
  // The val pairs (test/ when there is no val/) for the visuals and eval_every, at the
  // network's size as at test time.
  for (const char* name : {"val", "test"})
    if (fs::is_directory(root / name, ec) && !list_image_files(root / name).empty()) {
      PairedLoadOptions v = o;
      v.size = crop;
      val_ = load_paired_images(root / name, v, device_);
      val_name_ = name;
      break;
    }
  if (!val_.a.defined() && config_.get_int("eval_every") > 0)
    throw Error("option eval_every needs val/ or test/ pairs in " + root.string());
  const int64_t n = config_.get_int("visual_count");
  const PairedImages& source = val_.a.defined() ? val_ : images;
  if (n > 0) {
    const int64_t k = std::min<int64_t>(n, source.size());
    if (val_.a.defined()) {
      visual_.a = val_.a.narrow(0, 0, k).cpu();
      visual_.b = val_.b.narrow(0, 0, k).cpu();
    } else {
      // No held-out pairs: the first training pairs, centre-cropped.
      const int64_t top = (images.a.size(2) - crop) / 2, left = (images.a.size(3) - crop) / 2;
      visual_.a = images.a.narrow(0, 0, k).narrow(2, top, crop).narrow(3, left, crop).cpu();
      visual_.b = images.b.narrow(0, 0, k).narrow(2, top, crop).narrow(3, left, crop).cpu();
    }
  }
  return std::make_unique<AlignedPairs>(std::move(images), crop, !config_.get_bool("no_flip"));
}

std::vector<OptionSpec> pix2pix_options() {
  return {
      {"direction", OptionType::String, std::string("AtoB"), "AtoB (A is the input) or BtoA (B is the input)"},
      {"lambda_L1", OptionType::Float, 100.0, "weight of the L1 loss between G's output and the target"},
      {"gan_mode", OptionType::String, std::string("vanilla"),
       "adversarial loss: vanilla (binary cross-entropy on logits, as bce_logits) or lsgan"},
      {"lr", OptionType::Float, 0.0002, "initial Adam learning rate (both networks)"},
      {"beta1", OptionType::Float, 0.5, "Adam beta1"},
      {"beta2", OptionType::Float, 0.999, "Adam beta2"},
      {"load_size", OptionType::Int, int64_t{286}, "images are resized to load_size x load_size (bicubic)"},
      {"crop_size", OptionType::Int, int64_t{256}, "then a random crop_size x crop_size square is cut"},
      {"preprocess", OptionType::String, std::string("resize_and_crop"),
       "resize_and_crop, or crop (no resizing: pairs of one size, at least crop_size)"},
      {"no_flip", OptionType::Bool, false, "do not mirror training pairs at random"},
      {"visual_count", OptionType::Int, int64_t{4}, "val pairs shown as input | output | target every epoch"},
      {"eval_mode", OptionType::Bool, false,
       "visuals and val metrics with running statistics and no dropout (default: as the reference's test script, "
       "per-image statistics and seeded dropout)"},
  };
}

void validate_pix2pix(const Config& c) {
  const std::string& dir = c.get_string("direction");
  if (dir != "AtoB" && dir != "BtoA") throw UsageError("option direction '" + dir + "': AtoB or BtoA");
  if (const std::string& mode = c.get_string("gan_mode"); mode != "vanilla" && mode != "bce_logits" && mode != "lsgan")
    throw UsageError("option gan_mode '" + mode + "': pix2pix supports vanilla (also called bce_logits) and lsgan (its "
                     "discriminator gives logits; bce, on a Sigmoid's output, is the GAN family's loss)");
  if (!(c.get_float("lambda_L1") >= 0)) throw UsageError("option lambda_L1 must not be negative");
  if (!(c.get_float("lr") > 0)) throw UsageError("option lr must be positive");
  for (const char* key : {"beta1", "beta2"})
    if (!(c.get_float(key) >= 0 && c.get_float(key) < 1)) throw UsageError(std::string("option ") + key + " must be in [0, 1)");
  const std::string& pre = c.get_string("preprocess");
  if (pre != "resize_and_crop" && pre != "crop")
    throw UsageError("option preprocess '" + pre + "': resize_and_crop or crop");
  const int64_t load = c.get_int("load_size"), crop = c.get_int("crop_size");
  if (load <= 0 || crop <= 0) throw UsageError("options load_size and crop_size must be positive");
  if (pre == "resize_and_crop" && crop > load)
    throw UsageError("option crop_size " + std::to_string(crop) + " is larger than load_size " + std::to_string(load));
  if (c.get_int("visual_count") < 0) throw UsageError("option visual_count must not be negative");
  validate_image_nets(c, crop);
}

RecipeRegistrar pix2pix_recipe({
    "pix2pix",
    "paired image-to-image translation: conditional GAN (U-Net G, PatchGAN D on the (A, B) pair) plus L1",
    pix2pix_options(),
    [](const Config& c, const c10::Device& d) { return std::make_unique<Pix2PixRecipe>(c, d); },
    validate_pix2pix,
    [](const Config& c, const std::string& direction) {
      // One generator, trained for one direction.
      if (direction != c.get_string("direction"))
        throw UsageError("translate --direction " + direction + ": this pix2pix model was trained " +
                         c.get_string("direction") + " (option direction) and cannot translate " + direction +
                         "; for weights trained the other way pass --set direction=" + direction);
      Translator t;
      t.network = "G";
      t.in_channels = c.get_int("input_nc");
      t.out_channels = c.get_int("output_nc");
      t.net = make_image_generator(c, t.in_channels, t.out_channels);
      t.size = c.get_int("crop_size");
      t.input_is_a = direction == "AtoB";
      return t;
    },
});

ModelRegistrar pix2pix_model({
    "pix2pix",
    "pix2pix",
    "pix2pix networks: netG (unet_256, unet_128) from input to output, netD (basic, n_layers, pixel) on the pair",
    image_net_options("unet_256", "batch", false),
    nullptr,
});

}  // namespace
}  // namespace forgery
