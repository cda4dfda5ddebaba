#pragma once
// Models by name. A model file registers itself with a static ModelRegistrar, so adding a
// model is adding one file (and a preset), not editing a switch.
#include <functional>
#include <string>
#include <vector>

#include "forgery/core/config.h"
#include "forgery/models/gan_networks.h"

namespace forgery {

// The `model` option names what a run trains: a GAN-family pair of networks (mlp-gan, dcgan,
// ...) built by make_gan, or an image-to-image model (pix2pix, cyclegan) whose recipe builds
// the networks its options name (netG, netD). Its recipe is the training algorithm.
struct ModelInfo {
  std::string name;
  std::string recipe;  // training recipe: "gan", "pix2pix", "cyclegan"
  std::string description;
  std::vector<OptionSpec> options;  // the model's own options, with defaults
  std::function<GanNetworks(const Config&)> make_gan;  // GAN family only
};

void register_model(ModelInfo info);
// A conditional model's options: `base` plus num_classes (default 10).
std::vector<OptionSpec> with_num_classes(std::vector<OptionSpec> base);
const ModelInfo& find_model(const std::string& name);  // UsageError naming known models
std::vector<const ModelInfo*> all_models();

struct ModelRegistrar {
  explicit ModelRegistrar(ModelInfo info) { register_model(std::move(info)); }
};

}  // namespace forgery
