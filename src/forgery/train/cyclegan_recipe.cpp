// CycleGAN (Zhu et al.), as the reference implementation trains it: two ResNet generators
// (G_A: A -> B, G_B: B -> A) and two 70x70 PatchGANs with InstanceNorm, least-squares GAN
// losses, cycle-consistency L1 times lambda_A = lambda_B = 10 and identity L1 times
// 0.5 lambda; one Adam over both generators, one over both discriminators (2e-4, betas 0.5,
// 0.999), batch 1, 100 + 100 epochs with linear decay; D learns from pools of 50 generated
// images; unaligned data resized to load_size (bicubic), each image cropped and flipped on
// its own.
#include <ATen/ATen.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <tuple>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/progress.h"
#include "forgery/core/rng.h"
#include "forgery/data/image_data.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/data/unaligned_images.h"
#include "forgery/eval/domain_judge.h"
#include "forgery/eval/evaluate.h"
#include "forgery/models/image_nets.h"
#include "forgery/models/registry.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/cyclegan_step.h"
#include "forgery/train/recipe.h"
#include "forgery/train/translation.h"

namespace forgery {

namespace {

class CycleGanRecipe : public Recipe {
 public:
  CycleGanRecipe(const Config& config, const c10::Device& device)
      : config_(config),
        device_(device),
        a_to_b_(config.get_string("direction") == "AtoB"),
        loss_(parse_gan_loss(config.get_string("gan_mode"), "gan_mode")),
        pool_a_(config.get_int("pool_size")),
        pool_b_(config.get_int("pool_size")) {
    weights_.lambda_A = config.get_float("lambda_A");
    weights_.lambda_B = config.get_float("lambda_B");
    weights_.lambda_identity = config.get_float("lambda_identity");
  }

  void build() override {
    const int64_t in = config_.get_int("input_nc"), out = config_.get_int("output_nc");
    // In the reference's order: G_A, G_B, D_A, D_B.
    G_A_ = make_image_generator(config_, in, out);
    G_B_ = make_image_generator(config_, out, in);
    D_A_ = make_image_discriminator(config_, out);
    D_B_ = make_image_discriminator(config_, in);
    for (auto* net : {&G_A_, &G_B_, &D_A_, &D_B_}) (*net)->to(device_);
    // A feature network for eval_every is read now: a bad file stops the run before its first
    // epoch, not at its first evaluation.
    if (config_.get_int("eval_every") > 0 && !config_.get_string("eval_features").empty())
      features_ = torchscript_features(config_.get_string("eval_features"), "option eval_features", device_);
  }

  std::vector<NetworkDecl> networks() const override {
    return {{"G_A", G_A_}, {"G_B", G_B_}, {"D_A", D_A_}, {"D_B", D_B_}};
  }
  std::vector<OptimizerDecl> optimizers() const override {
    const double lr = config_.get_float("lr"), b1 = config_.get_float("beta1"), b2 = config_.get_float("beta2");
    return {{"G", {"G_A", "G_B"}, lr, b1, b2}, {"D", {"D_A", "D_B"}, lr, b1, b2}};
  }
  std::vector<LossDecl> losses() const override {
    return {{"D_A", "D_A", true},         {"G_A", "G_A", true},         {"cycle_A", "cycle_A", true},
            {"idt_A", "idt_A", true},     {"D_B", "D_B", true},         {"G_B", "G_B", true},
            {"cycle_B", "cycle_B", true}, {"idt_B", "idt_B", true}};
  }

  std::string best_metric() const override { return "kid"; }
  std::vector<std::string> generators() const override { return {"G_A", "G_B"}; }
  // On an H100 (fp32, 256x256, batch 1) its step ran at 7.3 iterations/s with channels-last
  // weights against 9.5 contiguous: InstanceNorm and reflection padding convert back and forth.
  bool channels_last_on_cuda() const override { return false; }

  std::unique_ptr<TrainingData> load_data() override;

  std::optional<Evaluation> evaluate(int64_t epoch) override;

  bool graph_safe_step() const override { return true; }
  bool graph_safe_now() const override { return pool_a_.full() && pool_b_.full(); }

  void prepare_batch(Batch& batch) override { add_pool_draws(batch, pool_a_, pool_b_, device_); }

