#include "commands.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <ctime>
#include <cstdio>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/presets.h"
#include "forgery/core/runtime.h"
#include "forgery/core/stop.h"
#include "forgery/data/download.h"
#include "forgery/io/grid.h"
#include "forgery/io/torch_file.h"
#include "forgery/models/registry.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/gan_trainer.h"
#include "forgery/train/options.h"
#include "forgery/train/state.h"

namespace forgery::app {

namespace {
std::string default_run_dir(const std::string& preset_or_config) {
  std::string name = fs::path(preset_or_config).stem().string();
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return (fs::path("runs") / (name + "-" + stamp)).string();
}

void print_run_header(const Config& c, const fs::path& dir, int threads) {
  std::printf("forgery %s: model %s, %lld epochs, batch %lld, device %s, %d CPU thread(s), run folder %s\n",
              FORGERY_VERSION, c.get_string("model").c_str(), (long long)c.get_int("epochs"),
              (long long)c.get_int("batch_size"), select_device(c.get_string("device")).str().c_str(), threads,
              dir.c_str());
  std::fflush(stdout);
}
}  // namespace

int run_train(const TrainArgs& a) {
  std::vector<std::string> sets = a.sets;
  if (!a.data.empty()) sets.push_back("data_dir=" + a.data);
  if (a.epochs > 0) sets.push_back("epochs=" + std::to_string(a.epochs));
  if (!a.device.empty()) sets.push_back("device=" + a.device);
  if (a.threads >= 0) sets.push_back("threads=" + std::to_string(a.threads));
  Config config = build_config(a.preset_or_config, sets);
  if (a.list_options) {
    std::fputs(config.to_toml().c_str(), stdout);
    return 0;
  }
  fs::path run_dir = a.out.empty() ? default_run_dir(a.preset_or_config) : a.out;
  // Every check that can fail on input comes before the run folder is touched.
  for (const auto& f : a.init_from) load_torch_file(f);
  check_output_dir(run_dir, a.force);
  int threads = configure_threads(static_cast<int>(config.get_int("threads")));
  GanTrainer trainer(config, run_dir);
  trainer.load_data();
  prepare_output_dir(run_dir, a.force);
  print_run_header(config, run_dir, threads);
  trainer.start_new();
  if (!a.init_from.empty()) {
    std::vector<fs::path> files(a.init_from.begin(), a.init_from.end());
    trainer.init_from(files);
  }
  install_stop_handlers();
  return trainer.train();
}

int run_resume(const ResumeArgs& a) {
  std::error_code ec;
  if (!fs::is_directory(a.run_dir, ec)) throw Error("run folder " + a.run_dir + " does not exist or is not a folder");
  Checkpoint ck = Checkpoint::read(Checkpoint::locate(a.run_dir));
  std::vector<std::pair<std::string, std::string>> overrides;
  if (a.epochs > 0) overrides.emplace_back("epochs", std::to_string(a.epochs));
  if (!a.device.empty()) overrides.emplace_back("device", a.device);
  if (a.threads >= 0) overrides.emplace_back("threads", std::to_string(a.threads));
  Config config = ck.config(overrides);
  int threads = configure_threads(static_cast<int>(config.get_int("threads")));
  print_run_header(config, a.run_dir, threads);
  GanTrainer trainer(config, a.run_dir);
  trainer.restore(ck);
  std::printf("resuming after epoch %lld, step %lld\n", (long long)trainer.epochs_done(), (long long)trainer.global_step());
  install_stop_handlers();
  return trainer.train();
}

int run_sample(const SampleArgs& a) {
  fs::path source = a.source;
  Checkpoint ck = Checkpoint::read(Checkpoint::locate(source));
  Config config = ck.config({{"device", a.device}});
  const ModelInfo& info = find_model(config.get_string("model"));
  if (!info.make_gan) throw Error(source.string() + ": model " + info.name + " does not generate from noise");
  configure_threads(static_cast<int>(config.get_int("threads")));
  GanNetworks nets = info.make_gan(config);
  load_module_state(*nets.generator, ck.get_tensors("generator"), "checkpoint " + ck.path().string());
  auto device = select_device(a.device);
  nets.generator->to(device);
  nets.generator->eval();
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a.seed));
  auto z = at::randn({a.n, nets.generator->latent_dim()}, gen).to(device);
  at::Tensor images;
  {
    torch::NoGradGuard no_grad;
    images = to_unit_range(nets.generator->forward(z, at::Tensor())).cpu();
  }
  if (!a.out.empty()) {
    int nrow = static_cast<int>(a.nrow > 0 ? a.nrow : config.get_int("grid_nrow"));
    write_png(a.out, make_grid(images, nrow, static_cast<int>(config.get_int("grid_padding"))));
    std::printf("wrote %s (%lld images)\n", a.out.c_str(), (long long)a.n);
  }
  if (!a.single_dir.empty()) {
    fs::create_directories(a.single_dir);
    for (int64_t i = 0; i < a.n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%05lld.png", (long long)i);
      write_png(fs::path(a.single_dir) / name, tensor_to_image(images[i]));
    }
    std::printf("wrote %lld images to %s\n", (long long)a.n, a.single_dir.c_str());
  }
  return 0;
}

int run_download(const DownloadArgs& a) {
  fs::path dir = a.dir.empty() ? cache_dir() / a.dataset : fs::path(a.dir);
  DownloadOptions opts;
  opts.mirrors = a.mirrors;
  int n = download_dataset(a.dataset, dir, opts);
  std::printf("%s: %d file(s) downloaded, all files verified in %s\n", a.dataset.c_str(), n, dir.c_str());
  return 0;
}

int run_list() {
  std::printf("presets:\n");
  for (const auto& p : builtin_presets()) std::printf("  %s\n", p.name);
  std::printf("models:\n");
  for (const auto* m : all_models()) std::printf("  %-10s %s\n", m->name.c_str(), m->description.c_str());
  std::printf("datasets (forgery data download):\n");
  for (const auto& d : remote_datasets()) std::printf("  %s\n", d.name.c_str());
  return 0;
}

}  // namespace forgery::app
