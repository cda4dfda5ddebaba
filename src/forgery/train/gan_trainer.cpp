#include "forgery/train/gan_trainer.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/progress.h"
#include "forgery/core/rng.h"
#include "forgery/core/runtime.h"
#include "forgery/core/stop.h"
#include "forgery/data/mnist.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/eval/classifier.h"
#include "forgery/eval/evaluate.h"
#include "forgery/io/grid.h"
#include "forgery/io/image.h"
#include "forgery/io/plot.h"
#include "forgery/models/registry.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/gan_step.h"
#include "forgery/train/sampling.h"
#include "forgery/train/state.h"

namespace forgery {

namespace {
std::string epoch_file(const char* prefix, int64_t epoch, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof name, "%s%04lld%s", prefix, static_cast<long long>(epoch), ext);
  return name;
}
}  // namespace

GanTrainer::GanTrainer(Config config, fs::path run_dir)
    : config_(std::move(config)), run_dir_(std::move(run_dir)), metrics_(run_dir_) {
  device_ = select_device(config_.get_string("device"));
}

GanTrainer::~GanTrainer() = default;

void GanTrainer::build() {
  const ModelInfo& info = find_model(config_.get_string("model"));
  if (info.recipe != "gan" || !info.make_gan)
    throw UsageError("model '" + info.name + "' is not trained by the GAN recipe");
  nets_ = info.make_gan(config_);
  nets_.generator->to(device_);
  nets_.discriminator->to(device_);
  nets_.generator->train();
  nets_.discriminator->train();
  auto adam = [&](torch::nn::Module& m, double lr) {
    return std::make_unique<torch::optim::Adam>(
        m.parameters(), torch::optim::AdamOptions(lr).betas({config_.get_float("beta1"), config_.get_float("beta2")}));
  };
  opt_g_ = adam(*nets_.generator, config_.get_float("lr_g"));
  opt_d_ = adam(*nets_.discriminator, config_.get_float("lr_d"));
  // A conditional model's grid shows one class per row.
  if (const int64_t classes = nets_.generator->num_classes(); classes > 0)
    fixed_labels_ = row_labels(config_.get_int("sample_size"), config_.get_int("grid_nrow"), classes).to(device_);
  auto zero = [&]() { return at::zeros({}, at::TensorOptions().device(device_)); };
  sum_loss_g_ = zero(); sum_loss_d_ = zero(); sum_d_real_ = zero(); sum_d_fake_ = zero();
}

void GanTrainer::start_new() {
  seed_everything(static_cast<uint64_t>(config_.get_int("seed")));
  // The networks are created (and initialised) first, in the seed's order: G then D, so the
  // same seed gives the same initial weights as the PyTorch program after torch.manual_seed.
  build();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(config_.get_int("seed")) + 1);
  fixed_noise_ = at::randn({config_.get_int("sample_size"), nets_.generator->latent_dim()}, gen).to(device_);
  atomic_write_file(run_dir_ / "config.toml", config_.to_toml());
}

void GanTrainer::restore(const Checkpoint& ck) {
  const std::string what = "checkpoint " + ck.path().string();
  if (ck.get_string("recipe") != "gan")
    throw Error(what + " belongs to a '" + ck.get_string("recipe") + "' run, not a GAN run");
  if (ck.get_string("model") != config_.get_string("model"))
    throw Error(what + " holds model '" + ck.get_string("model") + "', the config asks for '" +
                config_.get_string("model") + "'");
  build();
  load_module_state(*nets_.generator, ck.get_tensors("generator"), what + " (generator)");
  load_module_state(*nets_.discriminator, ck.get_tensors("discriminator"), what + " (discriminator)");
  load_adam_state(*opt_g_, *nets_.generator, ck.get_tensors("optimizer_g"), what);
  load_adam_state(*opt_d_, *nets_.discriminator, ck.get_tensors("optimizer_d"), what);
  fixed_noise_ = ck.get_tensor("fixed_noise").to(device_);
  if (ck.has("best_fid")) {
    best_fid_ = ck.get_float("best_fid");
    best_epoch_ = ck.get_int("best_epoch");
  }
  epoch_ = ck.get_int("epoch");
  global_step_ = ck.get_int("global_step");
  batch_ = ck.get_int("batch_in_epoch");
  in_epoch_ = batch_ > 0;
  if (in_epoch_) {
    permutation_ = ck.get_tensor("permutation").to(device_);
    sum_loss_g_ = ck.get_tensor("sum_loss_g").to(device_);
    sum_loss_d_ = ck.get_tensor("sum_loss_d").to(device_);
    sum_d_real_ = ck.get_tensor("sum_d_real").to(device_);
    sum_d_fake_ = ck.get_tensor("sum_d_fake").to(device_);
    d_steps_ = ck.get_int("d_steps");
    g_steps_ = ck.get_int("g_steps");
    images_ = ck.get_int("images");
    seconds_before_ = ck.get_float("seconds");
  }
  std::map<std::string, at::Tensor> rng;
  for (const auto& [k, t] : ck.get_tensors("rng")) rng[k] = t;
  restore_rng_state(rng);
  metrics_.load();
  metrics_.truncate_after(epoch_);
  atomic_write_file(run_dir_ / "config.toml", config_.to_toml());
}

