#include "forgery/train/options.h"

#include "forgery/core/error.h"
#include "forgery/core/precision.h"
#include "forgery/core/fs.h"
#include "forgery/core/presets.h"
#include "forgery/core/progress.h"
#include "forgery/models/registry.h"
#include "forgery/train/recipe.h"
#include "forgery/train/schedule.h"

namespace forgery {

std::vector<OptionSpec> common_option_specs() {
  return {
      {"model", OptionType::String, std::string("mlp-gan"), "what is trained: a GAN-family model or pix2pix (forgery list shows them)"},
      {"data_dir", OptionType::String, std::string(""),
       "folder with the dataset's files; empty: the cache folder, downloaded when missing (mnist, fashion-mnist)"},
      {"epochs", OptionType::Int, int64_t{200}, "total number of epochs"},
      {"batch_size", OptionType::Int, int64_t{512},
       "examples per batch; with several processes (--nproc, torchrun) the global batch, split into equal shares"},
      {"drop_last", OptionType::Bool, false, "drop the last partial batch of each epoch"},
      {"seed", OptionType::Int, int64_t{0}, "random seed (same seed, machine and threads: same run)"},
      {"device", OptionType::String, std::string("auto"), "auto (CUDA when present), cpu, cuda or cuda:N"},
      {"threads", OptionType::Int, int64_t{0}, "CPU threads; 0: one per physical core"},
      {"progress", OptionType::String, std::string("auto"), "auto, bar, lines or off"},
      {"precision", OptionType::String, std::string("fp32"),
       "fp32; tf32: on CUDA, fp32 tensors with matrix products and convolutions on TF32 tensor cores (as fp32 on "
       "CPUs); or bf16: matrix products and convolutions in bfloat16 (autocast; CPUs with AVX512-BF16 or AMX, GPUs), "
       "weights, optimiser state and losses in fp32"},
      {"deterministic", OptionType::Bool, false,
       "CUDA: deterministic algorithms only (cuDNN, cuBLAS), so that a run repeats and resumes bit for bit; slower. "
       "CPU runs are deterministic for a thread count anyway"},
      {"dist_timeout", OptionType::Float, 300.0,
       "data-parallel: seconds a rank waits for the others (rendezvous, each collective) before it stops, naming the "
       "rank that stopped responding"},
      {"async_writes", OptionType::Bool, true,
       "write each epoch's files (picture, plots, checkpoint, weights, report) on a background thread while the next "
       "epoch trains, from a copy of the state (one epoch in flight: memory for one more copy of the checkpoint); "
       "false: write them before training goes on"},
      {"memory_format", OptionType::String, std::string("auto"),
       "layout of the convolution weights (and so of the activations): auto (channels_last on CUDA, where cuDNN's "
       "tensor-core convolutions want it, except for CycleGAN, whose InstanceNorm layers run slower so; contiguous "
       "on CPUs), channels_last, or contiguous"},
      {"cuda_graphs", OptionType::String, std::string("auto"),
       "CUDA: capture a training step once as a CUDA graph and replay it for every batch of the same shapes "
       "(no launch cost per kernel; same numbers as without): auto (on where this build has them, for one process "
       "and every recipe; CycleGAN's once its image pools are full), on (an error where that is not possible), off"},
      {"dist_backend", OptionType::String, std::string("auto"),
       "data-parallel on CUDA: what carries the gradients: auto (NCCL where this build has it, else Gloo), nccl, or "
       "gloo (through host memory); CPU runs always use Gloo"},
      {"checkpoint_every", OptionType::Int, int64_t{0},
       "also keep checkpoints/epoch_NNNN.pt every N epochs (0: only last.pt)"},
      {"eval_every", OptionType::Int, int64_t{0},
       "every N epochs (and after the last) log the recipe's evaluation metrics and keep checkpoints/best.pt; 0: off"},
      {"lr_policy", OptionType::String, std::string("constant"),
       "learning-rate schedule: constant, or linear (n_epochs at the full rate, then n_epochs_decay of linear decay)"},
      {"n_epochs", OptionType::Int, int64_t{100}, "lr_policy linear: epochs at the initial learning rate"},
      {"n_epochs_decay", OptionType::Int, int64_t{100}, "lr_policy linear: epochs of linear decay towards zero"},
      {"ema_kimg", OptionType::Float, 0.0,
       "keep a moving average of the generators' weights, updated after every step, whose half-life is this many "
       "thousand images (StyleGAN's ema_kimg; 10 is common); the pictures, evaluation, sample, translate and eval "
       "use it (--no-ema: the trained weights), weights/NAME_ema.pt holds it; it changes no training; 0: off"},
      {"ema_rampup", OptionType::Float, 0.0,
       "with ema_kimg: the half-life is at most this fraction of the images seen so far (StyleGAN's 0.05), so that "
       "the average forgets the first steps' weights sooner; 0: the full half-life from the start"},
      {"ema_batchnorm", OptionType::String, std::string("recompute"),
       "with ema_kimg, for generators with BatchNorm (DCGAN): recompute, the average's running statistics "
       "recomputed for its weights from 16 batches of noise whenever it is used or saved; trained, the trained "
       "network's statistics (as StyleGAN copies buffers)"},
  };
}

std::vector<OptionSpec> recipe_option_specs(const std::string& recipe) { return find_recipe(recipe).options; }

std::pair<std::string, std::string> split_assignment(const std::string& text) {
  auto eq = text.find('=');
  if (eq == std::string::npos || eq == 0)
    throw UsageError("--set " + text + ": expected key=value");
  return {text.substr(0, eq), text.substr(eq + 1)};
}

Config config_from_toml(const std::string& text, const std::string& source,
                        const std::vector<std::pair<std::string, std::string>>& overrides, bool new_run) {
  // The model decides which options exist; an override of `model` counts.
  const std::string own_model = Config::peek_string(text, "model", source).value_or("mlp-gan");
  std::string model = own_model;
  for (const auto& [k, v] : overrides)
    if (k == "model") model = v;
  const ModelInfo& info = find_model(model);
  Config config(common_option_specs());
  config.add_specs(recipe_option_specs(info.recipe));
  config.add_specs(info.options);
  try {
    config.merge_toml(text, source);
  } catch (const UsageError& e) {
    if (model == own_model) throw;
    throw UsageError(std::string(e.what()) + " for model " + model + ": --set model=" + model + " keeps " + source +
                     "'s options, which are those of " + own_model + "; start from a preset or config file of " + model +
                     " instead (forgery list)");
  }
  auto schedule_length = [&config] { return config.get_int("n_epochs") + config.get_int("n_epochs_decay"); };
  const bool follow = new_run && (!Config::peek_has(text, "epochs", source) || config.get_int("epochs") == schedule_length());
  bool epochs_given = false;
  for (const auto& [k, v] : overrides) {
    config.set_from_string(k, v);
    epochs_given = epochs_given || k == "epochs";
  }
  if (follow && !epochs_given && config.get_string("lr_policy") == "linear" && schedule_length() > 0)
    config.set("epochs", schedule_length());
  // kLargestSeed. (New runs only: a run started before this check resumes as it was.)
  if (new_run && (config.get_int("seed") < 0 || config.get_int("seed") > kLargestSeed))
    throw UsageError("option seed must be between 0 and " + std::to_string(kLargestSeed) + ", got " +
                     std::to_string(config.get_int("seed")) +
                     " (LibTorch's random generator, as PyTorch's, keeps the low 32 bits of a seed, so a larger one "
                     "would repeat a smaller one's run)");
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
  return config_from_toml(text, source, overrides, /*new_run=*/true);
}

void validate_config(const Config& c) {
  auto positive = [&](const char* key) {
    if (c.has(key) && c.get_int(key) <= 0)
      throw UsageError(std::string("option ") + key + " must be positive, got " + std::to_string(c.get_int(key)));
  };
  for (const char* key : {"epochs", "batch_size", "nz", "image_size", "channels", "width", "ngf", "ndf"}) positive(key);
  if (c.get_int("checkpoint_every") < 0) throw UsageError("option checkpoint_every must be 0 or positive");
  if (c.get_int("eval_every") < 0) throw UsageError("option eval_every must be 0 or positive");
  if (c.get_int("threads") < 0) throw UsageError("option threads must be 0 (automatic) or positive");
  parse_precision(c.get_string("precision"));
  if (const std::string f = c.get_string("memory_format"); f != "auto" && f != "channels_last" && f != "contiguous")
    throw UsageError("option memory_format '" + f + "': expected auto, channels_last or contiguous");
  if (const std::string g = c.get_string("cuda_graphs"); g != "auto" && g != "on" && g != "off")
    throw UsageError("option cuda_graphs '" + g + "': expected auto, on or off");
  if (const std::string b = c.get_string("dist_backend"); b != "auto" && b != "gloo" && b != "nccl")
    throw UsageError("option dist_backend '" + b + "': expected auto, gloo or nccl");
  if (!(c.get_float("dist_timeout") >= 1 && c.get_float("dist_timeout") <= 86400))
    throw UsageError("option dist_timeout must be between 1 and 86400 seconds");
  check_lr_policy(c.get_string("lr_policy"));
  if (c.get_int("n_epochs") < 0 || c.get_int("n_epochs_decay") < 0)
    throw UsageError("options n_epochs and n_epochs_decay must not be negative");
  if (c.get_string("lr_policy") == "linear" && c.get_int("epochs") > c.get_int("n_epochs") + c.get_int("n_epochs_decay"))
    throw UsageError("option epochs " + std::to_string(c.get_int("epochs")) + " is more than n_epochs + n_epochs_decay = " +
                     std::to_string(c.get_int("n_epochs") + c.get_int("n_epochs_decay")) +
                     " (lr_policy linear would reach a learning rate of zero): raise n_epochs or n_epochs_decay "
                     "(--set n_epochs=N, also when resuming)");
  if (!(c.get_float("ema_kimg") >= 0 && c.get_float("ema_kimg") <= 1e9))
    throw UsageError("option ema_kimg must be 0 (off) or a positive number of thousand images");
  if (!(c.get_float("ema_rampup") >= 0 && c.get_float("ema_rampup") <= 1e9))
    throw UsageError("option ema_rampup must be 0 (off) or a positive fraction");
  if (c.get_string("ema_batchnorm") != "recompute" && c.get_string("ema_batchnorm") != "trained")
    throw UsageError("option ema_batchnorm must be recompute or trained, not '" + c.get_string("ema_batchnorm") + "'");
  if (c.get_float("ema_rampup") > 0 && c.get_float("ema_kimg") == 0)
    throw UsageError("option ema_rampup needs ema_kimg (the half-life it ramps up to); set ema_kimg, e.g. 10");
  if (c.has("dropout") && !(c.get_float("dropout") >= 0 && c.get_float("dropout") < 1))
    throw UsageError("option dropout must be in [0, 1)");
  if (c.has("dropout_kernel") && c.get_string("dropout_kernel") != "fused" && c.get_string("dropout_kernel") != "torch" &&
      c.get_string("dropout_kernel") != "hash")
    throw UsageError("option dropout_kernel '" + c.get_string("dropout_kernel") + "': fused, hash or torch");
  if (c.has("num_classes") && c.get_int("num_classes") < 2) throw UsageError("option num_classes must be 2 or more");
  parse_progress_mode(c.get_string("progress"));
  if (c.has("channels") && c.get_int("channels") != 1 && c.get_int("channels") != 3)
    throw UsageError("option channels must be 1 or 3");
  const RecipeInfo& recipe = find_recipe(find_model(c.get_string("model")).recipe);
  if (recipe.validate) recipe.validate(c);
}

}  // namespace forgery
