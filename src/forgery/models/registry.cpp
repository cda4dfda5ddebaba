#include "forgery/models/registry.h"

#include <map>

#include "forgery/core/error.h"

namespace forgery {

static std::map<std::string, ModelInfo>& table() {
  static std::map<std::string, ModelInfo> models;
  return models;
}

void register_model(ModelInfo info) {
  auto name = info.name;
  if (!table().emplace(name, std::move(info)).second)
    throw std::logic_error("model '" + name + "' registered twice");
}

const ModelInfo& find_model(const std::string& name) {
  auto it = table().find(name);
  if (it != table().end()) return it->second;
  std::vector<std::string> names;
  for (const auto& [n, _] : table()) names.push_back(n);
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown model '" + name + "' (known: " + known + ")");
}

std::vector<const ModelInfo*> all_models() {
  std::vector<const ModelInfo*> out;
  for (const auto& [_, info] : table()) out.push_back(&info);
  return out;
}

std::vector<OptionSpec> with_num_classes(std::vector<OptionSpec> base) {
  base.push_back({"num_classes", OptionType::Int, int64_t{10}, "number of classes (labels 0..num_classes-1)"});
  return base;
}

}  // namespace forgery
