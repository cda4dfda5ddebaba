#include "forgery/train/options.h"

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/presets.h"
#include "forgery/core/progress.h"
#include "forgery/models/registry.h"

namespace forgery {

std::vector<OptionSpec> common_option_specs() {
  return {
      {"model", OptionType::String, std::string("mlp-gan"), "network architecture (forgery models lists them)"},
      {"dataset", OptionType::String, std::string("mnist"),
       "training data: mnist, fashion-mnist, or folder (every JPEG/PNG below data_dir)"},
      {"data_dir", OptionType::String, std::string(""),
       "folder with the dataset's files; empty: the cache folder, downloaded when missing (mnist, fashion-mnist)"},
      {"hflip", OptionType::Bool, false, "mirror each training image left-right with probability 1/2"},
      {"skip_bad_images", OptionType::Bool, false,
       "folder data: skip unreadable images (reported with a count) instead of stopping"},
      {"epochs", OptionType::Int, int64_t{200}, "total number of epochs"},
      {"batch_size", OptionType::Int, int64_t{512}, "images per batch"},
      {"drop_last", OptionType::Bool, false, "drop the last partial batch of each epoch"},
      {"seed", OptionType::Int, int64_t{0}, "random seed (same seed, machine and threads: same run)"},
      {"device", OptionType::String, std::string("auto"), "auto (CUDA when present), cpu, cuda or cuda:N"},
      {"threads", OptionType::Int, int64_t{0}, "CPU threads; 0: one per physical core"},
      {"progress", OptionType::String, std::string("auto"), "auto, bar, lines or off"},
      {"checkpoint_every", OptionType::Int, int64_t{0},
       "also keep checkpoints/epoch_NNNN.pt every N epochs (0: only last.pt)"},
  };
}

std::vector<OptionSpec> recipe_option_specs(const std::string& recipe) {
  if (recipe == "gan")
    return {
        {"k", OptionType::Int, int64_t{1}, "discriminator steps per generator step"},
        {"lr_g", OptionType::Float, 0.0002, "generator Adam learning rate"},
        {"lr_d", OptionType::Float, 0.0002, "discriminator Adam learning rate"},
        {"beta1", OptionType::Float, 0.9, "Adam beta1 (both networks)"},
        {"beta2", OptionType::Float, 0.999, "Adam beta2 (both networks)"},
        {"loss", OptionType::String, std::string("bce"), "adversarial loss: bce"},
        {"sample_size", OptionType::Int, int64_t{64}, "images in the fixed-noise grid saved every epoch"},
        {"grid_nrow", OptionType::Int, int64_t{8}, "images per row in sample grids"},
        {"grid_padding", OptionType::Int, int64_t{2}, "pixels between images in sample grids"},
        {"final_samples", OptionType::Int, int64_t{10}, "single images saved after training (samples/final_NN.png)"},
        {"eval_every", OptionType::Int, int64_t{0},
         "every N epochs (and after the last) log eval metrics and keep checkpoints/best.pt by FID; 0: off"},
        {"eval_n", OptionType::Int, int64_t{10000}, "images generated for each evaluation during training"},
        {"eval_metrics", OptionType::String, std::string("fid,kid,pr,is,classes"), "metrics logged by eval_every"},
        {"eval_classifier", OptionType::String, std::string(""),
         "feature classifier for eval_every; empty: the dataset's cached one (trained once when missing)"},
    };
  throw UsageError("unknown recipe '" + recipe + "'");
}

std::pair<std::string, std::string> split_assignment(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--set " + text + ": expected key=value");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

Config config_from_toml(const std::string& text, const std::string& source,
                        const std::vector<std::pair<std::string, std::string>>& overrides) {
  // The model decides which options exist; an override of `model` counts.
  std::string model = Config::peek_string(text, "model", source).value_or("mlp-gan");
  for (const auto& [k, v] : overrides)
    if (k == "model") model = v;
  const ModelInfo& info = find_model(model);
  Config config(common_option_specs());
  config.add_specs(recipe_option_specs(info.recipe));
  config.add_specs(info.options);
  config.merge_toml(text, source);
  for (const auto& [k, v] : overrides) config.set_from_string(k, v);
  validate_config(config);
  return config;
}

Config build_config(const std::string& preset_or_file, const std::vector<std::string>& sets) {
  std::string text, source;
  if (const Preset* p = find_preset(preset_or_file)) {
    text = p->toml;
    source = "preset " + preset_or_file;
  } else if (fs::exists(preset_or_file) || preset_or_file.find('/') != std::string::npos ||
             preset_or_file.size() > 5 && preset_or_file.substr(preset_or_file.size() - 5) == ".toml") {
    text = read_file(preset_or_file, "config file");
    source = preset_or_file;
  } else {
    std::string known;
    for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
    std::string hint = closest_names(preset_or_file, preset_names());
    throw UsageError("unknown preset '" + preset_or_file + "' and no such config file" +
                     (hint.empty() ? "" : " (did you mean: " + hint + "?)") + "; presets: " + known);
  }
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const auto& s : sets) overrides.push_back(split_assignment(s));
  return config_from_toml(text, source, overrides);
}

void validate_config(const Config& c) {
  auto positive = [&](const char* key) {
    if (c.has(key) && c.get_int(key) <= 0)
      throw UsageError(std::string("option ") + key + " must be positive, got " + std::to_string(c.get_int(key)));
  };
  for (const char* key : {"epochs", "batch_size", "k", "nz", "image_size", "channels", "width", "sample_size", "grid_nrow"})
    positive(key);
  if (c.get_int("checkpoint_every") < 0) throw UsageError("option checkpoint_every must be 0 or positive");
  if (c.has("eval_every") && c.get_int("eval_every") < 0) throw UsageError("option eval_every must be 0 or positive");
  if (c.has("eval_n") && c.get_int("eval_n") <= 0) throw UsageError("option eval_n must be positive");
  if (c.get_int("threads") < 0) throw UsageError("option threads must be 0 (automatic) or positive");
  if (c.has("grid_padding") && c.get_int("grid_padding") < 0) throw UsageError("option grid_padding must not be negative");
  if (c.has("final_samples") && c.get_int("final_samples") < 0) throw UsageError("option final_samples must not be negative");
  for (const char* key : {"lr_g", "lr_d"})
    if (c.has(key) && !(c.get_float(key) > 0)) throw UsageError(std::string("option ") + key + " must be positive");
  for (const char* key : {"beta1", "beta2"})
    if (c.has(key) && !(c.get_float(key) >= 0 && c.get_float(key) < 1))
      throw UsageError(std::string("option ") + key + " must be in [0, 1)");
  if (c.has("dropout") && !(c.get_float("dropout") >= 0 && c.get_float("dropout") < 1))
    throw UsageError("option dropout must be in [0, 1)");
  if (c.has("dropout_kernel") && c.get_string("dropout_kernel") != "fused" && c.get_string("dropout_kernel") != "torch" &&
      c.get_string("dropout_kernel") != "hash")
    throw UsageError("option dropout_kernel '" + c.get_string("dropout_kernel") + "': fused, hash or torch");
  if (c.has("loss") && c.get_string("loss") != "bce")
    throw UsageError("option loss '" + c.get_string("loss") + "': supported: bce");
  const auto& ds = c.get_string("dataset");
  if (ds != "mnist" && ds != "fashion-mnist" && ds != "folder")
    throw UsageError("option dataset '" + ds + "': supported: mnist, fashion-mnist, folder");
  if (ds == "folder" && c.get_string("data_dir").empty())
    throw UsageError("option dataset 'folder' needs data_dir (or --data DIR): the folder of images");
  if (ds == "folder" && c.has("eval_every") && c.get_int("eval_every") > 0)
    throw UsageError("option eval_every works with the MNIST family only (its classifier gives the features); "
                     "evaluate folder models with forgery eval --real DIR --fake DIR --features FILE.pt");
  if (c.has("num_classes") && c.get_int("num_classes") < 2) throw UsageError("option num_classes must be 2 or more");
  for (const char* key : {"ngf", "ndf"}) positive(key);
  parse_progress_mode(c.get_string("progress"));
  if (c.has("channels") && c.get_int("channels") != 1 && c.get_int("channels") != 3)
    throw UsageError("option channels must be 1 or 3");
}

}  // namespace forgery