void GanTrainer::init_from(const std::vector<fs::path>& files) {
  for (const auto& file : files) {
    c10::IValue v = load_torch_file(file);
    bool used = false;
    auto try_load = [&](const NamedTensors& state, const std::string& what) {
      if (state_matches(*nets_.generator, state)) {
        load_module_state(*nets_.generator, state, what);
        used = true;
      } else if (state_matches(*nets_.discriminator, state)) {
        load_module_state(*nets_.discriminator, state, what);
        used = true;
      }
    };
    try_load(tensors_of(v, file.string()), file.string());
    // A dict holding both: {"generator": {...}, "discriminator": {...}}.
    if (!used && v.isGenericDict())
      for (const auto& e : v.toGenericDict())
        if (e.value().isGenericDict()) try_load(tensors_of(e.value(), file.string()), file.string());
    if (!used)
      throw Error(file.string() + " matches neither the generator nor the discriminator of model '" +
                  config_.get_string("model") + "' (its keys or shapes differ)");
    std::fprintf(stderr, "forgery: initialised weights from %s\n", file.c_str());
  }
}

void GanTrainer::load_data() {
  if (data_) return;
  ImageDataOptions o;
  o.size = config_.get_int("image_size");
  o.channels = config_.get_int("channels");
  const int64_t classes = config_.has("num_classes") ? config_.get_int("num_classes") : 0;
  o.need_classes = classes > 0;
  o.skip_bad = config_.get_bool("skip_bad_images");
  o.threads = std::max(1, at::get_num_threads());
  o.progress = parse_progress_mode(config_.get_string("progress"));
  const std::string& dataset = config_.get_string("dataset");
  fs::path dir;
  if (dataset == "folder") {
    dir = config_.get_string("data_dir");
    data_ = load_image_folder(dir, o, device_);
  } else {
    dir = resolve_dataset_dir(dataset, config_.get_string("data_dir"));
    data_ = load_mnist_images(dir, /*train=*/true, o, device_);
  }
  if (classes > 0 && static_cast<int64_t>(data_->classes.size()) != classes) {
    std::string names;
    for (const auto& c : data_->classes) names += (names.empty() ? "" : ", ") + c;
    throw Error("the data in " + dir.string() + " has " + std::to_string(data_->classes.size()) + " classes (" + names +
                "); the model has num_classes = " + std::to_string(classes) + " (set num_classes=" +
                std::to_string(data_->classes.size()) + ")");
  }
}

int64_t GanTrainer::batches_per_epoch() const {
  const int64_t n = data_->size(), b = config_.get_int("batch_size");
  return config_.get_bool("drop_last") ? n / b : (n + b - 1) / b;
}

void GanTrainer::begin_epoch() {
  // Drawn from the CPU generator whatever the device, so CPU and CUDA runs see the same order.
  permutation_ = at::randperm(data_->size(), at::TensorOptions().dtype(at::kLong)).to(device_);
  batch_ = 0;
  for (auto* t : {&sum_loss_g_, &sum_loss_d_, &sum_d_real_, &sum_d_fake_}) t->zero_();
  d_steps_ = g_steps_ = images_ = 0;
  seconds_before_ = 0;
  in_epoch_ = true;
}

