#include "forgery/models/image_nets.h"

#include <torch/nn/init.h>
#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/instancenorm.h>
#include <torch/nn/modules/linear.h>


#include "forgery/core/error.h"
#include "forgery/core/registry.h"

namespace forgery {

NormKind parse_norm(const std::string& name) {
  if (name == "batch") return NormKind::Batch;
  if (name == "instance") return NormKind::Instance;
  if (name == "none") return NormKind::None;
  throw UsageError("option norm '" + name + "': supported: batch, instance, none");
}

torch::nn::AnyModule make_norm(NormKind kind, int64_t channels) {
  using namespace torch::nn;
  switch (kind) {
    case NormKind::Batch: return AnyModule(BatchNorm2d(BatchNorm2dOptions(channels).affine(true).track_running_stats(true)));
    case NormKind::Instance:
      return AnyModule(InstanceNorm2d(InstanceNorm2dOptions(channels).affine(false).track_running_stats(false)));
    case NormKind::None: break;
  }
  return AnyModule(Identity());
}

void init_weights(torch::nn::Module& net, const std::string& init_type, double gain) {
  using namespace torch::nn;
  torch::NoGradGuard no_grad;
  auto init_weight = [&](at::Tensor& w) {
    if (init_type == "normal") w.normal_(0.0, gain);
    else if (init_type == "xavier") init::xavier_normal_(w, gain);
    else if (init_type == "kaiming") init::kaiming_normal_(w, 0.0, torch::kFanIn);
    else if (init_type == "orthogonal") init::orthogonal_(w, gain);
    else throw UsageError("option init_type '" + init_type + "': supported: normal, xavier, kaiming, orthogonal");
  };
  // modules() is pre-order; Module.apply is post-order; on the leaves, where all the
  // parameters are, both visit the same modules in the same order.
  for (auto& m : net.modules(/*include_self=*/false)) {
    at::Tensor* weight = nullptr;
    at::Tensor* bias = nullptr;
    if (auto* c = m->as<Conv2d>()) weight = &c->weight, bias = &c->bias;
    else if (auto* t = m->as<ConvTranspose2d>()) weight = &t->weight, bias = &t->bias;
    else if (auto* l = m->as<Linear>()) weight = &l->weight, bias = &l->bias;
    if (weight) {
      init_weight(*weight);
      if (bias->defined()) bias->zero_();
    } else if (auto* bn = m->as<BatchNorm2d>()) {
      if (bn->weight.defined()) {
        bn->weight.normal_(1.0, gain);
        bn->bias.zero_();
      }
    }
  }
}

namespace {
NamedRegistry<ImageNetInfo>& generators() {
  static NamedRegistry<ImageNetInfo> registry([](const std::string& name, const std::string& known) {
    return "option netG '" + name + "': supported: " + known;
  });
  return registry;
}
NamedRegistry<ImageNetInfo>& discriminators() {
  static NamedRegistry<ImageNetInfo> registry([](const std::string& name, const std::string& known) {
    return "option netD '" + name + "': supported: " + known;
  });
  return registry;
}
}  // namespace

void register_image_generator(ImageNetInfo info) { generators().add(std::move(info)); }
void register_image_discriminator(ImageNetInfo info) { discriminators().add(std::move(info)); }
const ImageNetInfo& find_image_generator(const std::string& name) { return generators().find(name); }
const ImageNetInfo& find_image_discriminator(const std::string& name) { return discriminators().find(name); }
std::vector<std::string> image_generator_names() { return generators().names(); }
std::vector<std::string> image_discriminator_names() { return discriminators().names(); }

std::shared_ptr<ImageNet> make_image_generator(const Config& c, int64_t in_channels, int64_t out_channels) {
  auto net = find_image_generator(c.get_string("netG")).make(c, in_channels, out_channels);
  init_weights(*net, c.get_string("init_type"), c.get_float("init_gain"));
  return net;
}

std::shared_ptr<ImageNet> make_image_discriminator(const Config& c, int64_t in_channels) {
  auto net = find_image_discriminator(c.get_string("netD")).make(c, in_channels, 1);
  init_weights(*net, c.get_string("init_type"), c.get_float("init_gain"));
  return net;
}

std::vector<OptionSpec> image_net_options(const std::string& default_netG, const std::string& default_norm,
                                          bool default_no_dropout) {
  return {
      {"input_nc", OptionType::Int, int64_t{3}, "channels of the generator's input images (1 grey, 3 colour)"},
      {"output_nc", OptionType::Int, int64_t{3}, "channels of the generator's output images"},
      {"ngf", OptionType::Int, int64_t{64}, "generator filters in the last convolution layer"},
      {"ndf", OptionType::Int, int64_t{64}, "discriminator filters in the first convolution layer"},
      {"netG", OptionType::String, default_netG, "generator architecture (forgery list shows them)"},
      {"netD", OptionType::String, std::string("basic"),
       "discriminator: basic (70x70 PatchGAN), n_layers (n_layers_D strided layers) or pixel (1x1 PatchGAN)"},
      {"n_layers_D", OptionType::Int, int64_t{3}, "strided layers of the discriminator when netD is n_layers"},
      {"norm", OptionType::String, default_norm, "normalisation: batch, instance or none"},
      {"init_type", OptionType::String, std::string("normal"), "weight initialisation: normal, xavier, kaiming, orthogonal"},
      {"init_gain", OptionType::Float, 0.02, "scale of the normal, xavier and orthogonal initialisation"},
      {"no_dropout", OptionType::Bool, default_no_dropout, "no dropout in the generator"},
  };
}

void validate_image_nets(const Config& c, int64_t image_size) {
  for (const char* key : {"input_nc", "output_nc"})
    if (c.get_int(key) != 1 && c.get_int(key) != 3) throw UsageError(std::string("option ") + key + " must be 1 or 3");
  for (const char* key : {"ngf", "ndf", "n_layers_D"})
    if (c.get_int(key) <= 0) throw UsageError(std::string("option ") + key + " must be positive");
  parse_norm(c.get_string("norm"));
  const std::string& init = c.get_string("init_type");
  if (init != "normal" && init != "xavier" && init != "kaiming" && init != "orthogonal")
    throw UsageError("option init_type '" + init + "': supported: normal, xavier, kaiming, orthogonal");
  if (!(c.get_float("init_gain") > 0)) throw UsageError("option init_gain must be positive");
  const auto& g = find_image_generator(c.get_string("netG"));
  const auto& d = find_image_discriminator(c.get_string("netD"));
  if (g.check_size) g.check_size(c, image_size);
  if (d.check_size) d.check_size(c, image_size);
}

}  // namespace forgery
