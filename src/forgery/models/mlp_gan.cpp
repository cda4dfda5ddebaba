// The seed's GAN: fully connected generator and discriminator on flattened images.
// Module names follow the seed's PyTorch classes (main.0.weight, ...) so state_dicts move
// between Forgery and Python unchanged.
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>

#include "forgery/models/layers.h"
#include "forgery/models/registry.h"

namespace forgery {

namespace {

class MlpGenerator : public Generator {
 public:
  MlpGenerator(int64_t nz, int64_t channels, int64_t size, double slope) : nz_(nz), c_(channels), s_(size) {
    const int64_t out = channels * size * size;
    using namespace torch::nn;
    auto act = [&]() { return LeakyReLU(LeakyReLUOptions().negative_slope(slope)); };
    main_ = register_module("main", Sequential(Linear(nz, 256), act(), Linear(256, 512), act(),
                                               Linear(512, 1024), act(), Linear(1024, out), Tanh()));
  }
  at::Tensor forward(const at::Tensor& z, const at::Tensor&) override {
    return main_->forward(z).view({-1, c_, s_, s_});
  }
  int64_t latent_dim() const override { return nz_; }

 private:
  int64_t nz_, c_, s_;
  torch::nn::Sequential main_{nullptr};
};

class MlpDiscriminator : public Discriminator {
 public:
  MlpDiscriminator(int64_t channels, int64_t size, double slope, double dropout) {
    in_ = channels * size * size;
    using namespace torch::nn;
    auto act = [&]() { return LeakyReLU(LeakyReLUOptions().negative_slope(slope)); };
    main_ = register_module("main", Sequential(Linear(in_, 1024), act(), FastDropout(dropout),
                                               Linear(1024, 512), act(), FastDropout(dropout),
                                               Linear(512, 256), act(), FastDropout(dropout),
                                               Linear(256, 1), Sigmoid()));
  }
  at::Tensor forward(const at::Tensor& x, const at::Tensor&) override {
    return main_->forward(x.reshape({-1, in_}));
  }

 private:
  int64_t in_;
  torch::nn::Sequential main_{nullptr};
};

ModelRegistrar mlp_gan({
    "mlp-gan",
    "gan",
    "the seed's GAN: 4-layer MLP generator (LeakyReLU 0.2, Tanh) and discriminator "
    "(LeakyReLU 0.2, Dropout, Sigmoid)",
    {
        {"nz", OptionType::Int, int64_t{128}, "latent size (noise dimension)"},
        {"image_size", OptionType::Int, int64_t{28}, "image height and width"},
        {"channels", OptionType::Int, int64_t{1}, "image channels (1 grey, 3 colour)"},
        {"leaky_slope", OptionType::Float, 0.2, "LeakyReLU negative slope in both networks"},
        {"dropout", OptionType::Float, 0.3, "discriminator dropout probability"},
    },
    [](const Config& c) {
      GanNetworks nets;
      nets.generator = std::make_shared<MlpGenerator>(c.get_int("nz"), c.get_int("channels"),
                                                      c.get_int("image_size"), c.get_float("leaky_slope"));
      nets.discriminator = std::make_shared<MlpDiscriminator>(
          c.get_int("channels"), c.get_int("image_size"), c.get_float("leaky_slope"), c.get_float("dropout"));
      return nets;
    },
});

}  // namespace
}  // namespace forgery
