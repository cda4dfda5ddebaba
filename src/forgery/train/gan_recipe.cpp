// The GAN recipe: the seed's GAN, DCGAN and the conditional GANs. D is trained k times with G
// frozen, then G with D frozen, on images held as tensors on the device; every epoch a grid
// from one fixed noise batch, and with eval_every the sample-quality metrics (FID, ...).
#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/progress.h"
#include "forgery/data/download.h"
#include "forgery/data/image_data.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/classifier.h"
#include "forgery/eval/evaluate.h"
#include "forgery/io/grid.h"
#include "forgery/io/image.h"
#include "forgery/models/registry.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/gan_step.h"
#include "forgery/train/recipe.h"
#include "forgery/train/sampling.h"

namespace forgery {

namespace {

class GanRecipe : public Recipe {
 public:
  GanRecipe(const Config& config, const c10::Device& device)
      : config_(config),
        device_(device),
        loss_(parse_gan_loss(config.get_string("loss"), "loss")),
        reuse_fake_(config.get_string("g_noise") == "reuse") {}

  void build() override {
    const ModelInfo& info = find_model(config_.get_string("model"));
    if (!info.make_gan) throw UsageError("model '" + info.name + "' is not trained by the GAN recipe");
    // G is created before D, as the PyTorch programs do: the same seed, the same weights.
    nets_ = info.make_gan(config_);
    nets_.generator->to(device_);
    nets_.discriminator->to(device_);
    // A feature network for eval_every is read now: a bad file stops the run before its first
    // epoch, not at its first evaluation.
    if (config_.get_int("eval_every") > 0 && !config_.get_string("eval_features").empty())
      features_ = torchscript_features(config_.get_string("eval_features"), "option eval_features", device_);
    // A conditional model's grid shows one class per row.
    if (const int64_t classes = nets_.generator->num_classes(); classes > 0)
      fixed_labels_ =
          row_labels(config_.get_int("sample_size"), config_.get_int("grid_nrow"), classes).to(device_);
  }

  std::vector<NetworkDecl> networks() const override {
    return {{"generator", nets_.generator}, {"discriminator", nets_.discriminator}};
  }
  std::vector<OptimizerDecl> optimizers() const override {
    const double b1 = config_.get_float("beta1"), b2 = config_.get_float("beta2");
    return {{"G", {"generator"}, config_.get_float("lr_g"), b1, b2},
            {"D", {"discriminator"}, config_.get_float("lr_d"), b1, b2}};
  }
  std::vector<LossDecl> losses() const override {
    return {{"loss_g", "Generator loss", true},
            {"loss_d", "Discriminator loss", true},
            {"d_real", "mean D(x)", false},
            {"d_fake", "mean D(G(z))", false}};
  }
  std::string best_metric() const override { return "fid"; }
  std::vector<std::string> generators() const override { return {"generator"}; }
  bool recompute_statistics(const std::string& generator) override {
    (void)generator;
    // The same noise every time, from its own stream: 16 batches (BigGAN's standing statistics).
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(config_.get_int("seed")) + 4);
    return recompute_batchnorm_statistics(*nets_.generator, 16, config_.get_int("batch_size"), gen, device_);
  }

  std::unique_ptr<TrainingData> load_data() override {
    const ImageDataOptions o = gan_image_options(config_);
    const int64_t classes = config_.has("num_classes") ? config_.get_int("num_classes") : 0;
    const std::string& dataset = config_.get_string("dataset");
    fs::path dir;
    ImageData data;
    if (dataset == "folder") {
      dir = config_.get_string("data_dir");
      if (dir.empty()) throw UsageError("option dataset 'folder' needs data_dir (or --data DIR): the folder of images");
      data = load_image_folder(dir, o, device_);
      folder_pixels_ = data.pixels;  // shared, not copied: eval_every's real set comes from it
    } else {
      dir = resolve_dataset_dir(dataset, config_.get_string("data_dir"));
      check_holds_dataset(dataset, dir);
      data = load_mnist_images(dir, /*train=*/true, o, device_);
    }
    if (classes > 0 && static_cast<int64_t>(data.classes.size()) != classes) {
      std::string names;
      for (const auto& c : data.classes) names += (names.empty() ? "" : ", ") + c;
      throw Error("the data in " + dir.string() + " has " + std::to_string(data.classes.size()) + " classes (" +
                  names + "); the model has num_classes = " + std::to_string(classes) + " (set num_classes=" +
                  std::to_string(data.classes.size()) + ")");
    }
    class_names_ = data.classes;
    return std::make_unique<ImageBatches>(std::move(data), config_.get_bool("hflip"));
  }

  void start_new() override {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(config_.get_int("seed")) + 1);
    fixed_noise_ =
        at::randn({config_.get_int("sample_size"), nets_.generator->latent_dim()}, gen).to(device_);
  }

