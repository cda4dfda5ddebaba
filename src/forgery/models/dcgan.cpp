// DCGAN (Radford et al.; the PyTorch DCGAN tutorial's networks) and its conditional form.
// G: z as a 1x1 map, transposed convolutions (4x4, stride 2, padding 1) up to the image size,
// BatchNorm and ReLU on every layer but the output, Tanh on the output. D: strided 4x4
// convolutions down to one value, LeakyReLU 0.2, BatchNorm on every layer but the input, a
// Sigmoid. For 64x64 the layers and their names (main.0 ... main.12) are the tutorial's, so
// state_dicts move between Forgery and Python unchanged; other sizes (a power of two, 16 or
// more) add or drop middle layers. Weights N(0, 0.02), BatchNorm weights N(1, 0.02), bias 0.
//
// cdcgan: the one-hot label joins the noise (nz + classes input maps for G) and is given to
// D as `classes` constant maps beside the image's channels.
#include <torch/nn/init.h>
#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>

#include <ATen/ATen.h>

#include "forgery/core/error.h"
#include "forgery/models/registry.h"

namespace forgery {

namespace {

using namespace torch::nn;

// Number of (transposed) convolutions for an image size: 4 -> 8 -> ... -> size, plus the 1x1 end.
int layers_for(int64_t size) {
  int n = 0;
  while ((int64_t{4} << n) < size) ++n;
  if ((int64_t{4} << n) != size || size < 16)
    throw UsageError("option image_size " + std::to_string(size) + ": DCGAN needs a power of two, 16 or more");
  return n + 1;
}

// The tutorial's weights_init, in module order (the order PyTorch's Module.apply visits leaves).
void dcgan_init(Module& m) {
  torch::NoGradGuard no_grad;
  for (auto& sub : m.modules(/*include_self=*/false)) {
    if (auto* conv = sub->as<Conv2d>()) {
      conv->weight.normal_(0.0, 0.02);
    } else if (auto* convt = sub->as<ConvTranspose2d>()) {
      convt->weight.normal_(0.0, 0.02);
    } else if (auto* bn = sub->as<BatchNorm2d>()) {
      bn->weight.normal_(1.0, 0.02);
      bn->bias.zero_();
    }
  }
}

at::Tensor check_labels(const at::Tensor& labels, int64_t classes) {
  if (!labels.defined()) throw Error("a conditional model needs class labels");
  return at::one_hot(labels, classes);
}

class DcganGenerator : public Generator {
 public:
  DcganGenerator(int64_t nz, int64_t ngf, int64_t channels, int64_t size, int64_t classes)
      : nz_(nz), classes_(classes) {
    const int n = layers_for(size);
    int64_t width = ngf << (n - 2);
    // Created in order: the order of construction decides the seeded weights.
    Sequential main;
    main->push_back(ConvTranspose2d(ConvTranspose2dOptions(nz + classes, width, 4).stride(1).padding(0).bias(false)));
    main->push_back(BatchNorm2d(width));
    main->push_back(ReLU(true));
    for (int i = 1; i < n - 1; ++i) {
      main->push_back(ConvTranspose2d(ConvTranspose2dOptions(width, width / 2, 4).stride(2).padding(1).bias(false)));
      main->push_back(BatchNorm2d(width / 2));
      main->push_back(ReLU(true));
      width /= 2;
    }
    main->push_back(ConvTranspose2d(ConvTranspose2dOptions(width, channels, 4).stride(2).padding(1).bias(false)));
    main->push_back(Tanh());
    main_ = register_module("main", main);
    dcgan_init(*this);
  }
  at::Tensor forward(const at::Tensor& z, const at::Tensor& labels) override {
    at::Tensor in = z;
    if (classes_ > 0) in = at::cat({z, check_labels(labels, classes_).to(z.scalar_type())}, 1);
    return main_->forward(in.view({in.size(0), in.size(1), 1, 1}));
  }
  int64_t latent_dim() const override { return nz_; }
  int64_t num_classes() const override { return classes_; }

