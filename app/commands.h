#pragma once
#include <string>
#include <vector>

namespace forgery::app {

// The program's arguments as given (the --nproc launcher starts its workers with them).
extern char** g_argv;

struct TrainArgs {
  std::string preset_or_config, data, out, device, dist_init;
  int64_t epochs = 0, threads = -1, nproc = 0;
  std::vector<std::string> sets, init_from;
  bool force = false, list_options = false;
};
struct ResumeArgs {
  std::string run_dir, device, dist_init;
  int64_t epochs = 0, threads = -1, nproc = 0;
  std::vector<std::string> sets;  // key=value of options that do not change what is computed
};
struct SampleArgs {
  std::string source, out, single_dir, idx, device = "cpu", label;
  int64_t n = 64, seed = 0, nrow = 0;
  bool n_given = false, no_ema = false;
};
struct DownloadArgs {
  std::string dataset, dir;
  std::vector<std::string> mirrors;
};

struct EvalArgs {
  std::string source, real, fake, data, classifier, features, out, metrics, device = "cpu";
  int64_t n = 10000, seed = 0;
  bool no_ema = false;
  bool n_given = false;  // --n on the command line
};
struct ClassifierArgs {
  std::string data, out;
  int64_t epochs = 5, seed = 0;
};

struct TranslateArgs {
  std::string model, input, out, preset, direction, device = "auto";
  std::vector<std::string> sets;
  int64_t seed = 0;
  bool eval = false, paired = false, no_ema = false;
};
struct ExportArgs {
  std::string source, format = "safetensors", out;
};
struct CombineArgs {
  std::string a_dir, b_dir, out_dir;
};

int run_train(const TrainArgs& args);
int run_translate(const TranslateArgs& args);
int run_combine(const CombineArgs& args);
int run_eval(const EvalArgs& args);
int run_train_classifier(const ClassifierArgs& args);
int run_resume(const ResumeArgs& args);
int run_sample(const SampleArgs& args);
int run_download(const DownloadArgs& args);
int run_list();
int run_export(const ExportArgs& args);
int run_report(const std::string& run_dir);

}  // namespace forgery::app
