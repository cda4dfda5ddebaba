// forgery: train, resume, sample, translate, evaluate and fetch data for GANs on LibTorch.
#include <CLI/CLI.hpp>

#include <c10/util/Exception.h>

#include <climits>
#include <csignal>
#include <cstdlib>
#include <string>
#include <cstdio>

#include "commands.h"
#include "forgery/core/error.h"
#include "forgery/core/runtime.h"
#include "forgery/train/options.h"

namespace {
// Whole numbers at least `min`, with a message that says so (CLI11's own range check prints
// the largest double).
CLI::Validator at_least(long long min, long long max = LLONG_MAX) {
  return CLI::Validator(
      [min, max](std::string& v) -> std::string {
        try {
          size_t used = 0;
          long long n = std::stoll(v, &used);
          if (used == v.size() && n >= min && n <= max) return "";
        } catch (const std::exception&) {
        }
        return "expected a whole number of at least " + std::to_string(min) +
               (max < LLONG_MAX ? " and at most " + std::to_string(max) : std::string()) + ", got '" + v + "'";
      },
      (min == 0 ? "INT>=0" : "INT>=" + std::to_string(min)) + (max < LLONG_MAX ? ",<=" + std::to_string(max) : ""));
}
// Images a command makes at once are held in memory together (a million 28x28 images: 3 GB).
constexpr long long kMostImages = 1000000;
// "rank R: " in the errors of a data-parallel worker (the diagnoses of collectives say it already).
std::string rank_prefix() {
  const char *rank = std::getenv("RANK"), *world = std::getenv("WORLD_SIZE");
  if (!rank || !world || std::string(world) == "1") return "";
  return std::string("rank ") + rank + ": ";
}
}  // namespace