  std::vector<LossValue> train_step(const Batch& batch, StepContext& ctx) override {
    const at::Tensor& real_a = batch.at(a_to_b_ ? "A" : "B");
    const at::Tensor& real_b = batch.at(a_to_b_ ? "B" : "A");
    CycleGanLosses l =
        cyclegan_step({*G_A_, *G_B_, *D_A_, *D_B_}, ctx, real_a, real_b, pool_a_, pool_b_, weights_, loss_, &batch);
    return {{"D_A", l.D_A}, {"G_A", l.G_A}, {"cycle_A", l.cycle_A}, {"idt_A", l.idt_A},
            {"D_B", l.D_B}, {"G_B", l.G_B}, {"cycle_B", l.cycle_B}, {"idt_B", l.idt_B}};
  }

  std::optional<Visual> visuals() override {
    if (!visual_a_.defined()) return std::nullopt;
    // real_A | fake_B | rec_A rows, then real_B | fake_A | rec_B rows, run as at test time.
    seed_everything(static_cast<uint64_t>(config_.get_int("seed")) + 4);
    const bool eval_mode = config_.get_bool("eval_mode");
    std::vector<at::Tensor> rows;
    auto add_rows = [&](const at::Tensor& reals, ImageNet& forward, ImageNet& back) {
      for (int64_t i = 0; i < reals.size(0); ++i) {
        at::Tensor real = normalize_bytes(reals.narrow(0, i, 1).to(device_));
        at::Tensor fake = run_generator(forward, real, eval_mode);
        at::Tensor rec = run_generator(back, fake, eval_mode);
        const int64_t c = std::max({real.size(1), fake.size(1), rec.size(1)});
        for (const at::Tensor& t : {real, fake, rec}) rows.push_back(to_bytes(to_channels(t, c)).cpu());
      }
    };
    add_rows(visual_a_, *G_A_, *G_B_);
    add_rows(visual_b_, *G_B_, *G_A_);
    return Visual{at::cat(rows).to(at::kFloat).div_(255.0), 3, 2};
  }

  std::vector<std::pair<std::string, c10::IValue>> extra_state() const override {
    std::vector<std::pair<std::string, c10::IValue>> out;
    // The pools: the fakes D still learns from, so that resume is exact.
    for (auto [name, pool] : {std::pair<const char*, const ImagePool*>{"pool_A", &pool_a_}, {"pool_B", &pool_b_}}) {
      at::Tensor images = pool->state();
      out.emplace_back(name, images.defined() ? c10::IValue(images) : c10::IValue(at::empty({0})));
    }
    return out;
  }
  void load_extra_state(const Checkpoint& ck) override {
    for (auto [name, pool] : {std::pair<const char*, ImagePool*>{"pool_A", &pool_a_}, {"pool_B", &pool_b_}}) {
      at::Tensor images = ck.get("recipe_state", name).toTensor();
      pool->load(images.numel() > 0 ? images : at::Tensor(), device_);
    }
  }

