#include "forgery/models/patchgan.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>

#include <algorithm>

#include "forgery/core/error.h"

namespace forgery {

namespace {
torch::nn::LeakyReLU leaky() {
  return torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2).inplace(true));
}
}  // namespace

NLayerDiscriminatorImpl::NLayerDiscriminatorImpl(const NLayerDiscriminatorOptions& o) {
  using namespace torch::nn;
  const bool bias = conv_bias_for(o.norm());
  const int64_t ndf = o.ndf();
  Sequential model;
  model->push_back(Conv2d(Conv2dOptions(o.input_nc(), ndf, 4).stride(2).padding(1)));
  model->push_back(leaky());
  int64_t mult = 1, prev = 1;
  for (int64_t n = 1; n < o.n_layers(); ++n) {
    prev = mult;
    mult = std::min<int64_t>(int64_t{1} << n, 8);
    model->push_back(Conv2d(Conv2dOptions(ndf * prev, ndf * mult, 4).stride(2).padding(1).bias(bias)));
    model->push_back(make_norm(o.norm(), ndf * mult));
    model->push_back(leaky());
  }
  prev = mult;
  mult = std::min<int64_t>(int64_t{1} << o.n_layers(), 8);
  model->push_back(Conv2d(Conv2dOptions(ndf * prev, ndf * mult, 4).stride(1).padding(1).bias(bias)));
  model->push_back(make_norm(o.norm(), ndf * mult));
  model->push_back(leaky());
  model->push_back(Conv2d(Conv2dOptions(ndf * mult, 1, 4).stride(1).padding(1)));
  model_ = register_module("model", model);
}

int64_t nlayer_output_size(int64_t s, int64_t n_layers) {
  for (int64_t i = 0; i < n_layers; ++i) s = s < 2 ? 0 : (s + 2 - 4) / 2 + 1;  // 4x4, stride 2, padding 1
  return s - 2;                                                             // two 4x4, stride 1, padding 1
}

PixelDiscriminatorImpl::PixelDiscriminatorImpl(const PixelDiscriminatorOptions& o) {
  using namespace torch::nn;
  const bool bias = conv_bias_for(o.norm());
  Sequential net;
  net->push_back(Conv2d(Conv2dOptions(o.input_nc(), o.ndf(), 1).stride(1).padding(0)));
  net->push_back(leaky());
  net->push_back(Conv2d(Conv2dOptions(o.ndf(), o.ndf() * 2, 1).stride(1).padding(0).bias(bias)));
  net->push_back(make_norm(o.norm(), o.ndf() * 2));
  net->push_back(leaky());
  net->push_back(Conv2d(Conv2dOptions(o.ndf() * 2, 1, 1).stride(1).padding(0).bias(bias)));
  net_ = register_module("net", net);
}

namespace {
std::shared_ptr<ImageNet> make_nlayer(const Config& c, int64_t in, int64_t n_layers) {
  return NLayerDiscriminator(NLayerDiscriminatorOptions(in)
                                 .ndf(c.get_int("ndf"))
                                 .n_layers(n_layers)
                                 .norm(parse_norm(c.get_string("norm"))))
      .ptr();
}
void check_nlayer(int64_t n_layers, const char* name, int64_t size) {
  if (nlayer_output_size(size, n_layers) < 1)
    throw UsageError("option crop_size " + std::to_string(size) + ": too small for netD " + name + " with " +
                     std::to_string(n_layers) + " strided layers (its output would be empty)");
}

ImageNetRegistrar basic_d({"basic", "70x70 PatchGAN (3 strided layers)",
                           [](const Config& c, int64_t in, int64_t) { return make_nlayer(c, in, 3); },
                           [](const Config&, int64_t size) { check_nlayer(3, "basic", size); }},
                          /*generator=*/false);
ImageNetRegistrar n_layers_d({"n_layers", "PatchGAN with n_layers_D strided layers",
                              [](const Config& c, int64_t in, int64_t) { return make_nlayer(c, in, c.get_int("n_layers_D")); },
                              [](const Config& c, int64_t size) { check_nlayer(c.get_int("n_layers_D"), "n_layers", size); }},
                             /*generator=*/false);
ImageNetRegistrar pixel_d({"pixel", "1x1 PatchGAN (every pixel judged alone)",
                           [](const Config& c, int64_t in, int64_t) -> std::shared_ptr<ImageNet> {
                             return PixelDiscriminator(PixelDiscriminatorOptions(in)
                                                           .ndf(c.get_int("ndf"))
                                                           .norm(parse_norm(c.get_string("norm"))))
                                 .ptr();
                           },
                           nullptr},
                          /*generator=*/false);
}  // namespace

}  // namespace forgery