int main(int argc, char** argv) {
  forgery::configure_openmp_wait_policy(argv);
  forgery::keep_mkl_thread_count();
  forgery::app::g_argv = argv;
  // Past a file size limit (ulimit -f) a write should fail with EFBIG, which the writers report
  // naming the file, rather than kill the process with SIGXFSZ.
  std::signal(SIGXFSZ, SIG_IGN);
  // A reader of the output that goes away (`forgery train ... | head`) must not kill a run
  // between checkpoints: its lines are then lost, the training goes on.
  std::signal(SIGPIPE, SIG_IGN);
  using namespace forgery::app;
  CLI::App app{"Forgery: generative adversarial networks in C++ on LibTorch"};
  app.set_version_flag("--version", std::string("forgery ") + FORGERY_VERSION);
  app.require_subcommand(1);
  // Parse errors as every other error: "forgery: error: ...", with where to find the options.
  app.failure_message([](const CLI::App* a, const CLI::Error& e) {
    std::string where = "forgery";
    for (const CLI::App* s = a; s;) {
      auto subs = s->get_subcommands();
      if (subs.empty()) break;
      s = subs.front();
      where += " " + s->get_name();
    }
    return "forgery: error: " + std::string(e.what()) + " (" + where + " --help)\n";
  });

  TrainArgs train;
  auto* t = app.add_subcommand("train", "Train a model from a preset (gan-mnist) or a TOML config file");
  t->add_option("preset_or_config", train.preset_or_config, "preset name or config.toml")->required();
  t->add_option("--data", train.data, "folder with the dataset (default: the cache, downloaded when missing)");
  t->add_option("--out", train.out, "run folder (default: runs/NAME-DATE-TIME)");
  t->add_option("--epochs", train.epochs, "total number of epochs")->check(at_least(1));
  t->add_option("--set", train.sets, "override an option: key=value (repeatable)")->allow_extra_args(false);
  t->add_option("--device", train.device, "auto, cpu, cuda, cuda:N");
  t->add_option("--threads", train.threads, "CPU threads (0: one per physical core)")->check(at_least(0));
  t->add_option("--init-from", train.init_from,
                "[NET=]FILE: weights to start from (a PyTorch state_dict, safetensors, a weights/NET.pt), "
                "matched to a network by its keys and shapes, or to the network NET (repeatable)")
      ->allow_extra_args(false);
  t->add_flag("--force", train.force, "replace an existing run folder (one that holds only a run's files)");
  t->add_option("--nproc", train.nproc,
                "data-parallel: train as N processes on this machine (one per GPU with CUDA); batch_size is the "
                "global batch, split into N equal shares")->check(at_least(1));
  t->add_option("--dist-init", train.dist_init,
                "data-parallel rendezvous: env (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, as torchrun sets them; "
                "the default) or file:PATH (a file all ranks see, new for every launch)");
  t->add_flag("--list-options", train.list_options, "print every option with its value and help, then exit");

  ResumeArgs resume;
  auto* r = app.add_subcommand("resume", "Continue a stopped or finished run exactly where it stopped");
  r->add_option("run_dir", resume.run_dir, "run folder")->required();
  r->add_option("--epochs", resume.epochs, "new total number of epochs")->check(at_least(1));
  r->add_option("--device", resume.device, "auto, cpu, cuda, cuda:N");
  r->add_option("--threads", resume.threads, "CPU threads (exact resume needs the same count)")->check(at_least(0));
  r->add_option("--nproc", resume.nproc, "data-parallel: continue as N processes on this machine (exact with the "
                "world size the run had)")->check(at_least(1));
  r->add_option("--dist-init", resume.dist_init, "data-parallel rendezvous: env (the default) or file:PATH");
  r->add_option("--set", resume.sets,
                "change an option that leaves the training's numbers alone: key=value (repeatable; progress, "
                "async_writes, cuda_graphs, checkpoint_every, dist_timeout, dist_backend; n_epochs, "
                "n_epochs_decay to lengthen a linear schedule; data_dir, eval_features, eval_classifier, eval_judge for "
                "files that moved)")
      ->allow_extra_args(false);

  SampleArgs sample;
  auto* s = app.add_subcommand("sample", "Generate images from a run folder or checkpoint");
  s->add_option("source", sample.source, "run folder or checkpoint file")->required();
  s->add_option("--n", sample.n, "number of images (at most a million)")->check(at_least(1, kMostImages));
  s->add_option("--out", sample.out, "grid image to write (PNG)");
  s->add_option("--seed", sample.seed, "noise seed")->check(at_least(0, forgery::kLargestSeed));
  s->add_option("--nrow", sample.nrow, "images per grid row (default: the run's grid_nrow)")->check(at_least(1));
  s->add_option("--single", sample.single_dir, "also write each image to this folder");
  s->add_option("--idx", sample.idx, "also write all images as one IDX file (MNIST format, 8-bit grey)");
  s->add_option("--device", sample.device, "auto, cpu, cuda, cuda:N (default cpu)");
  s->add_flag("--no-ema", sample.no_ema,
              "a run with ema_kimg: the generator's trained weights rather than their moving average");
  s->add_option("--label", sample.label,
                "conditional models: the class to generate (number or class name), or 'all' for a grid with one "
                "row of --nrow images per class");

  TranslateArgs translate;
  auto* tr = app.add_subcommand("translate", "Translate images with an image-to-image model (pix2pix, CycleGAN)");
  tr->add_option("model", translate.model,
                 "run folder, checkpoint, or a generator state_dict saved by the reference implementation (with --preset)")
      ->required();
  tr->add_option("--input", translate.input, "an image or a folder of images (JPEG/PNG)")->required();
  tr->add_option("--out", translate.out, "folder for the PNGs (one per input, same base name)")->required();
  tr->add_option("--preset", translate.preset, "architecture of a reference state_dict (e.g. pix2pix-facades)");
  tr->add_option("--set", translate.sets, "override an option of the preset or run: key=value (repeatable)")
      ->allow_extra_args(false);
  tr->add_option("--direction", translate.direction,
                 "AtoB or BtoA, A and B as the data folders name them (default: the run's direction); CycleGAN "
                 "serves both, a pix2pix model the one it was trained for");
  tr->add_flag("--eval", translate.eval, "running statistics and no dropout (default: as the reference's test script)");
  tr->add_flag("--paired", translate.paired,
               "inputs are A|B pairs: translate the input half, write input | output | target strips, index.html and "
               "L1/PSNR/SSIM against the targets (metrics.json)");
  tr->add_option("--seed", translate.seed, "seed of the dropout masks")->check(at_least(0, forgery::kLargestSeed));
  tr->add_option("--device", translate.device, "auto, cpu, cuda, cuda:N");
  tr->add_flag("--no-ema", translate.no_ema,
               "a run with ema_kimg: the generator's trained weights rather than their moving average");

  DownloadArgs download;
  auto* d = app.add_subcommand("data", "Datasets");
  d->require_subcommand(1);
  auto* dl = d->add_subcommand("download", "Download a dataset, md5-checked");
  dl->add_option("dataset", download.dataset, "mnist or fashion-mnist")->required();
  dl->add_option("--dir", download.dir, "target folder (default: the cache folder)");
  dl->add_option("--mirror", download.mirrors, "base URL to use instead of the public mirrors (repeatable)")->allow_extra_args(false);
  CombineArgs combine;
  auto* cb = d->add_subcommand("combine", "Make A|B pair images (pix2pix) from two folders of same-named images");
  cb->add_option("a_dir", combine.a_dir, "folder of A images")->required();
  cb->add_option("b_dir", combine.b_dir, "folder of B images with the same names (and sub-folders)")->required();
  cb->add_option("out_dir", combine.out_dir, "folder for the A|B PNGs")->required();

  EvalArgs eval;
  auto* e = app.add_subcommand("eval", "Measure sample quality: FID, KID, precision/recall, IS, classes");
  e->add_option("source", eval.source, "run folder or checkpoint to sample from");
  e->add_option("--real", eval.real, "real images: an IDX file or a folder of PNGs (with --fake, no model)");
  e->add_option("--fake", eval.fake, "generated images: an IDX file or a folder of PNGs");
  e->add_option("--metrics", eval.metrics,
                "comma-separated: fid,kid,pr,is,classes (default: all; with --features fid,kid,pr)");
  e->add_option("--features", eval.features,
                "TorchScript feature network for RGB images (e.g. Inception-v3), instead of the MNIST classifier");
  e->add_option("--n", eval.n, "images to generate (default 10000, at most a million)")->check(at_least(1, kMostImages));
  e->add_option("--data", eval.data, "MNIST-format folder: its test split is the real set");
  e->add_option("--seed", eval.seed, "noise and subset seed")->check(at_least(0, forgery::kLargestSeed));
  e->add_option("--classifier", eval.classifier, "feature classifier (default: trained once and cached)");
  e->add_option("--out", eval.out, "report file (default RUN_DIR/eval/CHECKPOINT.json)");
  e->add_option("--device", eval.device,
                "auto, cpu, cuda, cuda:N (default cpu): where the generator and a --features network run");
  e->add_flag("--no-ema", eval.no_ema,
              "a run with ema_kimg: measure the generator's trained weights rather than their moving average "
              "(the report's \"weights\" says which)");
  ClassifierArgs classifier;
  auto* tc = e->add_subcommand("train-classifier", "Train the MNIST-family classifier used for features");
  tc->add_option("--data", classifier.data, "MNIST-format folder (default: the cache, downloaded when missing)");
  tc->add_option("--epochs", classifier.epochs, "epochs (default 5)")->check(at_least(1));
  tc->add_option("--seed", classifier.seed, "seed")->check(at_least(0, forgery::kLargestSeed));
  tc->add_option("--out", classifier.out, "file to write (default: the cache)");

  ExportArgs exp;
  auto* ex = app.add_subcommand("export", "Write every network's weights of a run as safetensors or PyTorch files");
  ex->add_option("source", exp.source, "run folder (its last checkpoint) or checkpoint file")->required();
  ex->add_option("--format", exp.format, "safetensors or pt (PyTorch state_dict)")
      ->check(CLI::IsMember({"safetensors", "pt"}));
  ex->add_option("--out", exp.out,
                 "folder for NETWORK.safetensors|pt (default: the run's weights/, or weights/CHECKPOINT/ for a "
                 "checkpoint other than last.pt)");

  std::string report_run;
  auto* rp = app.add_subcommand("report", "Write RUN_DIR/report.html again (any run, also one made before reports)");
  rp->add_option("run_dir", report_run, "run folder")->required();

  app.add_subcommand("list", "List presets and models");

  // A first word that is not a command: say which commands there are.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    std::string names;
    for (const auto* sub : app.get_subcommands([](CLI::App*) { return true; })) {
      known = known || sub->get_name() == argv[1];
      names += (names.empty() ? "" : ", ") + sub->get_name();
    }
    if (!known) {
      std::fprintf(stderr, "forgery: error: unknown command '%s'; the commands are %s (forgery --help)\n", argv[1],
                   names.c_str());
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    // An option or argument given as an empty string (often an unset shell variable: --out
    // "$DIR") is refused, rather than taken as not given.
    std::string command;  // "eval train-classifier"
    for (const CLI::App* sub = &app; sub;) {
      for (const CLI::Option* o : sub->get_options())
        for (const std::string& v : o->results())
          if (v.empty())
            throw forgery::UsageError(command + " " + o->get_name() + ": empty value (an unset shell variable?)");
      auto subs = sub->get_subcommands();
      sub = subs.empty() ? nullptr : subs.front();
      if (sub) command += (command.empty() ? "" : " ") + sub->get_name();
    }
    if (t->parsed()) return run_train(train);
    if (r->parsed()) return run_resume(resume);
    if (s->parsed()) {
      if (sample.out.empty() && sample.single_dir.empty() && sample.idx.empty())
        throw forgery::UsageError("sample: give --out FILE.png, --single DIR and/or --idx FILE");
      sample.n_given = s->get_option("--n")->count() > 0;
      return run_sample(sample);
    }
    if (dl->parsed()) return run_download(download);
    if (cb->parsed()) return run_combine(combine);
    if (tr->parsed()) return run_translate(translate);
    if (tc->parsed()) return run_train_classifier(classifier);
    if (e->parsed()) {
      eval.n_given = e->get_option("--n")->count() > 0;
      return run_eval(eval);
    }
    if (ex->parsed()) return run_export(exp);
    if (rp->parsed()) return run_report(report_run);
    return run_list();
  } catch (const forgery::UsageError& e) {
    std::fprintf(stderr, "forgery: error: %s%s\n", rank_prefix().c_str(), e.what());
    return 2;
  } catch (const forgery::Error& e) {
    std::fprintf(stderr, "forgery: error: %s%s\n", rank_prefix().c_str(), e.what());
    return 1;
  } catch (const c10::Error& e) {
    std::fprintf(stderr, "forgery: error: %s%s\n", rank_prefix().c_str(),
                 forgery::explain_library_error(e.what_without_backtrace()).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "forgery: error: %s%s\n", rank_prefix().c_str(), e.what());
    return 1;
  }
}