  bool graph_safe_step() const override { return true; }

  std::vector<LossValue> train_step(const Batch& batch, StepContext& ctx) override {
    const at::Tensor& real = batch.at("real");
    const at::Tensor labels = nets_.generator->num_classes() > 0 ? batch.at("labels") : at::Tensor();
    const int64_t b = real.size(0), nz = nets_.generator->latent_dim(), k = config_.get_int("k");
    auto opts = real.options();
    std::vector<at::Tensor> z_d;
    for (int64_t s = 0; s < k; ++s) z_d.push_back(ctx.randn({b, nz}, opts));
    auto z_g = reuse_fake_ ? at::Tensor() : ctx.randn({b, nz}, opts);
    auto st = gan_step(*nets_.generator, *nets_.discriminator, ctx, real, labels, z_d, z_g, loss_);
    // loss_d counts once a batch: the sum of its k D steps' losses, as the chapter's
    // `loss_d += train_discriminator(...)` inside its k loop; D's mean outputs are per D step.
    return {{"loss_d", st.loss_d, 1}, {"d_real", st.d_real, k}, {"d_fake", st.d_fake, k}, {"loss_g", st.loss_g, 1}};
  }

  std::optional<Visual> visuals() override {
    torch::NoGradGuard no_grad;
    nets_.generator->eval();
    at::Tensor images = nets_.generator->forward(fixed_noise_, fixed_labels_);
    return Visual{to_unit_range(images).cpu(), static_cast<int>(config_.get_int("grid_nrow")),
                  static_cast<int>(config_.get_int("grid_padding"))};
  }

  std::optional<Evaluation> evaluate(int64_t epoch) override;

  void write_final(const fs::path& run_dir) override {
    // Ten single images from fresh (seeded) noise, as the seed's last listing shows.
    Generator& G = *nets_.generator;
    const int64_t n = config_.get_int("final_samples");
    if (n <= 0 || !png_supported()) return;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(config_.get_int("seed")) + 2);
    auto images = to_unit_range(generate_images(G, n, gen, device_, cycled_labels(n, G.num_classes())));
    for (int64_t i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "final_%02lld.png", (long long)i);
      write_png(run_dir / "samples" / name, tensor_to_image(images[i]));
    }
  }

  std::vector<std::pair<std::string, c10::IValue>> extra_state() const override {
    std::vector<std::pair<std::string, c10::IValue>> out = {{"fixed_noise", fixed_noise_.cpu()}};
    if (!class_names_.empty() && nets_.generator->num_classes() > 0) {
      std::string names;  // so that `forgery sample --label NAME` works
      for (const auto& c : class_names_) names += (names.empty() ? "" : "\n") + c;
      out.emplace_back("class_names", names);
    }
    return out;
  }
  void load_extra_state(const Checkpoint& ck) override {
    fixed_noise_ = ck.get("recipe_state", "fixed_noise").toTensor().to(device_);
  }

 private:
  struct EvalState {
    std::unique_ptr<FeatureExtractor> extractor;
    Extracted real;
  };

  Config config_;
  c10::Device device_;
  GanLoss loss_;
  bool reuse_fake_;  // g_noise = "reuse"
  GanNetworks nets_;
  at::Tensor fixed_noise_, fixed_labels_;
  std::vector<std::string> class_names_;
  std::unique_ptr<FeatureExtractor> features_;  // eval_features, read in build()
  at::Tensor folder_pixels_;  // dataset folder: the training images as decoded (uint8, on the device)
  std::unique_ptr<EvalState> eval_;  // features of the real set and the extractor, made once
};

// The metrics eval_every can give: with eval_features, those that need class probabilities
// (is, classes, accuracy) are left out. `left_out` names them.
std::vector<std::string> gan_eval_metrics(const Config& c, std::string* left_out) {
  std::vector<std::string> metrics = parse_metric_list(c.get_string("eval_metrics"));
  if (c.get_string("eval_features").empty()) return metrics;
  std::vector<std::string> kept;
  for (const auto& m : metrics)
    if (needs_class_probabilities(m)) {
      if (left_out) *left_out += (left_out->empty() ? "" : ", ") + m;
    } else {
      kept.push_back(m);
    }
  return kept;
}

