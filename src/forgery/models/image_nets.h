#pragma once
// Networks of the image-to-image families (pix2pix, CycleGAN), named and built as the
// reference implementation (junyanz/pytorch-CycleGAN-and-pix2pix) builds them: generators
// (netG: unet_256, unet_128, ...) map an image to an image, discriminators (netD: basic,
// n_layers, pixel) map an image to a map of logits, one per patch. Both are chosen by name
// from the run's options; a new architecture is one file that registers itself.
#include <torch/nn/module.h>
#include <torch/nn/modules/container/any.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "forgery/core/config.h"

namespace forgery {

class ImageNet : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x) = 0;
};

// The reference's get_norm_layer: batch (BatchNorm2d with affine parameters and running
// statistics), instance (InstanceNorm2d with neither) or none (Identity).
enum class NormKind { Batch, Instance, None };
NormKind parse_norm(const std::string& name);  // UsageError naming the option
torch::nn::AnyModule make_norm(NormKind kind, int64_t channels);
// The reference adds a bias to convolutions followed by InstanceNorm only (BatchNorm has its own).
inline bool conv_bias_for(NormKind kind) { return kind == NormKind::Instance; }

// The reference's init_weights, visiting modules in the order of PyTorch's Module.apply:
// convolutions (also transposed) and linear layers get `init_type` (normal: N(0, gain);
// xavier, kaiming, orthogonal) and zero biases; BatchNorm weights N(1, gain), biases zero.
void init_weights(torch::nn::Module& net, const std::string& init_type, double gain);

struct ImageNetInfo {
  std::string name;
  std::string description;
  // (config, input channels, output channels); discriminators ignore the last.
  std::function<std::shared_ptr<ImageNet>(const Config&, int64_t, int64_t)> make;
  // The smallest image side it takes and the multiple sides must be of (size checks).
  std::function<void(const Config&, int64_t image_size)> check_size;
};

void register_image_generator(ImageNetInfo info);
void register_image_discriminator(ImageNetInfo info);
// By the run's netG / netD; UsageErrors list the known names.
const ImageNetInfo& find_image_generator(const std::string& name);
const ImageNetInfo& find_image_discriminator(const std::string& name);
std::vector<std::string> image_generator_names();
std::vector<std::string> image_discriminator_names();

// Built and initialised with init_type / init_gain (the reference's define_G and define_D).
std::shared_ptr<ImageNet> make_image_generator(const Config& config, int64_t in_channels, int64_t out_channels);
std::shared_ptr<ImageNet> make_image_discriminator(const Config& config, int64_t in_channels);

// The options of these networks, with the reference's names and defaults: input_nc,
// output_nc, ngf, ndf, netG, netD, n_layers_D, norm, init_type, init_gain, no_dropout.
std::vector<OptionSpec> image_net_options(const std::string& default_netG, const std::string& default_norm,
                                          bool default_no_dropout);
// Names and sizes: netG, netD, norm, init_type known; image_size fits both networks.
void validate_image_nets(const Config& config, int64_t image_size);

struct ImageNetRegistrar {
  ImageNetRegistrar(ImageNetInfo info, bool generator) {
    generator ? register_image_generator(std::move(info)) : register_image_discriminator(std::move(info));
  }
};

}  // namespace forgery