void GanTrainer::train_step(const at::Tensor& real, const at::Tensor& labels) {
  const int64_t b = real.size(0), nz = nets_.generator->latent_dim(), k = config_.get_int("k");
  auto opts = real.options();
  std::vector<at::Tensor> z_d;
  for (int64_t s = 0; s < k; ++s) z_d.push_back(at::randn({b, nz}, opts));
  auto z_g = at::randn({b, nz}, opts);
  auto st = gan_step(*nets_.generator, *nets_.discriminator, *opt_g_, *opt_d_, real, labels, z_d, z_g);
  sum_loss_d_.add_(st.loss_d);
  sum_d_real_.add_(st.d_real);
  sum_d_fake_.add_(st.d_fake);
  sum_loss_g_.add_(st.loss_g);
  d_steps_ += k;
  ++g_steps_;
  images_ += b;
}

std::string GanTrainer::running_status() const {
  if (g_steps_ == 0) return "";
  char buf[96];
  std::snprintf(buf, sizeof buf, "loss_g %.4f loss_d %.4f", sum_loss_g_.item<double>() / g_steps_,
                sum_loss_d_.item<double>() / std::max<int64_t>(d_steps_, 1));
  return buf;
}

int GanTrainer::train() {
  load_data();
  const int64_t epochs = config_.get_int("epochs");
  const int64_t bs = config_.get_int("batch_size");
  const int64_t nb = batches_per_epoch();
  if (nb == 0) throw Error("the dataset has " + std::to_string(data_->size()) + " images, fewer than one batch of " + std::to_string(bs) + " with drop_last");
  const auto mode = parse_progress_mode(config_.get_string("progress"));
  const bool hflip = config_.get_bool("hflip");
  const bool conditional = nets_.generator->num_classes() > 0;
  fs::create_directories(run_dir_ / "samples");
  fs::create_directories(run_dir_ / "checkpoints");
  fs::create_directories(run_dir_ / "weights");
  if (epoch_ >= epochs) {
    std::fprintf(stderr, "forgery: the run has already done %lld of %lld epochs; pass --epochs N to train further\n",
                 (long long)epoch_, (long long)epochs);
    write_final_artifacts();
    return 0;
  }
  while (epoch_ < epochs) {
    if (!in_epoch_) begin_epoch();
    ProgressBar bar("epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(epochs), nb, bs, mode);
    bar.set_status_source([this] { return running_status(); });
    auto t0 = std::chrono::steady_clock::now();
    while (batch_ < nb) {
      const int64_t start = batch_ * bs, len = std::min(bs, data_->size() - start);
      auto idx = permutation_.narrow(0, start, len);
      train_step(make_batch(*data_, idx, hflip), conditional ? data_->labels.index_select(0, idx) : at::Tensor());
      ++batch_;
      ++global_step_;
      bar.update(batch_, images_);
      if (after_step) after_step(global_step_);
      if (stop_requested() && batch_ < nb) {
        bar.finish();
        seconds_before_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        save_last_checkpoint();
        write_weights();
        std::fprintf(stderr, "forgery: stopped in epoch %lld after step %lld; saved %s\n"
                     "forgery: continue exactly where it stopped with: forgery resume %s\n",
                     (long long)epoch_ + 1, (long long)global_step_, (run_dir_ / "checkpoints" / "last.pt").c_str(),
                     run_dir_.c_str());
        return 128 + stop_signal();
      }
    }
    bar.finish();
    double seconds = seconds_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    end_epoch(seconds);
    if (stop_requested() && epoch_ < epochs) {
      std::fprintf(stderr, "forgery: stopped after epoch %lld; continue with: forgery resume %s\n",
                   (long long)epoch_, run_dir_.c_str());
      return 128 + stop_signal();
    }
  }
  write_final_artifacts();
  return 0;
}

void GanTrainer::end_epoch(double seconds) {
  ++epoch_;
  in_epoch_ = false;
  batch_ = 0;
  const double loss_g = sum_loss_g_.item<double>() / std::max<int64_t>(g_steps_, 1);
  const double loss_d = sum_loss_d_.item<double>() / std::max<int64_t>(d_steps_, 1);
  const double d_real = sum_d_real_.item<double>() / std::max<int64_t>(d_steps_, 1);
  const double d_fake = sum_d_fake_.item<double>() / std::max<int64_t>(d_steps_, 1);
  const double ips = seconds > 0 ? images_ / seconds : 0;
  MetricRow row = {{"epoch", epoch_}, {"step", global_step_}, {"loss_g", loss_g}, {"loss_d", loss_d},
                   {"d_real", d_real}, {"d_fake", d_fake}, {"seconds", seconds}, {"images_per_sec", ips}};
  std::printf("epoch %lld/%lld  loss_g %.6f  loss_d %.6f  D(x) %.4f  D(G(z)) %.4f  %.1f s  %.0f img/s\n",
              (long long)epoch_, (long long)config_.get_int("epochs"), loss_g, loss_d, d_real, d_fake, seconds, ips);
  std::fflush(stdout);
  const int64_t eval_every = config_.get_int("eval_every");
  bool improved = false;
  if (eval_every > 0 && (epoch_ % eval_every == 0 || epoch_ == config_.get_int("epochs"))) {
    double before = best_fid_;
    evaluate_epoch(row);
    improved = best_fid_ >= 0 && (before < 0 || best_fid_ < before);
  }
  metrics_.append(std::move(row));
  metrics_.save();
  write_epoch_artifacts();
  save_last_checkpoint();
  if (improved) save_checkpoint(run_dir_ / "checkpoints" / "best.pt");
  const int64_t every = config_.get_int("checkpoint_every");
  if (every > 0 && epoch_ % every == 0) save_checkpoint(run_dir_ / "checkpoints" / epoch_file("epoch_", epoch_, ".pt"));
  write_weights();
}

namespace {
struct EvalState {
  std::unique_ptr<FeatureExtractor> extractor;
  Extracted real;
};
}  // namespace

void GanTrainer::evaluate_epoch(MetricRow& row) {
  auto t0 = std::chrono::steady_clock::now();
  // Nothing here may move the run's random stream (building the classifier initialises
  // layers from it): exact resume and equal runs with and without evaluation.
  struct RestoreRng {
    std::map<std::string, at::Tensor> state = capture_rng_state();
    ~RestoreRng() { restore_rng_state(state); }
  } restore_rng;
  if (!eval_state_) {
    fs::path data_dir = resolve_dataset_dir(config_.get_string("dataset"), config_.get_string("data_dir"));
    fs::path cls = config_.get_string("eval_classifier");
    if (cls.empty()) cls = default_classifier_path(data_dir);
    if (!fs::exists(cls)) {
      std::fprintf(stderr, "forgery: training the feature classifier for eval_every (once, cached in %s)\n",
                   cls.parent_path().c_str());
      ClassifierTraining o;
      o.progress = parse_progress_mode(config_.get_string("progress"));
      train_mnist_classifier(data_dir, cls, o);
    }
    auto state = std::make_shared<EvalState>();
    state->extractor = mnist_classifier_features(cls);
    ImageSet real{mnist_eval_images(data_dir, config_.get_int("image_size")), (data_dir / "t10k").string()};
    state->real = real_features_cached(*state->extractor, real, ProgressMode::Off);
    eval_state_ = state;
  }
  auto& st = *static_cast<EvalState*>(eval_state_.get());
  // Fixed evaluation noise from its own generator: comparable across epochs, and the run's
  // random stream is untouched.
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(config_.get_int("seed")) + 3);
  const int64_t n = config_.get_int("eval_n");
  EvalOptions options;
  options.metrics = parse_metric_list(config_.get_string("eval_metrics"));
  options.seed = static_cast<uint64_t>(config_.get_int("seed"));
  at::Tensor images = generate_for_eval(*nets_.generator, n, gen, device_, options, /*add_accuracy=*/true,
                                        /*fit_to_classifier=*/true);
  Extracted fake = st.extractor->extract(ImageSet{images, "generated"}, ProgressMode::Off);
  std::string line;
  for (const auto& [k, v] : compute_metrics(st.real, fake, options)) {
    if (k.rfind("class_", 0) == 0) continue;
    row.emplace_back(k, v);
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %s %.4g", k.c_str(), v);
    line += buf;
    if (k == "fid" && (best_fid_ < 0 || v < best_fid_)) {
      best_fid_ = v;
      best_epoch_ = epoch_;
    }
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.emplace_back("eval_seconds", secs);
  std::printf("  eval (%lld images):%s  (%.1f s)\n", (long long)n, line.c_str(), secs);
  std::fflush(stdout);
}

void GanTrainer::write_epoch_artifacts() {
  Generator& G = *nets_.generator;
  at::Tensor images;
  {
    torch::NoGradGuard no_grad;
    G.eval();
    images = G.forward(fixed_noise_, fixed_labels_);
    G.train();
  }
  if (png_supported())
    write_png(run_dir_ / "samples" / epoch_file("epoch_", epoch_, ".png"),
              make_grid(to_unit_range(images), static_cast<int>(config_.get_int("grid_nrow")),
                        static_cast<int>(config_.get_int("grid_padding"))));
  if (plot_supported()) {
    PlotSpec plot;
    plot.title = "Generator and discriminator loss";
    plot.x_label = "epoch";
    plot.y_label = "mean loss";
    auto x = metrics_.column("epoch");
    plot.series = {{"Generator loss", x, metrics_.column("loss_g")},
                   {"Discriminator loss", x, metrics_.column("loss_d")}};
    write_line_plot(plot, run_dir_ / "losses.png", run_dir_ / "losses.svg");
  }
}

void GanTrainer::write_final_artifacts() {
  // Ten single images from fresh (seeded) noise, as the seed's last listing shows.
  Generator& G = *nets_.generator;
  const int64_t n = config_.get_int("final_samples");
  if (n > 0 && png_supported()) {
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(config_.get_int("seed")) + 2);
    auto images = to_unit_range(generate_images(G, n, gen, device_, cycled_labels(n, G.num_classes())));
    for (int64_t i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "final_%02lld.png", (long long)i);
      write_png(run_dir_ / "samples" / name, tensor_to_image(images[i]));
    }
  }
  // The animation of every epoch's grid, looping.
  if (gif_supported() && png_supported()) {
    std::vector<Image> frames;
    for (int64_t e = 1; e <= epoch_; ++e) {
      fs::path p = run_dir_ / "samples" / epoch_file("epoch_", e, ".png");
      if (fs::exists(p)) frames.push_back(read_png(p));
    }
    if (!frames.empty()) write_gif(run_dir_ / "progress.gif", frames, 20);
  }
  if (best_fid_ >= 0) {
    auto last = metrics_.column("fid");
    double last_fid = NAN;
    for (double v : last)
      if (std::isfinite(v)) last_fid = v;
    std::printf("FID: best %.4g at epoch %lld (checkpoints/best.pt), last %.4g\n", best_fid_, (long long)best_epoch_,
                last_fid);
  }
  std::printf("done: %s (config.toml, metrics.jsonl, samples/, losses.png, progress.gif, checkpoints/, weights/)\n",
              run_dir_.c_str());
}