std::optional<Evaluation> GanRecipe::evaluate(int64_t epoch) {
  (void)epoch;
  const bool own_features = features_ != nullptr;
  if (!eval_) {
    auto state = std::make_unique<EvalState>();
    ImageSet real;
    if (config_.get_string("dataset") == "folder") {
      // eval_n of the training images, a seeded choice made as training made them (as
      // forgery eval RUN --features does); validate_gan made sure of a feature network.
      const fs::path dir = config_.get_string("data_dir");
      const auto seed = static_cast<uint64_t>(config_.get_int("seed")) + 5;
      const int64_t n = config_.get_int("eval_n");
      real = ImageSet{folder_pixels_.defined() ? choose_eval_images(folder_pixels_, n, seed)
                                               : folder_eval_images(config_, dir, n, seed),
                      "training images of " + dir.string()};
    } else {
      fs::path data_dir = resolve_dataset_dir(config_.get_string("dataset"), config_.get_string("data_dir"));
      if (own_features) {
        real = ImageSet{load_mnist_family(data_dir, /*train=*/false, c10::Device(c10::kCPU)).images,
                        (data_dir / "t10k").string()};
      } else {
        fs::path cls = config_.get_string("eval_classifier");
        if (cls.empty()) cls = default_classifier_path(data_dir);
        if (!fs::exists(cls)) {
          std::fprintf(stderr, "forgery: training the feature classifier for eval_every (once, cached in %s)\n",
                       cls.parent_path().c_str());
          ClassifierTraining o;
          o.progress = parse_progress_mode(config_.get_string("progress"));
          train_mnist_classifier(data_dir, cls, o);
        }
        state->extractor = mnist_classifier_features(cls);
        real = ImageSet{mnist_eval_images(data_dir, config_.get_int("image_size")), (data_dir / "t10k").string()};
      }
    }
    FeatureExtractor& extractor = own_features ? *features_ : *state->extractor;
    state->real = real_features_cached(extractor, real, ProgressMode::Off);
    eval_ = std::move(state);
  }
  // Fixed evaluation noise from its own generator: comparable across epochs.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(config_.get_int("seed")) + 3);
  const int64_t n = config_.get_int("eval_n");
  EvalOptions options;
  std::string left_out;
  options.metrics = gan_eval_metrics(config_, &left_out);
  options.seed = static_cast<uint64_t>(config_.get_int("seed"));
  at::Tensor images = generate_for_eval(*nets_.generator, n, gen, device_, options, /*add_accuracy=*/!own_features,
                                        /*fit_to_classifier=*/!own_features);
  FeatureExtractor& extractor = own_features ? *features_ : *eval_->extractor;
  Extracted fake = extractor.extract(ImageSet{images, "generated"}, ProgressMode::Off);
  Evaluation ev;
  // A conditional model's accuracy (added by default with the classifier) needs it too.
  if (own_features && nets_.generator->num_classes() > 0 && left_out.find("accuracy") == std::string::npos)
    left_out += std::string(left_out.empty() ? "" : ", ") + "accuracy";
  if (!left_out.empty())
    ev.notes.push_back(left_out + " left out: the MNIST classifier's class probabilities are needed, and "
                       "eval_features gives features only");
  const auto fid = std::find(options.metrics.begin(), options.metrics.end(), "fid");
  if (fid == options.metrics.end()) {
    ev.notes.push_back("no best.pt: it follows FID, which eval_metrics leaves out");
  } else if (const std::string why = fid_needs_more_images(eval_->real, fake); !why.empty()) {
    options.metrics.erase(fid);
    ev.notes.push_back("no FID (and no best.pt, which follows it): " + why + " (raise eval_n" +
                       (config_.get_string("dataset") == "folder" ? "; the folder's images are the real set" : "") + ")");
  }
  const int64_t real_n = eval_->real.features.size(0);
  ev.summary = " " + std::to_string(n) + " images" + (real_n != n ? " (" + std::to_string(real_n) + " real)" : "") + ":";
  for (const auto& [k, v] : compute_metrics(eval_->real, fake, options)) {
    if (k.rfind("class_", 0) == 0) continue;
    ev.metrics.emplace_back(k, v);
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %s %.4g", k.c_str(), v);
    ev.summary += buf;
    if (k == "fid") ev.best_value = v;
  }
  return ev;
}

