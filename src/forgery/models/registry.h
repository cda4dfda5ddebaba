#pragma once
// Models by name. A model file registers itself with a static ModelRegistrar, so adding a
// model is adding one file (and a preset), not editing a switch.
#include <functional>
#include <string>
#include <vector>

#include "forgery/core/config.h"
#include "forgery/models/gan_networks.h"

namespace forgery {

struct ModelInfo {
  std::string name;
  std::string recipe;  // training recipe family: "gan", later "pix2pix", "cyclegan"
  std::string description;
  std::vector<OptionSpec> options;  // the model's own options, with defaults
  std::function<GanNetworks(const Config&)> make_gan;
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
