#pragma once
// Assembling a run's config: options every run has, the recipe's and the model's, the
// preset or config file, then --set overrides.
#include <string>
#include <utility>
#include <vector>

#include "forgery/core/config.h"

namespace forgery {

// The largest seed: LibTorch's CPU generator, as PyTorch's, keeps the low 32 bits of a seed, so a
// larger (or negative) one would repeat a smaller one's numbers.
constexpr int64_t kLargestSeed = 4294967295LL;

std::vector<OptionSpec> common_option_specs();
std::vector<OptionSpec> recipe_option_specs(const std::string& recipe);

// `preset_or_file`: a built-in preset name or a path to a TOML file. `sets`: key=value.
Config build_config(const std::string& preset_or_file, const std::vector<std::string>& sets);
// From TOML text (a config.toml or a checkpoint's copy), with optional overrides. `new_run`: with
// lr_policy linear, epochs follows n_epochs + n_epochs_decay (the reference trains its whole
// schedule) where the text gives no epochs or gives the schedule's own length (the presets) and no
// override gives it; and the seed must fit the random generator's 32 bits.
Config config_from_toml(const std::string& text, const std::string& source,
                        const std::vector<std::pair<std::string, std::string>>& overrides = {},
                        bool new_run = false);
// Checks values beyond their types (ranges, names); errors name the option.
void validate_config(const Config& config);
std::pair<std::string, std::string> split_assignment(const std::string& text);

}  // namespace forgery