std::vector<OptionSpec> gan_options() {
  return {
      {"dataset", OptionType::String, std::string("mnist"),
       "training data: mnist, fashion-mnist, or folder (every JPEG/PNG below data_dir)"},
      {"hflip", OptionType::Bool, false, "mirror each training image left-right with probability 1/2"},
      {"skip_bad_images", OptionType::Bool, false,
       "folder data: skip unreadable images (reported with a count) instead of stopping"},
      {"k", OptionType::Int, int64_t{1}, "discriminator steps per generator step"},
      {"g_noise", OptionType::String, std::string("fresh"),
       "G's step: fresh (new noise, the chapter's program) or reuse (D's last fake batch, the PyTorch DCGAN "
       "tutorial's)"},
      {"lr_g", OptionType::Float, 0.0002, "generator Adam learning rate"},
      {"lr_d", OptionType::Float, 0.0002, "discriminator Adam learning rate"},
      {"beta1", OptionType::Float, 0.9, "Adam beta1 (both networks)"},
      {"beta2", OptionType::Float, 0.999, "Adam beta2 (both networks)"},
      {"loss", OptionType::String, std::string("bce"),
       "adversarial loss on D's probabilities: bce (the seed's) or lsgan (least squares)"},
      {"sample_size", OptionType::Int, int64_t{64}, "images in the fixed-noise grid saved every epoch"},
      {"grid_nrow", OptionType::Int, int64_t{8}, "images per row in sample grids"},
      {"grid_padding", OptionType::Int, int64_t{2}, "pixels between images in sample grids"},
      {"final_samples", OptionType::Int, int64_t{10}, "single images saved after training (samples/final_NN.png)"},
      {"eval_n", OptionType::Int, int64_t{10000}, "images generated for each evaluation during training"},
      {"eval_metrics", OptionType::String, std::string("fid,kid,pr,is,classes"), "metrics logged by eval_every"},
      {"eval_classifier", OptionType::String, std::string(""),
       "feature classifier for eval_every; empty: the dataset's cached one (trained once when missing)"},
      {"eval_features", OptionType::String, std::string(""),
       "TorchScript feature network (e.g. Inception) for eval_every and forgery eval instead of the MNIST "
       "classifier; needed for folder data"},
  };
}

void validate_gan(const Config& c) {
  if (const std::string& loss = c.get_string("loss"); loss != "bce" && loss != "lsgan")
    throw UsageError("option loss '" + loss + "': the GAN family supports bce and lsgan (its discriminators end in a "
                     "Sigmoid; bce_logits, also called vanilla, is pix2pix's and CycleGAN's gan_mode)");
  if (const std::string& g = c.get_string("g_noise"); g != "fresh" && g != "reuse")
    throw UsageError("option g_noise '" + g + "': expected fresh (new noise for G's step) or reuse (D's fake batch)");
  if (c.get_int("eval_n") <= 0 || c.get_int("eval_n") > 1000000)
    throw UsageError("option eval_n must be between 1 and a million (the images are held in memory together)");
  if (c.get_int("grid_padding") < 0) throw UsageError("option grid_padding must not be negative");
  if (c.get_int("final_samples") < 0) throw UsageError("option final_samples must not be negative");
  for (const char* key : {"k", "sample_size", "grid_nrow"})
    if (c.get_int(key) <= 0) throw UsageError(std::string("option ") + key + " must be positive");
  for (const char* key : {"lr_g", "lr_d"})
    if (!(c.get_float(key) > 0)) throw UsageError(std::string("option ") + key + " must be positive");
  for (const char* key : {"beta1", "beta2"})
    if (!(c.get_float(key) >= 0 && c.get_float(key) < 1)) throw UsageError(std::string("option ") + key + " must be in [0, 1)");
  const auto& ds = c.get_string("dataset");
  if (ds != "mnist" && ds != "fashion-mnist" && ds != "folder")
    throw UsageError("option dataset '" + ds + "': supported: mnist, fashion-mnist, folder");
  if (ds == "folder" && c.get_int("eval_every") > 0 && c.get_string("eval_features").empty())
    throw UsageError("option eval_every with dataset folder needs eval_features: a TorchScript feature network for "
                     "RGB images such as Inception-v3 (the built-in classifier knows only the MNIST family)");
  if (c.get_int("eval_every") > 0) {
    std::string left_out;
    std::vector<std::string> metrics;
    try {
      metrics = gan_eval_metrics(c, &left_out);
    } catch (const UsageError& e) {
      std::string why = e.what();
      if (why.rfind("--metrics: ", 0) == 0) why = why.substr(11);
      throw UsageError("option eval_metrics '" + c.get_string("eval_metrics") + "': " + why);
    }
    const bool conditional = c.has("num_classes") && c.get_int("num_classes") > 0;
    if (!conditional && std::find(metrics.begin(), metrics.end(), "accuracy") != metrics.end())
      throw UsageError("option eval_metrics '" + c.get_string("eval_metrics") + "': accuracy needs a conditional "
                       "model (the classes its samples are asked for)");
    if (metrics.empty())
      throw UsageError("option eval_metrics '" + c.get_string("eval_metrics") + "': with eval_features only fid, kid "
                       "and pr can be measured (the MNIST classifier's class probabilities are needed for " +
                       left_out + ")");
  }
}

RecipeRegistrar gan_recipe({
    "gan",
    "the seed's GAN game: D trained k times with G frozen, then G with D frozen; noise in, images out",
    gan_options(),
    [](const Config& c, const c10::Device& d) { return std::make_unique<GanRecipe>(c, d); },
    validate_gan,
    nullptr,
});

}  // namespace
}  // namespace forgery
