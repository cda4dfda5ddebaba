#include "forgery/train/sampling.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <functional>
#include <vector>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/nn/modules/batchnorm.h>

#include "forgery/core/config.h"
#include "forgery/core/error.h"
#include "forgery/core/progress.h"
#include "forgery/data/image_data.h"
#include "forgery/data/tensor_dataset.h"

namespace forgery {

at::Tensor cycled_labels(int64_t n, int64_t classes) {
  if (classes <= 0) return {};
  return at::arange(n, at::kLong).remainder(classes);
}

at::Tensor row_labels(int64_t n, int64_t nrow, int64_t classes) {
  if (classes <= 0) return {};
  return at::arange(n, at::kLong).div(nrow, "floor").remainder(classes);
}

at::Tensor generate_images(Generator& G, int64_t n, at::Generator noise, const c10::Device& device,
                           const at::Tensor& labels) {
  if (G.num_classes() > 0) {
    if (!labels.defined() || labels.size(0) != n) throw Error("a conditional generator needs one label per image");
    if (labels.min().item<int64_t>() < 0 || labels.max().item<int64_t>() >= G.num_classes())
      throw UsageError("labels must be between 0 and " + std::to_string(G.num_classes() - 1));
  }
  torch::NoGradGuard no_grad;
  const bool was_training = G.is_training();
  G.eval();
  std::vector<at::Tensor> parts;
  for (int64_t s = 0; s < n; s += 1000) {
    const int64_t len = std::min<int64_t>(1000, n - s);
    auto z = at::randn({len, G.latent_dim()}, noise).to(device);
    at::Tensor l = G.num_classes() > 0 ? labels.narrow(0, s, len).to(device) : at::Tensor();
    parts.push_back(G.forward(z, l).cpu());
  }
  G.train(was_training);
  return at::cat(parts);
}

namespace {
// BatchNorm layers switched to a cumulative mean of fresh statistics, their momenta given back
// when the scope ends (an exception included).
class CumulativeNorms {
 public:
  explicit CumulativeNorms(torch::nn::Module& net) {
    for (const auto& m : net.modules(/*include_self=*/false))
      if (!add<torch::nn::BatchNorm1dImpl>(*m)) add<torch::nn::BatchNorm2dImpl>(*m);
  }
  ~CumulativeNorms() {
    for (auto& f : restore_) f();
  }
  CumulativeNorms(const CumulativeNorms&) = delete;
  CumulativeNorms& operator=(const CumulativeNorms&) = delete;
  bool empty() const { return restore_.empty(); }

 private:
  template <typename Impl>
  bool add(torch::nn::Module& m) {
    auto* bn = m.as<Impl>();
    if (!bn) return false;
    if (!bn->options.track_running_stats()) return true;
    restore_.push_back([bn, momentum = bn->options.momentum()] { bn->options.momentum(momentum); });
    bn->reset_running_stats();
    bn->options.momentum(c10::nullopt);
    return true;
  }
  std::vector<std::function<void()>> restore_;
};
}  // namespace

bool recompute_batchnorm_statistics(Generator& G, int64_t batches, int64_t batch, at::Generator noise,
                                    const c10::Device& device) {
  torch::NoGradGuard no_grad;
  CumulativeNorms norms(G);
  if (norms.empty()) return false;
  G.train();
  for (int64_t b = 0; b < batches; ++b) {
    auto z = at::randn({batch, G.latent_dim()}, noise).to(device);
    at::Tensor labels;
    if (G.num_classes() > 0) labels = (at::arange(batch, at::kLong) + b * batch).remainder(G.num_classes()).to(device);
    G.forward(z, labels);
  }
  return true;
}

at::Tensor fit_images(const at::Tensor& images, int64_t channels, int64_t size) {
  at::Tensor x = images.to(at::kFloat);
  if (x.size(1) != channels) {
    if (channels == 1) x = x.mean(1, /*keepdim=*/true);
    else if (x.size(1) == 1) x = x.expand({x.size(0), channels, x.size(2), x.size(3)});
    else throw Error("cannot convert " + std::to_string(x.size(1)) + "-channel images to " + std::to_string(channels));
  }
  if (x.size(2) != size || x.size(3) != size)
    x = at::_upsample_bilinear2d_aa(x, {size, size}, /*align_corners=*/false, c10::nullopt, c10::nullopt).clamp_(-1, 1);
  return x.contiguous();
}

at::Tensor generate_for_eval(Generator& G, int64_t n, at::Generator noise, const c10::Device& device,
                             EvalOptions& options, bool add_accuracy, bool fit_to_classifier) {
  at::Tensor requested = cycled_labels(n, G.num_classes());
  if (requested.defined()) {
    options.requested_labels = requested;
    if (add_accuracy && std::find(options.metrics.begin(), options.metrics.end(), "accuracy") == options.metrics.end())
      options.metrics.push_back("accuracy");
  }
  at::Tensor images = generate_images(G, n, std::move(noise), device, requested);
  // Images of another size (DCGAN's 64x64 or 32x32) are resized to the classifier's 28x28.
  return fit_to_classifier ? fit_images(images, 1, 28) : images;
}

at::Tensor mnist_eval_images(const std::filesystem::path& dir, int64_t model_size) {
  if (model_size == 28) return load_mnist_family(dir, /*train=*/false, c10::Device(c10::kCPU)).images;
  ImageDataOptions o;
  o.size = model_size;
  o.channels = 1;
  o.threads = std::max(1, at::get_num_threads());
  o.progress = ProgressMode::Off;
  ImageData d = load_mnist_images(dir, /*train=*/false, o, c10::Device(c10::kCPU));
  return fit_images(normalize_bytes(d.pixels), 1, 28);
}

ImageDataOptions gan_image_options(const Config& config) {
  ImageDataOptions o;
  o.size = config.get_int("image_size");
  o.channels = config.get_int("channels");
  o.need_classes = config.has("num_classes") && config.get_int("num_classes") > 0;
  o.skip_bad = config.get_bool("skip_bad_images");
  o.threads = std::max(1, at::get_num_threads());
  o.progress = parse_progress_mode(config.get_string("progress"));
  return o;
}

at::Tensor folder_eval_images(const Config& config, const std::filesystem::path& dir, int64_t n, uint64_t seed) {
  return choose_eval_images(load_image_folder(dir, gan_image_options(config), c10::Device(c10::kCPU)).pixels, n, seed);
}

at::Tensor choose_eval_images(const at::Tensor& pixels, int64_t n, uint64_t seed) {
  auto pick = at::make_generator<at::CPUGeneratorImpl>(seed);
  const int64_t size = pixels.size(0);
  const at::Tensor chosen =
      at::randperm(size, pick, at::TensorOptions().dtype(at::kLong)).narrow(0, 0, std::min(n, size));
  return normalize_bytes(pixels.index_select(0, chosen.to(pixels.device())).cpu());
}

}  // namespace forgery
