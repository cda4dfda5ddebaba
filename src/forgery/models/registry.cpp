#include "forgery/models/registry.h"

#include "forgery/core/registry.h"

namespace forgery {

static NamedRegistry<ModelInfo>& models() {
  static NamedRegistry<ModelInfo> registry(
      [](const std::string& name, const std::string& known) { return "unknown model '" + name + "' (known: " + known + ")"; });
  return registry;
}

void register_model(ModelInfo info) { models().add(std::move(info)); }
const ModelInfo& find_model(const std::string& name) { return models().find(name); }
std::vector<const ModelInfo*> all_models() { return models().all(); }

std::vector<OptionSpec> with_num_classes(std::vector<OptionSpec> base) {
  base.push_back({"num_classes", OptionType::Int, int64_t{10}, "number of classes (labels 0..num_classes-1)"});
  return base;
}

}  // namespace forgery