void GanTrainer::write_weights() {
  save_state_dict(run_dir_ / "weights" / "generator.pt", module_state(*nets_.generator));
  save_state_dict(run_dir_ / "weights" / "discriminator.pt", module_state(*nets_.discriminator));
}

void GanTrainer::save_last_checkpoint() { save_checkpoint(run_dir_ / "checkpoints" / "last.pt"); }

void GanTrainer::save_checkpoint(const fs::path& path) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", std::string(kCheckpointFormat));
  d.insert("version", kCheckpointVersion);
  d.insert("recipe", std::string("gan"));
  d.insert("model", config_.get_string("model"));
  d.insert("config", config_.to_toml());
  d.insert("epoch", epoch_);
  d.insert("global_step", global_step_);
  d.insert("batch_in_epoch", in_epoch_ ? batch_ : int64_t{0});
  d.insert("generator", to_dict(module_state(*nets_.generator)));
  d.insert("discriminator", to_dict(module_state(*nets_.discriminator)));
  d.insert("optimizer_g", to_dict(adam_state(*opt_g_, *nets_.generator)));
  d.insert("optimizer_d", to_dict(adam_state(*opt_d_, *nets_.discriminator)));
  d.insert("fixed_noise", fixed_noise_.cpu());
  d.insert("best_fid", best_fid_);
  if (data_ && !data_->classes.empty() && nets_.generator->num_classes() > 0) {
    std::string names;  // so that `forgery sample --label NAME` works
    for (const auto& c : data_->classes) names += (names.empty() ? "" : "\n") + c;
    d.insert("class_names", names);
  }
  d.insert("best_epoch", best_epoch_);
  NamedTensors rng;
  for (const auto& [k, t] : capture_rng_state()) rng.emplace_back(k, t);
  d.insert("rng", to_dict(rng));
  if (in_epoch_ && batch_ > 0) {
    d.insert("permutation", permutation_.cpu());
    d.insert("sum_loss_g", sum_loss_g_.cpu());
    d.insert("sum_loss_d", sum_loss_d_.cpu());
    d.insert("sum_d_real", sum_d_real_.cpu());
    d.insert("sum_d_fake", sum_d_fake_.cpu());
    d.insert("d_steps", d_steps_);
    d.insert("g_steps", g_steps_);
    d.insert("images", images_);
    d.insert("seconds", seconds_before_);
  }
  save_torch_file(path, d);
}

}  // namespace forgery