 private:
  Config config_;
  c10::Device device_;
  bool a_to_b_;
  GanLoss loss_;
  CycleGanWeights weights_;
  ImagePool pool_a_, pool_b_;  // generated A images (for D_B), generated B images (for D_A)
  std::shared_ptr<ImageNet> G_A_, G_B_, D_A_, D_B_;
  at::Tensor visual_a_, visual_b_;  // uint8 at crop_size: the input domain's and the output domain's
  at::Tensor train_a_, train_b_;    // the data's domains A and B (uint8, shared with the training data)
  at::Tensor test_a_, test_b_;      // the data's testA/, testB/ at crop_size (undefined without them)
  std::unique_ptr<FeatureExtractor> judge_, features_;
};

std::optional<Evaluation> CycleGanRecipe::evaluate(int64_t epoch) {
  (void)epoch;
  if (!test_a_.defined() || !test_b_.defined()) return std::nullopt;
  if (!judge_) {
    fs::path file = config_.get_string("eval_judge");
    if (file.empty()) file = default_judge_path(train_a_, train_b_);
    std::error_code ec;
    if (!fs::exists(file, ec)) {
      std::fprintf(stderr, "forgery: training the domain judge (once, cached in %s)\n", file.parent_path().c_str());
      JudgeTraining o;
      o.progress = parse_progress_mode(config_.get_string("progress"));
      JudgeResult r = train_domain_judge(train_a_, train_b_, file, o);
      if (std::isfinite(r.holdout_accuracy))
        std::fprintf(stderr, "forgery: domain judge accuracy on held-out training images %.1f%%\n", 100 * r.holdout_accuracy);
      else
        std::fprintf(stderr, "forgery: the domain judge has no held-out training images to be checked on (too few "
                             "images); its figures on so little data say little\n");
    }
    judge_ = domain_judge_features(file);
    const std::string& features = config_.get_string("eval_features");
    if (!features.empty() && !features_) features_ = torchscript_features(features, "option eval_features", device_);
  }
  TranslateOptions o;
  o.eval_mode = config_.get_bool("eval_mode");
  o.seed = static_cast<uint64_t>(config_.get_int("seed")) + 4;
  o.device = device_;
  // G_A translates the run's input domain: the data's A, or B with direction BtoA.
  ImageNet& a_to_b = a_to_b_ ? *G_A_ : *G_B_;
  ImageNet& b_to_a = a_to_b_ ? *G_B_ : *G_A_;
  CycleEvaluation c = evaluate_cycle(a_to_b, b_to_a, test_a_, test_b_, *judge_, features_ ? *features_ : *judge_, o);
  Evaluation ev;
  ev.metrics = std::move(c.metrics);
  ev.best_value = c.kid;
  ev.summary = c.summary;
  ev.notes = std::move(c.notes);
  return ev;
}

std::unique_ptr<TrainingData> CycleGanRecipe::load_data() {
  const fs::path root = config_.get_string("data_dir");
  if (root.empty())
    throw UsageError("cyclegan needs --data DIR (option data_dir): a folder with trainA/ and trainB/ (and testA/, testB/)");
  require_folder(root, "cyclegan data folder");
  std::error_code ec;
  for (const char* sub : {"trainA", "trainB"})
    if (!fs::is_directory(root / sub, ec))
      throw Error("cyclegan data folder " + root.string() + " has no " + sub + "/ folder (expected trainA/ and trainB/, "
                  "and testA/ and testB/ for the visuals, of unpaired images)");
  const int64_t in = config_.get_int("input_nc"), out = config_.get_int("output_nc");
  const int64_t crop = config_.get_int("crop_size");
  ImageDataOptions o;
  o.square = true;
  o.bicubic = true;
  o.skip_bad = config_.get_bool("skip_bad_images");
  o.threads = std::max(1, at::get_num_threads());
  o.progress = parse_progress_mode(config_.get_string("progress"));
  o.size = config_.get_int("load_size");
  // The stored A domain is the input when the direction is AtoB.
  auto load = [&](const char* sub, int64_t channels, int64_t size) {
    ImageDataOptions d = o;
    d.channels = channels;
    d.size = size;
    return load_image_folder(root / sub, d, device_);
  };
  const int64_t ca = a_to_b_ ? in : out, cb = a_to_b_ ? out : in;
  ImageData a = load("trainA", ca, o.size), b = load("trainB", cb, o.size);
  train_a_ = a.pixels;
  train_b_ = b.pixels;
  for (auto [sub, channels, test] : {std::tuple<const char*, int64_t, at::Tensor*>{"testA", ca, &test_a_}, {"testB", cb, &test_b_}})
    if (fs::is_directory(root / sub, ec) && !list_image_files(root / sub).empty()) *test = load(sub, channels, crop).pixels.cpu();
  if ((!test_a_.defined() || !test_b_.defined()) && config_.get_int("eval_every") > 0)
    throw Error("option eval_every needs testA/ and testB/ images in " + root.string());
  // Visuals: the first test images of each domain (training images, centre-cropped, without).
  const int64_t n = config_.get_int("visual_count");
  auto first = [&](const at::Tensor& test, const ImageData& train) -> at::Tensor {
    if (n <= 0) return {};
    if (test.defined()) return test.narrow(0, 0, std::min<int64_t>(n, test.size(0)));
    const int64_t off = (train.pixels.size(2) - crop) / 2;
    return train.pixels.narrow(0, 0, std::min<int64_t>(n, train.size())).narrow(2, off, crop).narrow(3, off, crop).cpu();
  };
  at::Tensor va = first(test_a_, a), vb = first(test_b_, b);
  visual_a_ = a_to_b_ ? va : vb;
  visual_b_ = a_to_b_ ? vb : va;
  return std::make_unique<UnalignedImages>(std::move(a), std::move(b), crop, !config_.get_bool("no_flip"));
}

std::vector<OptionSpec> cyclegan_options() {
  return {
      {"direction", OptionType::String, std::string("AtoB"), "AtoB (G_A translates A to B) or BtoA (the domains swapped)"},
      {"lambda_A", OptionType::Float, 10.0, "weight of the cycle loss A -> B -> A"},
      {"lambda_B", OptionType::Float, 10.0, "weight of the cycle loss B -> A -> B"},
      {"lambda_identity", OptionType::Float, 0.5,
       "weight of the identity loss, relative to lambda_A and lambda_B (0: none)"},
      {"gan_mode", OptionType::String, std::string("lsgan"), "adversarial loss: lsgan (least squares) or vanilla"},
      {"pool_size", OptionType::Int, int64_t{50}, "generated images each discriminator learns from (0: only the latest)"},
      {"lr", OptionType::Float, 0.0002, "initial Adam learning rate (both optimisers)"},
      {"beta1", OptionType::Float, 0.5, "Adam beta1"},
      {"beta2", OptionType::Float, 0.999, "Adam beta2"},
      {"load_size", OptionType::Int, int64_t{286}, "images are resized to load_size x load_size (bicubic)"},
      {"crop_size", OptionType::Int, int64_t{256}, "then a random crop_size x crop_size square is cut"},
      {"no_flip", OptionType::Bool, false, "do not mirror training images at random"},
      {"skip_bad_images", OptionType::Bool, false, "skip unreadable images (reported with a count) instead of stopping"},
      {"visual_count", OptionType::Int, int64_t{3}, "test images per domain shown as real | fake | reconstruction"},
      {"eval_mode", OptionType::Bool, false,
       "visuals and evaluation with running statistics and no dropout (default: as the reference's test script)"},
      {"eval_judge", OptionType::String, std::string(""),
       "domain judge for eval_every and forgery eval; empty: the one of this data, trained once and cached"},
      {"eval_features", OptionType::String, std::string(""),
       "TorchScript feature network (e.g. Inception) for KID and FID instead of the judge's features"},
  };
}

void validate_cyclegan(const Config& c) {
  const std::string& dir = c.get_string("direction");
  if (dir != "AtoB" && dir != "BtoA") throw UsageError("option direction '" + dir + "': AtoB or BtoA");
  if (const std::string& mode = c.get_string("gan_mode"); mode != "vanilla" && mode != "bce_logits" && mode != "lsgan")
    throw UsageError("option gan_mode '" + mode + "': CycleGAN supports lsgan and vanilla (also called bce_logits) (its "
                     "PatchGANs give logits; bce, on a Sigmoid's output, is the GAN family's loss)");
  for (const char* key : {"lambda_A", "lambda_B", "lambda_identity"})
    if (!(c.get_float(key) >= 0)) throw UsageError(std::string("option ") + key + " must not be negative");
  if (c.get_float("lambda_identity") > 0 && c.get_int("input_nc") != c.get_int("output_nc"))
    throw UsageError("option lambda_identity needs input_nc = output_nc (G_A(B) is compared with B); set it to 0");
  if (c.get_int("pool_size") < 0) throw UsageError("option pool_size must not be negative");
  if (!(c.get_float("lr") > 0)) throw UsageError("option lr must be positive");
  for (const char* key : {"beta1", "beta2"})
    if (!(c.get_float(key) >= 0 && c.get_float(key) < 1)) throw UsageError(std::string("option ") + key + " must be in [0, 1)");
  const int64_t load = c.get_int("load_size"), crop = c.get_int("crop_size");
  if (load <= 0 || crop <= 0) throw UsageError("options load_size and crop_size must be positive");
  if (crop > load)
    throw UsageError("option crop_size " + std::to_string(crop) + " is larger than load_size " + std::to_string(load));
  if (c.get_int("visual_count") < 0) throw UsageError("option visual_count must not be negative");
  validate_image_nets(c, crop);
}

RecipeRegistrar cyclegan_recipe({
    "cyclegan",
    "unpaired image-to-image translation: two generators, two PatchGANs, cycle and identity losses, image pools",
    cyclegan_options(),
    [](const Config& c, const c10::Device& d) { return std::make_unique<CycleGanRecipe>(c, d); },
    validate_cyclegan,
    [](const Config& c, const std::string& direction) {
      // G_A translates the run's input domain (A, or B with direction BtoA) to its output
      // domain; G_B translates back. `direction` names the data's domains A and B.
      const bool forward = direction == c.get_string("direction");
      Translator t;
      t.network = forward ? "G_A" : "G_B";
      t.in_channels = c.get_int(forward ? "input_nc" : "output_nc");
      t.out_channels = c.get_int(forward ? "output_nc" : "input_nc");
      t.net = make_image_generator(c, t.in_channels, t.out_channels);
      t.size = c.get_int("crop_size");
      t.input_is_a = direction == "AtoB";
      return t;
    },
});

ModelRegistrar cyclegan_model({
    "cyclegan",
    "cyclegan",
    "CycleGAN networks: G_A, G_B (netG: resnet_9blocks, resnet_6blocks, unet_*), D_A, D_B (netD) with InstanceNorm",
    image_net_options("resnet_9blocks", "instance", true),
    nullptr,
});

}  // namespace
}  // namespace forgery
