#include "forgery/core/presets.h"

namespace forgery {

const Preset* find_preset(const std::string& name) {
  for (const auto& p : builtin_presets())
    if (name == p.name) return &p;
  return nullptr;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> names;
  for (const auto& p : builtin_presets()) names.emplace_back(p.name);
  return names;
}

}  // namespace forgery
