// forgery translate and forgery data combine: image-to-image models applied to images.
#include <ATen/ATen.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <map>
#include <optional>

#include "commands.h"
#include "generator_weights.h"
#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/runtime.h"
#include "forgery/data/image_data.h"
#include "forgery/data/paired_images.h"
#include "forgery/eval/image_quality.h"
#include "forgery/io/image.h"
#include "forgery/io/resize.h"
#include "forgery/io/html.h"
#include "forgery/io/safetensors.h"
#include "forgery/io/state_dict.h"
#include "forgery/io/torch_file.h"
#include "forgery/models/registry.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/options.h"
#include "forgery/train/recipe.h"
#include "forgery/train/trainer.h"
#include "forgery/train/translation.h"

namespace forgery::app {

namespace {

// The generator for the direction, with its weights: from a run folder, a Forgery checkpoint,
// or a state_dict saved by the reference implementation (whose architecture --preset names).
Translator load_translator(const TranslateArgs& a, std::string* direction) {
  const fs::path source = a.model;
  std::error_code ec;
  if (!fs::exists(source, ec)) throw Error("model " + source.string() + " does not exist");
  std::vector<std::pair<std::string, std::string>> overrides;
  for (const auto& s : a.sets) overrides.push_back(split_assignment(s));
  overrides.emplace_back("device", a.device);
  std::optional<Checkpoint> ck;
  c10::IValue raw;
  if (fs::is_directory(source, ec)) {
    ck = Checkpoint::read(Checkpoint::locate(source));
  } else {
    raw = load_weights_file(source);
    if (Checkpoint::is_checkpoint(raw)) {
      ck = Checkpoint::from_value(raw, source);
      raw = c10::IValue();
    }
  }
  Config config;
  if (ck) {
    if (!a.preset.empty())
      throw UsageError("translate --preset names the architecture of weights saved by the reference implementation; " +
                       source.string() + " is a Forgery checkpoint and names its own");
    config = ck->config(overrides);
  } else {
    if (a.preset.empty())
      throw UsageError("translate: " + source.string() + " is not a Forgery run or checkpoint; for a generator saved by "
                       "the reference implementation name its architecture with --preset (for example --preset "
                       "pix2pix-facades) and --set for options that differ (--set netG=unet_128)");
    std::vector<std::string> sets = a.sets;
    sets.push_back("device=" + a.device);
    config = build_config(a.preset, sets);
  }
  const ModelInfo& model = find_model(config.get_string("model"));
  const RecipeInfo& recipe = find_recipe(model.recipe);
  if (!recipe.translator)
    throw UsageError("translate: model " + model.name + " generates images from noise; use forgery sample");
  *direction = !a.direction.empty() ? a.direction : config.has("direction") ? config.get_string("direction") : "AtoB";
  if (*direction != "AtoB" && *direction != "BtoA")
    throw UsageError("translate --direction '" + *direction + "': AtoB or BtoA (A and B as the data folders name them)");
  Translator t = recipe.translator(config, *direction);
  if (ck) {
    load_module_state(*t.net, generator_weights(*ck, t.network, a.no_ema, "translate"),
                      "checkpoint " + ck->path().string() + " (network " + t.network + ")");
  } else {
    // CycleGAN's two generators have the same keys and shapes: a file named for the other one
    // loads without complaint and translates the wrong way.
    for (const char* other : {"G_A", "G_B"})
      if (t.network != other && (t.network == "G_A" || t.network == "G_B") && file_names_network(source, other))
        std::fprintf(stderr, "forgery: warning: %s is named for %s, but --direction %s translates with %s (%s); "
                     "give the %s file, or --direction %s\n", source.c_str(), other, direction->c_str(),
                     t.network.c_str(), t.network == "G_A" ? "A to B" : "B to A", t.network.c_str(),
                     *direction == "AtoB" ? "BtoA" : "AtoB");
    NamedTensors state = adapt_reference_state(*t.net, tensors_of(raw, source.string()));
    load_module_state(*t.net, state, "weights file " + source.string() + " (as " + t.network + " of preset " + a.preset +
                                         ", netG " + config.get_string("netG") + ")");
  }
  t.net->to(select_device(a.device));
  return t;
}

Image to_image(const at::Tensor& chw) {
  auto hwc = chw.permute({1, 2, 0}).contiguous();
  Image im;
  im.channels = static_cast<int>(chw.size(0));
  im.height = static_cast<int>(chw.size(1));
  im.width = static_cast<int>(chw.size(2));
  im.pixels.assign(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + hwc.numel());
  return im;
}

at::Tensor to_chw(const Image& im) {
  return at::from_blob(const_cast<uint8_t*>(im.pixels.data()), {im.height, im.width, im.channels}, at::kByte)
      .permute({2, 0, 1})
      .clone();
}

}  // namespace

int run_translate(const TranslateArgs& a) {
  configure_threads(0);
  std::string direction;
  Translator t = load_translator(a, &direction);
  const int size = static_cast<int>(t.size);
  // Every input is read and checked before anything is written.
  const fs::path input = a.input;
  std::error_code ec;
  if (!fs::exists(input, ec)) throw Error("input " + input.string() + " does not exist");
  std::vector<fs::path> files;
  fs::path base;
  if (fs::is_directory(input, ec)) {
    // The translations would overwrite the inputs (PNGs) or mix with them.
    const fs::path out(a.out);
    if (path_within(out, input) || path_within(input, out)) {
      const bool inside = path_within(out, input), same = inside && path_within(input, out);
      throw UsageError("translate: --out " + out.string() + (same ? " is" : inside ? " lies in" : " holds") +
                       " the input folder " + input.string() +
                       ": the translations would overwrite or mix with the inputs; choose an output folder outside it");
    }
    files = list_image_files(input);
    if (files.empty()) throw Error("input folder " + input.string() + " holds no JPEG or PNG images (.jpg, .jpeg, .png)");
    base = input;
  } else {
    files = {input};
    base = input.parent_path();
    if (path_within(fs::path(a.out) / fs::path(input.filename()).replace_extension(".png"), input))
      throw UsageError("translate: the translation of " + input.string() + " would be written over it (--out " + a.out +
                       "); choose another output folder");
  }
  const int64_t n = static_cast<int64_t>(files.size());
  at::Tensor inputs = at::empty({n, t.in_channels, size, size}, at::kByte);
  at::Tensor targets = a.paired ? at::empty({n, t.out_channels, size, size}, at::kByte) : at::Tensor();
  for (int64_t i = 0; i < n; ++i) {
    Image im = read_image(files[i]);
    Image in_half = im, target_half;
    if (a.paired) {
      auto [ha, hb] = split_pair(convert_channels(im, 3), files[i].string());
      in_half = t.input_is_a ? ha : hb;
      target_half = t.input_is_a ? hb : ha;
    }
    // As the reference's test pipeline: to the network's channels, then resized (bicubic).
    in_half = resize_image(convert_channels(in_half, static_cast<int>(t.in_channels)), size, size, ResampleFilter::Bicubic);
    inputs[i].copy_(to_chw(in_half));
    if (a.paired)
      targets[i].copy_(to_chw(resize_image(convert_channels(target_half, static_cast<int>(t.out_channels)), size, size,
                                           ResampleFilter::Bicubic)));
  }
  {
    // One output per input: a.jpg and a.png of one folder would both write a.png.
    std::map<fs::path, fs::path> by_output;
    for (int64_t i = 0; i < n; ++i) {
      const fs::path rel = files[i].lexically_relative(base).replace_extension(".png");
      auto [it, fresh] = by_output.emplace(rel, files[i]);
      if (!fresh)
        throw UsageError("translate: inputs " + it->second.string() + " and " + files[i].string() +
                         " would both be written as " + (fs::path(a.out) / rel).string() +
                         "; rename one of them");
    }
  }
  const fs::path out_dir = a.out;
  prepare_output_folder(out_dir, "translate --out");
  TranslateOptions o;
  o.eval_mode = a.eval;
  o.seed = static_cast<uint64_t>(a.seed);
  o.device = select_device(a.device);
  at::Tensor outputs = translate_images(*t.net, inputs, o);
  std::vector<std::string> names;
  for (int64_t i = 0; i < n; ++i) {
    fs::path rel = files[i].lexically_relative(base).replace_extension(".png");
    names.push_back(rel.string());
    fs::path dest = out_dir / rel;
    fs::create_directories(dest.parent_path(), ec);
    at::Tensor picture = outputs[i];
    if (a.paired) {
      const int64_t c = std::max(t.in_channels, t.out_channels);
      picture = at::cat({to_channels(inputs.narrow(0, i, 1), c)[0], to_channels(outputs.narrow(0, i, 1), c)[0],
                         to_channels(targets.narrow(0, i, 1), c)[0]},
                        2);
    }
    write_png(dest, to_image(picture));
  }
  std::printf("wrote %lld image%s to %s (%s, %s)\n", (long long)n, n == 1 ? "" : "s", out_dir.c_str(),
              direction.c_str(), a.eval ? "eval mode" : "test mode: per-image statistics, seeded dropout");
  if (a.paired) {
    auto out_f = outputs.to(at::kDouble).div(255.0), target_f = targets.to(at::kDouble).div(255.0);
    auto l1 = l1_per_image(out_f, target_f), psnr = psnr_per_image(out_f, target_f), ssim = ssim_per_image(out_f, target_f);
    nlohmann::ordered_json j;
    j["model"] = a.model;
    j["input"] = a.input;
    j["direction"] = direction;
    j["eval_mode"] = a.eval;
    j["seed"] = a.seed;
    j["count"] = n;
    j["l1"] = l1.mean().item<double>();
    j["psnr"] = psnr.mean().item<double>();
    j["ssim"] = ssim.mean().item<double>();
    std::string rows;
    for (int64_t i = 0; i < n; ++i) {
      j["images"][names[i]] = {{"l1", l1[i].item<double>()}, {"psnr", psnr[i].item<double>()}, {"ssim", ssim[i].item<double>()}};
      char buf[128];
      std::snprintf(buf, sizeof buf, "L1 %.4f, PSNR %.2f dB, SSIM %.4f", l1[i].item<double>(), psnr[i].item<double>(),
                    ssim[i].item<double>());
      rows += "<tr><td>" + html_escape(names[i]) + "<br><small>" + buf + "</small></td><td><img src=\"" +
              url_path(names[i]) + "\" alt=\"" + html_escape(names[i]) + "\"></td></tr>\n";
    }
    atomic_write_file(out_dir / "metrics.json", j.dump(2) + "\n");
    char summary[160];
    std::snprintf(summary, sizeof summary, "L1 %.4f  PSNR %.2f dB  SSIM %.4f (mean of %lld)", j["l1"].get<double>(),
                  j["psnr"].get<double>(), j["ssim"].get<double>(), (long long)n);
    atomic_write_file(out_dir / "index.html",
                      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(a.model) +
                          "</title>\n<style>body{font-family:sans-serif}td{padding:4px;vertical-align:top}"
                          "img{image-rendering:pixelated}</style></head><body>\n<h1>input | output | target</h1>\n<p>" +
                          html_escape(a.model) + ", " + direction + ": " + summary + "</p>\n<table>\n" + rows +
                          "</table>\n</body></html>\n");
    std::printf("against the targets: %s; %s, %s\n", summary, (out_dir / "metrics.json").c_str(),
                (out_dir / "index.html").c_str());
  }
  return 0;
}

int run_combine(const CombineArgs& a) {
  const int64_t n = combine_pairs(a.a_dir, a.b_dir, a.out_dir, std::max(1, configure_threads(0)), ProgressMode::Auto);
  std::printf("wrote %lld A|B pair%s to %s\n", (long long)n, n == 1 ? "" : "s", a.out_dir.c_str());
  return 0;
}

}  // namespace forgery::app