 private:
  int64_t nz_, classes_;
  Sequential main_{nullptr};
};

class DcganDiscriminator : public Discriminator {
 public:
  DcganDiscriminator(int64_t ndf, int64_t channels, int64_t size, double slope, int64_t classes) : classes_(classes) {
    const int n = layers_for(size);
    auto act = [&]() { return LeakyReLU(LeakyReLUOptions().negative_slope(slope).inplace(true)); };
    Sequential main;
    main->push_back(Conv2d(Conv2dOptions(channels + classes, ndf, 4).stride(2).padding(1).bias(false)));
    main->push_back(act());
    int64_t width = ndf;
    for (int i = 1; i < n - 1; ++i) {
      main->push_back(Conv2d(Conv2dOptions(width, width * 2, 4).stride(2).padding(1).bias(false)));
      main->push_back(BatchNorm2d(width * 2));
      main->push_back(act());
      width *= 2;
    }
    main->push_back(Conv2d(Conv2dOptions(width, 1, 4).stride(1).padding(0).bias(false)));
    main->push_back(Sigmoid());
    main_ = register_module("main", main);
    dcgan_init(*this);
  }
  at::Tensor forward(const at::Tensor& x, const at::Tensor& labels) override {
    at::Tensor in = x;
    if (classes_ > 0) {
      auto maps = check_labels(labels, classes_).to(x.scalar_type()).view({x.size(0), classes_, 1, 1});
      in = at::cat({x, maps.expand({x.size(0), classes_, x.size(2), x.size(3)})}, 1);
    }
    return main_->forward(in).view({-1, 1});
  }
  bool uses_batch_statistics() const override { return is_training(); }

 private:
  int64_t classes_;
  Sequential main_{nullptr};
};

std::vector<OptionSpec> dcgan_options() {
  return {
      {"nz", OptionType::Int, int64_t{100}, "latent size (noise dimension)"},
      {"image_size", OptionType::Int, int64_t{64}, "image height and width: 64 (the paper's), 32, or another power of two"},
      {"channels", OptionType::Int, int64_t{3}, "image channels (1 grey, 3 colour)"},
      {"ngf", OptionType::Int, int64_t{64}, "generator feature width (the last hidden layer's channels)"},
      {"ndf", OptionType::Int, int64_t{64}, "discriminator feature width (the first layer's channels)"},
      {"leaky_slope", OptionType::Float, 0.2, "LeakyReLU negative slope in D"},
  };
}

GanNetworks make_dcgan(const Config& c, int64_t classes) {
  GanNetworks nets;
  // G is built and initialised before D, as the tutorial does.
  nets.generator = std::make_shared<DcganGenerator>(c.get_int("nz"), c.get_int("ngf"), c.get_int("channels"),
                                                    c.get_int("image_size"), classes);
  nets.discriminator = std::make_shared<DcganDiscriminator>(c.get_int("ndf"), c.get_int("channels"),
                                                            c.get_int("image_size"), c.get_float("leaky_slope"), classes);
  return nets;
}

ModelRegistrar dcgan({
    "dcgan",
    "gan",
    "DCGAN: transposed-convolution generator (BatchNorm, ReLU, Tanh) and strided-convolution "
    "discriminator (BatchNorm, LeakyReLU 0.2, Sigmoid), 4x4 kernels, N(0, 0.02) weights",
    dcgan_options(),
    [](const Config& c) { return make_dcgan(c, 0); },
});

ModelRegistrar cdcgan({
    "cdcgan",
    "gan",
    "conditional DCGAN: the one-hot label joined to G's noise and given to D as constant "
    "input maps beside the image",
    with_num_classes(dcgan_options()),
    [](const Config& c) { return make_dcgan(c, c.get_int("num_classes")); },
});

}  // namespace
}  // namespace forgery
