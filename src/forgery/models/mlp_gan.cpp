// The seed's GAN: fully connected generator and discriminator on flattened images, and its
// conditional form (mlp-cgan): the one-hot class label joined to G's noise and to D's image.
// Module names follow the seed's PyTorch classes (main.0.weight, ...) so state_dicts move
// between Forgery and Python unchanged.
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include <ATen/ATen.h>

#include "forgery/core/error.h"
#include "forgery/models/layers.h"
#include "forgery/models/registry.h"

namespace forgery {

namespace {

// [N] class ids to [N, classes] one-hot rows in x's dtype, joined after x's features.
at::Tensor join_one_hot(const at::Tensor& x, const at::Tensor& labels, int64_t classes) {
  if (!labels.defined()) throw Error("a conditional model needs class labels");
  return at::cat({x, at::one_hot(labels, classes).to(x.scalar_type())}, 1);
}

class MlpGenerator : public Generator {
 public:
  MlpGenerator(int64_t nz, int64_t channels, int64_t size, int64_t w, double slope, int64_t classes)
      : nz_(nz), c_(channels), s_(size), classes_(classes) {
    const int64_t out = channels * size * size;
    using namespace torch::nn;
    auto act = [&]() { return LeakyReLU(LeakyReLUOptions().negative_slope(slope)); };
    // Layers are created one by one, in order: constructor arguments are evaluated in an
    // unspecified order, and the order of initialisation decides the seeded weights.
    Sequential main;
    main->push_back(Linear(nz + classes, w));
    main->push_back(act());
    main->push_back(Linear(w, 2 * w));
    main->push_back(act());
    main->push_back(Linear(2 * w, 4 * w));
    main->push_back(act());
    main->push_back(Linear(4 * w, out));
    main->push_back(Tanh());
    main_ = register_module("main", main);
  }
  at::Tensor forward(const at::Tensor& z, const at::Tensor& labels) override {
    // .to(kFloat): fp32 images also when the layers ran in bf16 (a no-op otherwise).
    return main_->forward(classes_ > 0 ? join_one_hot(z, labels, classes_) : z).to(at::kFloat).view({-1, c_, s_, s_});
  }
  int64_t latent_dim() const override { return nz_; }
  int64_t num_classes() const override { return classes_; }

 private:
  int64_t nz_, c_, s_, classes_;
  torch::nn::Sequential main_{nullptr};
};

class MlpDiscriminator : public Discriminator {
 public:
  MlpDiscriminator(int64_t channels, int64_t size, int64_t w, double slope, double dropout, std::string kernel,
                   int64_t classes)
      : slope_(slope), kernel_(std::move(kernel)), classes_(classes) {
    in_ = channels * size * size;
    using namespace torch::nn;
    auto act = [&]() { return LeakyReLU(LeakyReLUOptions().negative_slope(slope)); };
    Sequential main;  // in order, as in the generator
    const int64_t widths[] = {in_ + classes, 4 * w, 2 * w, w};
    for (int i = 0; i < 3; ++i) {
      main->push_back(Linear(widths[i], widths[i + 1]));
      main->push_back(act());
      main->push_back(FastDropout(dropout));
    }
    main->push_back(Linear(w, 1));
    main->push_back(Sigmoid());
    main_ = register_module("main", main);
  }
  // main's modules in the seed's order (Linear, LeakyReLU, Dropout, ...), each activation
  // and dropout pair run as one fused operation.
  at::Tensor forward(const at::Tensor& x, const at::Tensor& labels) override {
    at::Tensor h = x.reshape({-1, in_});
    if (classes_ > 0) h = join_one_hot(h, labels, classes_);
    for (int i = 0; i < 3; ++i) {
      h = main_[3 * i]->as<torch::nn::Linear>()->forward(h);
      const auto* drop = main_[3 * i + 2]->as<FastDropout>();
      if (kernel_ == "torch") h = at::dropout(at::leaky_relu(h, slope_), drop->p(), drop->is_training());
      else if (kernel_ == "hash") h = main_[3 * i + 2]->as<FastDropout>()->forward(at::leaky_relu(h, slope_));
      else h = leaky_relu_dropout(h, slope_, drop->p(), drop->is_training());
    }
    return torch::sigmoid(main_[9]->as<torch::nn::Linear>()->forward(h).to(at::kFloat));
  }

 private:
  int64_t in_;
  double slope_;
  std::string kernel_;
  int64_t classes_;
  torch::nn::Sequential main_{nullptr};
};

std::vector<OptionSpec> mlp_options() {
  return {
      {"nz", OptionType::Int, int64_t{128}, "latent size (noise dimension)"},
      {"image_size", OptionType::Int, int64_t{28}, "image height and width"},
      {"channels", OptionType::Int, int64_t{1}, "image channels (1 grey, 3 colour)"},
      {"width", OptionType::Int, int64_t{256},
       "base width: G has layers of width, 2x, 4x; D of 4x, 2x, width (256: the seed's)"},
      {"leaky_slope", OptionType::Float, 0.2, "LeakyReLU negative slope in both networks"},
      {"dropout", OptionType::Float, 0.3, "discriminator dropout probability"},
      {"dropout_kernel", OptionType::String, std::string("fused"),
       "fused (LeakyReLU+dropout in one pass, hashed masks), hash (the same masks, unfused) or torch "
       "(LibTorch's bernoulli_ dropout)"},
  };
}

GanNetworks make_mlp(const Config& c, int64_t classes) {
  GanNetworks nets;
  nets.generator = std::make_shared<MlpGenerator>(c.get_int("nz"), c.get_int("channels"), c.get_int("image_size"),
                                                  c.get_int("width"), c.get_float("leaky_slope"), classes);
  nets.discriminator = std::make_shared<MlpDiscriminator>(c.get_int("channels"), c.get_int("image_size"),
                                                          c.get_int("width"), c.get_float("leaky_slope"),
                                                          c.get_float("dropout"), c.get_string("dropout_kernel"),
                                                          classes);
  return nets;
}

ModelRegistrar mlp_gan({
    "mlp-gan",
    "gan",
    "the seed's GAN: 4-layer MLP generator (LeakyReLU 0.2, Tanh) and discriminator "
    "(LeakyReLU 0.2, Dropout, Sigmoid)",
    mlp_options(),
    [](const Config& c) { return make_mlp(c, 0); },
});

ModelRegistrar mlp_cgan({
    "mlp-cgan",
    "gan",
    "conditional MLP GAN: the seed's networks with the one-hot class label joined to G's noise "
    "and to D's flattened image",
    with_num_classes(mlp_options()),
    [](const Config& c) { return make_mlp(c, c.get_int("num_classes")); },
});

}  // namespace
}  // namespace forgery
