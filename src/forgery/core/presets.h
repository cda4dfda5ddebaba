#pragma once
#include <string>
#include <vector>

namespace forgery {

// A named configuration shipped with the tool (configs/NAME.toml, embedded at build time).
struct Preset {
  const char* name;
  const char* toml;
};

const std::vector<Preset>& builtin_presets();
// nullptr when there is no preset of that name.
const Preset* find_preset(const std::string& name);
std::vector<std::string> preset_names();

}  // namespace forgery
