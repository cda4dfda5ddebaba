#include "commands.h"
#include "generator_weights.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <cstdio>
#include <optional>
#include <set>
#include <variant>

#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/hash.h"
#include "forgery/core/presets.h"
#include "forgery/core/precision.h"
#include "forgery/core/runtime.h"
#include "forgery/core/stop.h"
#include "forgery/data/download.h"
#include "forgery/data/idx.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/dist/dist.h"
#include "forgery/dist/launch.h"
#include "forgery/eval/classifier.h"
#include "forgery/eval/evaluate.h"
#include "forgery/io/grid.h"
#include "forgery/io/safetensors.h"
#include "forgery/io/state_dict.h"
#include "forgery/io/torch_file.h"
#include "forgery/models/image_nets.h"
#include "forgery/models/registry.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/options.h"
#include "forgery/train/recipe.h"
#include "forgery/train/report.h"
#include "forgery/train/sampling.h"
#include "forgery/train/trainer.h"

namespace forgery::app {

char** g_argv = nullptr;

namespace {
// Options that name files: a run keeps them as absolute paths, so that it reruns (forgery train
// RUN/config.toml), resumes and is evaluated from any working folder.
const std::set<std::string>& path_options() {
  static const std::set<std::string> keys = {"data_dir", "eval_features", "eval_classifier", "eval_judge"};
  return keys;
}

std::string default_run_dir(const std::string& preset_or_config) {
  std::string name = fs::path(preset_or_config).stem().string();
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return (fs::path("runs") / (name + "-" + stamp)).string();
}

void print_run_header(const Config& c, const fs::path& dir, int threads) {
  const long long epochs = c.get_int("epochs");
  std::printf("forgery %s: model %s, %lld epoch%s, batch %lld, device %s, %d CPU thread(s), run folder %s\n",
              FORGERY_VERSION, c.get_string("model").c_str(), epochs, epochs == 1 ? "" : "s",
              (long long)c.get_int("batch_size"), select_device(c.get_string("device")).str().c_str(), threads,
              dir.c_str());
  std::fflush(stdout);
}
}  // namespace

// Data-parallel runs: the world this process belongs to (null for a world of one).
struct World {
  dist::WorldSpec spec;
  std::shared_ptr<dist::Group> group;
  std::string backend = "gloo";  // what carries the CUDA gradient buckets (resolve_backend)
};

std::chrono::milliseconds dist_timeout(const Config& c) {
  return std::chrono::milliseconds(static_cast<int64_t>(c.get_float("dist_timeout") * 1000));
}

// --nproc N (not inside a worker): checks, then this program as N workers. Returns -1 when
// this process should train itself.
int maybe_launch(int64_t nproc, const dist::WorldSpec& spec, const Config& config) {
  if (nproc <= 0 || dist::is_worker()) return -1;
  if (spec.distributed())
    throw UsageError("--nproc " + std::to_string(nproc) + ": this process is already rank " + std::to_string(spec.rank) +
                     " of " + std::to_string(spec.world_size) + " (RANK/WORLD_SIZE are set); launch with one or the other");
  if (nproc == 1) return -1;
  if (!dist::available())
    throw Error("--nproc " + std::to_string(nproc) + ": this build of Forgery has no data-parallel training (it needs "
                "Gloo's headers, Debian: libgloo-dev; scripts/setup installs it); rebuild after installing them");
  const int64_t bs = config.get_int("batch_size");
  if (bs % nproc != 0)
    throw UsageError("--nproc " + std::to_string(nproc) + ": option batch_size " + std::to_string(bs) +
                     " (the global batch) does not split into " + std::to_string(nproc) +
                     " equal shares: use a multiple of " + std::to_string(nproc));
  // What every worker would refuse, refused once before any starts.
  const bool cuda = select_device(config.get_string("device")).is_cuda();
  dist::resolve_backend(config.get_string("dist_backend"), cuda, static_cast<int>(nproc), cuda ? cuda_device_count() : 0);
  // A failed rank leaves the others nothing to do: a few seconds to name it, then they stop.
  return dist::run_local_workers(static_cast<int>(nproc), g_argv, std::min(10.0, config.get_float("dist_timeout") + 5));
}

World join_world(int64_t nproc, const dist::WorldSpec& spec, const Config& config) {
  if (nproc > 1 && spec.world_size != nproc)
    throw UsageError("--nproc " + std::to_string(nproc) + " but WORLD_SIZE is " + std::to_string(spec.world_size));
  World w{spec, nullptr};
  if (spec.distributed()) {
    const bool cuda = select_device(config.get_string("device")).is_cuda();
    w.backend = dist::resolve_backend(config.get_string("dist_backend"), cuda, spec.local_world_size,
                                      cuda ? cuda_device_count() : 0);
    w.group = dist::Group::create(spec, dist_timeout(config), w.backend);
  }
  return w;
}

// Threads per rank: the machine's cores shared among the ranks on it.
int rank_threads(int64_t requested, const dist::WorldSpec& spec) {
  if (requested == 0 && spec.local_world_size > 1)
    return configure_threads(std::max(1, physical_cores() / spec.local_world_size));
  return configure_threads(static_cast<int>(requested));
}

// Rank 0's failure, told to the other ranks (they stop with its message, not a timeout).
template <class F>
int tell_peers_on_failure(const World& w, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    if (w.group) w.group->report_failure(e.what());
    throw;
  }
}

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
  for (const std::string& key : path_options()) {
    if (!config.has(key) || config.get_string(key).empty()) continue;
    std::error_code ec;
    const fs::path abs = fs::absolute(config.get_string(key), ec).lexically_normal();
    if (!ec) config.set(key, abs.string());
  }
  const dist::WorldSpec spec = dist::read_world(a.dist_init);
  fs::path run_dir = a.out.empty() ? default_run_dir(a.preset_or_config) : a.out;
  if (a.nproc > 0 && !dist::is_worker() && a.out.empty()) {
    // The workers must agree on the folder (a default name has the time in it).
    run_dir = default_run_dir(a.preset_or_config);
    std::vector<std::string> args;
    for (char** p = g_argv; *p; ++p) args.emplace_back(*p);
    args.push_back("--out");
    args.push_back(run_dir.string());
    static std::vector<std::string> keep;
    keep = args;
    static std::vector<char*> ptrs;
    ptrs.clear();
    for (auto& s : keep) ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
    g_argv = ptrs.data();
  }
  // Every check that can fail on input comes before the run folder is touched.
  for (const auto& f : a.init_from) load_weights_file(split_init_from(f).second);
  // What --force must not remove with the folder it replaces.
  std::vector<KeptPath> kept;
  if (config.has("data_dir") && !config.get_string("data_dir").empty())
    kept.push_back({config.get_string("data_dir"), "the data folder (data_dir)"});
  for (const auto& f : a.init_from) kept.push_back({split_init_from(f).second, "the --init-from file"});
  if (spec.rank == 0) check_output_dir(run_dir, a.force, kept);
  if (int code = maybe_launch(a.nproc, spec, config); code >= 0) return code;
  World world = join_world(a.nproc, spec, config);
  std::error_code ec;
  const bool folder_existed = fs::exists(run_dir, ec);
  bool folder_made = false;
  std::unique_ptr<RunFolderLock> lock;
  return tell_peers_on_failure(world, [&] {
    try {
      int threads = rank_threads(config.get_int("threads"), spec);
      Trainer trainer(config, run_dir);
      trainer.set_group(world.group);
      trainer.load_data();
      if (spec.rank == 0) {
        print_run_header(config, run_dir, threads);
        if (world.group)
          std::printf("data-parallel: %d ranks (%s), %lld examples per rank per batch\n", spec.world_size,
                      world.backend == "nccl" ? "gradients over NCCL, the rest over Gloo" : "Gloo",
                      (long long)(config.get_int("batch_size") / spec.world_size));
      }
      // The networks built and their --init-from weights loaded before the folder is prepared:
      // a failure here (options too large, weights of another model) leaves a run that --force
      // was to replace as it was.
      trainer.start_new(/*write_config=*/false);
      if (!a.init_from.empty()) {
        std::vector<fs::path> files(a.init_from.begin(), a.init_from.end());
        trainer.init_from(files);
      }
      if (spec.rank == 0) {
        prepare_output_dir(run_dir, a.force, kept);
        folder_made = true;
        lock = std::make_unique<RunFolderLock>(run_dir);
      }
      trainer.write_config();
      install_stop_handlers(spec.rank == 0);
      return trainer.train();
    } catch (...) {
      // A run that failed before its first checkpoint leaves nothing to resume: its folder is
      // taken back (emptied, or removed where this command made it), so that the same command
      // runs again once the cause is mended. (The trainer, gone by now, waited for its writes.)
      if (folder_made && !fs::exists(run_dir / "checkpoints" / "last.pt", ec)) {
        lock.reset();
        if (folder_existed)
          for (const auto& entry : fs::directory_iterator(run_dir, ec)) fs::remove_all(entry.path(), ec);
        else
          fs::remove_all(run_dir, ec);
      }
      throw;
    }
  });
}

// resume --set of an evaluation network (eval_features, eval_classifier, eval_judge) is for the
// same file moved: the run's FIDs and its best.pt stay comparable only with the network they
// were measured with. So the new file must exist, a default ("") stays a default, and where
// the old file is still there the two must hold the same bytes.
void check_same_network(const std::string& key, const std::string& old_path, const std::string& new_path) {
  const std::string what = "resume --set " + key + "=" + new_path;
  if (old_path.empty() != new_path.empty())
    throw UsageError(what + ": the run was measured with " + (old_path.empty() ? "the default network" : old_path) +
                     "; a resumed run keeps the network it is measured with (--set is for a file that moved)");
  if (new_path.empty() || new_path == old_path) return;
  std::error_code ec;
  if (!fs::is_regular_file(new_path, ec)) throw UsageError(what + ": no such file");
  if (fs::is_regular_file(old_path, ec) &&
      fnv1a(read_file(old_path, key)) != fnv1a(read_file(new_path, key)))
    throw UsageError(what + ": not the network the run was measured with (" + old_path +
                     " is still there, with other contents); a resumed run keeps the network it is measured with");
}

int run_resume(const ResumeArgs& a) {
  std::error_code ec;
  if (!fs::is_directory(a.run_dir, ec)) throw Error("run folder " + a.run_dir + " does not exist or is not a folder");
  // In use first: a run still before its first checkpoint has none to resume, but the advice
  // for a folder without one (train again, --force) is wrong while a process trains in it.
  const dist::WorldSpec spec = dist::read_world(a.dist_init);
  if (spec.rank == 0) check_run_folder_free(a.run_dir);
  Checkpoint ck = Checkpoint::read(Checkpoint::locate(a.run_dir));
  // A checkpoint copied in from another run would train that run here, over this one's files.
  if (const fs::path own = fs::path(a.run_dir) / "config.toml"; fs::exists(own, ec)) {
    std::optional<std::string> folder_model;
    try {
      folder_model = Config::peek_string(read_file(own, "run config"), "model", own.string()).value_or("mlp-gan");
    } catch (const std::exception&) {
      // A damaged config.toml: the checkpoint's own copy of the configuration decides.
    }
    const std::string ck_model = ck.config({}).get_string("model");
    if (folder_model && *folder_model != ck_model)
      throw Error(ck.path().string() + " is a checkpoint of model " + ck_model + ", and the run folder's config.toml is of " +
                  *folder_model + ": the checkpoint belongs to another run; resume that run's folder instead");
  }
  if (a.epochs > 0 && a.epochs < ck.get_int("epoch"))
    throw UsageError("resume --epochs " + std::to_string(a.epochs) + ": the run has already done " +
                     std::to_string(ck.get_int("epoch")) + " epochs; give a larger total to train further");
  std::vector<std::pair<std::string, std::string>> overrides;
  if (a.epochs > 0) overrides.emplace_back("epochs", std::to_string(a.epochs));
  if (!a.device.empty()) overrides.emplace_back("device", a.device);
  if (a.threads >= 0) overrides.emplace_back("threads", std::to_string(a.threads));
  // Options that change only how the run is carried out, never what it computes: a resumed run
  // stays the run it was (its seed, batch size and networks come from the checkpoint). The
  // exceptions: a linear learning-rate schedule may be lengthened (to train on past its end, as
  // the reference's continued training does; the next epochs follow the new schedule), and
  // data_dir and the evaluation's networks, for the same files moved to another folder.
  static const std::set<std::string> changeable = {
      "progress",       "async_writes", "cuda_graphs",   "checkpoint_every", "dist_timeout",    "dist_backend",
      "n_epochs",       "n_epochs_decay", "data_dir",    "eval_features",    "eval_classifier", "eval_judge"};
  const Config saved = ck.config({});
  for (const auto& kv : a.sets) {
    auto [key, value] = split_assignment(kv);
    std::string list;
    for (const auto& k : changeable)
      if (saved.has(k)) list += (list.empty() ? "" : ", ") + k;
    if (!saved.has(key))
      throw UsageError("resume --set " + key + ": unknown option (those a resumed run can change: " + list + ")");
    if ((key == "n_epochs" || key == "n_epochs_decay") && saved.get_string("lr_policy") != "linear")
      throw UsageError("resume --set " + key + ": this run's lr_policy is " + saved.get_string("lr_policy") +
                       "; n_epochs and n_epochs_decay shape a linear schedule only");
    if (!changeable.count(key)) {
      throw UsageError("resume --set " + key + ": a resumed run keeps the options it was started with; it can "
                       "change only " + list + " (use --epochs, --device, --threads for those)");
    }
    if (path_options().count(key) && !value.empty()) value = fs::absolute(value, ec).lexically_normal().string();
    if (key != "data_dir" && path_options().count(key)) check_same_network(key, saved.get_string(key), value);
    overrides.emplace_back(key, value);
  }
  Config config = ck.config(overrides);
  for (const char* key : {"n_epochs", "n_epochs_decay"})
    if (saved.has(key) && config.get_int(key) != saved.get_int(key) && !dist::is_worker())
      std::printf("resume: %s %lld -> %lld: the learning-rate schedule changes from the next epoch on\n", key,
                  (long long)saved.get_int(key), (long long)config.get_int(key));
  if (int code = maybe_launch(a.nproc, spec, config); code >= 0) return code;
  World world = join_world(a.nproc, spec, config);
  std::unique_ptr<RunFolderLock> lock;
  return tell_peers_on_failure(world, [&] {
    int threads = rank_threads(config.get_int("threads"), spec);
    if (spec.rank == 0) {
      lock = std::make_unique<RunFolderLock>(a.run_dir);
      print_run_header(config, a.run_dir, threads);
    }
    Trainer trainer(config, a.run_dir);
    trainer.set_group(world.group);
    trainer.restore(ck);
    if (spec.rank == 0)
      std::printf("resuming after epoch %lld, step %lld%s\n", (long long)trainer.epochs_done(),
                  (long long)trainer.global_step(),
                  world.group ? (", " + std::to_string(spec.world_size) + " ranks").c_str() : "");
    install_stop_handlers(spec.rank == 0);
    return trainer.train();
  });
}

namespace {
// A class by number, or by name when the checkpoint records the data's class names.
int64_t parse_class_label(const std::string& text, const Checkpoint& ck, int64_t classes) {
  std::vector<std::string> names;
  if (ck.has("recipe_state", "class_names")) {
    std::string all = ck.get("recipe_state", "class_names").toStringRef();
    for (size_t start = 0; start < all.size();) {
      size_t end = all.find('\n', start);
      names.push_back(all.substr(start, end == std::string::npos ? std::string::npos : end - start));
      if (end == std::string::npos) break;
      start = end + 1;
    }
  }
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == text) return static_cast<int64_t>(i);
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 0 || v >= classes) {
    std::string known;
    for (const auto& nm : names) known += (known.empty() ? "" : ", ") + nm;
    throw UsageError("sample --label " + text + ": expected a class between 0 and " + std::to_string(classes - 1) +
                     (known.empty() ? std::string() : ", a class name (" + known + ")") + " or all");
  }
  return v;
}
}  // namespace

NamedTensors generator_weights(const Checkpoint& ck, const std::string& network, bool no_ema, const char* command,
                               bool* used_average) {
  bool average = false;
  NamedTensors w = ck.generator(network, !no_ema, &average);
  if (average)
    std::fprintf(stderr, "forgery: %s: the moving average of %s's weights (ema_kimg; --no-ema: its trained weights)\n",
                 command, network.c_str());
  if (used_average) *used_average = average;
  return w;
}

int run_sample(const SampleArgs& a) {
  fs::path source = a.source;
  Checkpoint ck = Checkpoint::read(Checkpoint::locate(source));
  Config config = ck.config({{"device", a.device}});
  const ModelInfo& info = find_model(config.get_string("model"));
  if (!info.make_gan)
    throw UsageError("sample: model " + info.name + " of " + source.string() +
                     " translates images rather than generating them from noise; use forgery translate");
  configure_threads(static_cast<int>(config.get_int("threads")));
  GanNetworks nets = info.make_gan(config);
  load_module_state(*nets.generator, generator_weights(ck, "generator", a.no_ema, "sample"),
                    "checkpoint " + ck.path().string());
  auto device = select_device(a.device);
  nets.generator->to(device);
  nets.generator->eval();
  const int64_t classes = nets.generator->num_classes();
  int nrow = static_cast<int>(a.nrow > 0 ? a.nrow : config.get_int("grid_nrow"));
  int64_t n = a.n;
  at::Tensor labels;
  if (classes == 0) {
    if (!a.label.empty()) throw UsageError("sample --label: model " + info.name + " is not conditional");
  } else if (a.label.empty() || a.label == "all") {
    if (a.label == "all") {
      if (a.n_given) throw UsageError("sample --label all: the grid has one row of --nrow images per class; drop --n");
      n = classes * nrow;
    }
    labels = row_labels(n, nrow, classes);
  } else {
    labels = at::full({n}, parse_class_label(a.label, ck, classes), at::kLong);
  }
  // Every output checked before anything is written: a folder to write in for each, a PNG name
  // for the grid, single images not mixed into an earlier set.
  if (!a.out.empty()) {
    std::string ext = fs::path(a.out).extension().string();
    for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext != ".png") throw UsageError("sample --out " + a.out + ": the grid is written as PNG; give a .png name");
    prepare_output_file(a.out, "sample --out");
  }
  if (!a.idx.empty()) prepare_output_file(a.idx, "sample --idx");
  if (!a.single_dir.empty()) {
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(a.single_dir, ec))
      if (e.path().extension() == ".png" && e.path().stem().string().find_first_not_of("0123456789") == std::string::npos)
        throw UsageError("sample --single " + a.single_dir + " already holds numbered images (" +
                         e.path().filename().string() + ", ...): a new set would mix with them; choose a new or empty folder");
    prepare_output_folder(a.single_dir, "sample --single");
  }
  auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a.seed));
  at::Tensor images = to_unit_range(generate_images(*nets.generator, n, gen, device, labels));
  if (!a.idx.empty() && images.size(1) != 1)
    throw UsageError("sample --idx: IDX files hold grey images; this model makes " + std::to_string(images.size(1)) +
                     " channels");
  if (!a.out.empty()) {
    write_png(a.out, make_grid(images, nrow, static_cast<int>(config.get_int("grid_padding"))));
    std::printf("wrote %s (%lld images)\n", a.out.c_str(), (long long)n);
  }
  if (!a.idx.empty()) {
    // The rounding of the PNG writers: x * 255 + 0.5, truncated.
    auto bytes = images.mul(255).add_(0.5).clamp_(0, 255).to(torch::kUInt8).contiguous();
    IdxArray idx{{bytes.size(0), bytes.size(2), bytes.size(3)},
                 std::vector<uint8_t>(bytes.data_ptr<uint8_t>(), bytes.data_ptr<uint8_t>() + bytes.numel())};
    auto encoded = encode_idx(idx);
    // A .gz name gets gzip, as the published MNIST files (and what forgery reads back).
    std::string lower = a.idx;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.size() > 3 && lower.compare(lower.size() - 3, 3, ".gz") == 0) encoded = gzip_bytes(encoded);
    atomic_write_file(a.idx, std::string(encoded.begin(), encoded.end()));
    std::printf("wrote %s (%lld images)\n", a.idx.c_str(), (long long)n);
  }
  if (!a.single_dir.empty()) {
    for (int64_t i = 0; i < n; ++i) {
      char name[32];
      std::snprintf(name, sizeof name, "%05lld.png", (long long)i);
      write_png(fs::path(a.single_dir) / name, tensor_to_image(images[i]));
    }
    std::printf("wrote %lld images to %s\n", (long long)n, a.single_dir.c_str());
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

namespace {
// The run folder of a checkpoint: RUN for RUN/checkpoints/NAME.pt, else the file's folder.
fs::path run_folder_of(const fs::path& checkpoint) {
  const fs::path dir = checkpoint.parent_path();
  return dir.filename() == "checkpoints" ? dir.parent_path() : dir;
}
// The path options (data_dir, eval_features, ...) as the run folder's config.toml has them now:
// resume --set moves them there for files that moved, also where it writes no checkpoint (a
// finished run), so they can be newer than the checkpoint's. Nothing where the folder has no
// readable config.toml of the same model (a checkpoint copied elsewhere: its own copy decides).
std::vector<std::pair<std::string, std::string>> current_path_options(const Checkpoint& ck) {
  std::vector<std::pair<std::string, std::string>> out;
  const fs::path own = run_folder_of(ck.path()) / "config.toml";
  std::error_code ec;
  if (!fs::exists(own, ec)) return out;
  try {
    const std::string text = read_file(own, "run config");
    const Config saved = ck.config({});
    if (Config::peek_string(text, "model", own.string()).value_or("mlp-gan") != saved.get_string("model")) return out;
    for (const std::string& key : path_options())
      if (saved.has(key))
        if (auto v = Config::peek_string(text, key, own.string()); v && *v != saved.get_string(key))
          out.emplace_back(key, *v);
  } catch (const std::exception&) {
    out.clear();  // a damaged config.toml: the checkpoint's own copy decides
  }
  return out;
}

// Where eval's report goes, checked before the measuring starts: --out, else
// RUN/eval/CHECKPOINT.json.
fs::path prepare_eval_report(const EvalArgs& a, const fs::path& checkpoint) {
  const fs::path report =
      a.out.empty() ? run_folder_of(checkpoint) / "eval" / (checkpoint.stem().string() + ".json") : fs::path(a.out);
  prepare_output_file(report, a.out.empty() ? "eval: the report" : "eval --out");
  return report;
}

fs::path ensure_classifier(const std::string& given, const fs::path& data_dir) {
  if (!given.empty()) return given;
  fs::path file = default_classifier_path(data_dir);
  if (fs::exists(file)) return file;
  std::fprintf(stderr, "forgery: no feature classifier for %s yet; training one (once, cached in %s)\n",
               data_dir.c_str(), file.parent_path().c_str());
  ClassifierResult r = train_mnist_classifier(data_dir, file, ClassifierTraining{});
  std::fprintf(stderr, "forgery: classifier test accuracy %.2f%%\n", 100 * r.test_accuracy);
  return file;
}
}  // namespace

int run_train_classifier(const ClassifierArgs& a) {
  configure_threads(0);
  fs::path dir = resolve_dataset_dir("mnist", a.data);
  fs::path out = a.out.empty() ? default_classifier_path(dir) : fs::path(a.out);
  prepare_output_file(out, a.out.empty() ? "eval train-classifier: the classifier" : "eval train-classifier --out");
  ClassifierTraining o;
  o.epochs = a.epochs;
  o.seed = a.seed;
  std::error_code ec;
  const bool replaced = fs::exists(out, ec);
  ClassifierResult r = train_mnist_classifier(dir, out, o);
  std::printf("classifier: test accuracy %.2f%% on %s; written to %s%s\n", 100 * r.test_accuracy, dir.c_str(), out.c_str(),
              replaced ? " (it replaces the classifier that was there: FID and KID figures measured with that one "
                         "do not compare with new ones)"
                       : "");
  return 0;
}

namespace {
// Models trained by another recipe than the GAN family's are measured by that recipe's own
// evaluation (pix2pix: L1, PSNR, SSIM on the val pairs; CycleGAN: the domain judge, KID, FID,
// cycle L1 on the test images), from the checkpoint's networks and the run's data, on `device`
// (chosen, with fp32 set, by run_eval).
int eval_with_recipe(const EvalArgs& a, const Checkpoint& ck, const c10::Device& device,
                     std::chrono::steady_clock::time_point t0) {
  if (!a.metrics.empty() || a.n_given || !a.classifier.empty())
    throw UsageError("eval: --metrics, --n and --classifier are for GAN-family models; model " +
                     ck.get_string("model") + " is measured by its recipe's own metrics");
  std::vector<std::pair<std::string, std::string>> overrides = {{"device", a.device}, {"progress", "off"}};
  for (auto& kv : current_path_options(ck)) overrides.push_back(std::move(kv));
  if (!a.data.empty()) overrides.emplace_back("data_dir", a.data);
  Config config = ck.config(overrides);
  if (!a.features.empty()) {
    if (!config.has("eval_features"))
      throw UsageError("eval --features: model " + config.get_string("model") + " takes no feature network");
    torchscript_features(a.features);  // errors name --features, not the option it is passed on as
    config.set("eval_features", a.features);
  } else if (config.has("eval_features") && !config.get_string("eval_features").empty()) {
    std::fprintf(stderr, "forgery: features: %s (the run's eval_features)\n", config.get_string("eval_features").c_str());
  }
  const fs::path report = prepare_eval_report(a, ck.path());
  auto recipe = find_recipe(find_model(config.get_string("model")).recipe).make(config, device);
  recipe->build();
  const auto generators = recipe->generators();
  bool average = false;
  for (const auto& n : recipe->networks()) {
    const bool makes_images = std::find(generators.begin(), generators.end(), n.name) != generators.end();
    load_module_state(*n.module, makes_images ? generator_weights(ck, n.name, a.no_ema, "eval", &average) : ck.network(n.name),
                      "checkpoint " + ck.path().string() + " (network " + n.name + ")");
  }
  recipe->load_data();
  std::optional<Evaluation> ev = recipe->evaluate(ck.get_int("epoch"));
  if (!ev) throw Error("eval: the data in " + config.get_string("data_dir") + " has no held-out images to measure on");
  nlohmann::ordered_json j;
  j["checkpoint"] = ck.path().string();
  j["epoch"] = ck.get_int("epoch");
  j["weights"] = average ? "ema" : "trained";
  j["device"] = device.str();
  // What KID and FID were measured on: the recipe's own judge, or a feature network.
  if (config.has("eval_features"))
    j["features"] = config.get_string("eval_features").empty() ? "the domain judge" : config.get_string("eval_features");
  std::printf("%-24s %s\n", "metric", "value");
  for (const auto& [k, v] : ev->metrics) {
    const double x = std::holds_alternative<double>(v) ? std::get<double>(v)
                     : std::holds_alternative<int64_t>(v) ? static_cast<double>(std::get<int64_t>(v)) : NAN;
    j["metrics"][k] = x;
    std::printf("%-24s %.6g\n", k.c_str(), x);
  }
  for (const auto& note : ev->notes) {
    std::fprintf(stderr, "forgery: note: %s\n", note.c_str());
    j["notes"].push_back(note);
  }
  j["seconds"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  atomic_write_file(report, j.dump(2) + "\n");
  std::printf("report: %s\n", report.c_str());
  return 0;
}
}  // namespace

int run_eval(const EvalArgs& given) {
  auto t0 = std::chrono::steady_clock::now();
  configure_threads(0);
  EvalArgs a = given;  // --features may come from the run's eval_features
  bool features_of_run = false;
  if (!a.features.empty() && !a.classifier.empty())
    throw UsageError("eval: --features and --classifier both choose the network that gives the features; give one");
  EvalOptions options;
  const auto choose_metrics = [&] {
    options.metrics = parse_metric_list(!a.metrics.empty() ? a.metrics
                                        : a.features.empty() ? "fid,kid,pr,is,classes" : "fid,kid,pr");
  };
  choose_metrics();
  options.seed = static_cast<uint64_t>(a.seed);
  // Measurements in fp32 wherever they run (no TF32 products on CUDA).
  const c10::Device device = select_device(a.device);
  apply_precision(device, Precision::Fp32);
  ImageSet real, fake;
  fs::path data_dir, report;
  nlohmann::ordered_json j;
  if (!a.real.empty() || !a.fake.empty()) {
    if (a.real.empty() || a.fake.empty()) throw UsageError("eval: give both --real and --fake");
    if (!a.source.empty()) throw UsageError("eval: give a run folder or --real/--fake, not both");
    if (a.n_given)
      throw UsageError("eval --n: the number of images to generate is for a run folder or checkpoint; with --real and "
                       "--fake every image of both sets is measured");
    if (a.no_ema) throw UsageError("eval --no-ema: chooses a run's weights; --real and --fake are images, not a model");
    if (!a.out.empty()) prepare_output_file(a.out, "eval --out");
    real = load_image_set(a.real);
    fake = load_image_set(a.fake);
    check_same_shape(real, fake);
    // Without --classifier or --features: the MNIST classifier of --data, else of the default
    // data location (as train finds MNIST), trained once and cached.
    if (a.classifier.empty() && a.features.empty()) data_dir = resolve_dataset_dir("mnist", a.data);
    report = a.out;
    j["real"] = a.real;
    j["fake"] = a.fake;
  } else {
    if (a.source.empty()) throw UsageError("eval: give a run folder or checkpoint, or --real and --fake");
    fs::path file = Checkpoint::locate(a.source);
    Checkpoint ck = Checkpoint::read(file);
    std::vector<std::pair<std::string, std::string>> overrides = {{"device", "cpu"}};
    for (auto& kv : current_path_options(ck)) overrides.push_back(std::move(kv));
    Config config = ck.config(overrides);
    const ModelInfo& info = find_model(config.get_string("model"));
    if (!info.make_gan) return eval_with_recipe(a, ck, device, t0);
    // A run trained with eval_features is measured with that network unless told otherwise.
    if (a.features.empty() && a.classifier.empty() && config.has("eval_features") &&
        !config.get_string("eval_features").empty()) {
      a.features = config.get_string("eval_features");
      features_of_run = true;
      if (std::error_code ec; !fs::exists(a.features, ec))
        throw Error("the run's eval_features " + a.features + " does not exist: give --features FILE, or record "
                    "where it moved with forgery resume " + run_folder_of(file).string() + " --set eval_features=FILE");
      std::fprintf(stderr, "forgery: features: %s (the run's eval_features)\n", a.features.c_str());
      choose_metrics();
      for (const auto& m : options.metrics)
        if (needs_class_probabilities(m))
          throw UsageError("eval --metrics " + m + ": this run is measured with its eval_features network (" +
                           a.features + "), which gives no class probabilities; give --classifier FILE (an "
                           "MNIST-family classifier) for is, classes and accuracy");
    }
    GanNetworks nets = info.make_gan(config);
    bool average = false;
    load_module_state(*nets.generator, generator_weights(ck, "generator", a.no_ema, "eval", &average),
                      "checkpoint " + file.string());
    nets.generator->to(device);
    nets.generator->eval();
    if (config.get_string("dataset") == "folder") {
      // The real set: --n of the training folder's images (a seeded choice), made as training
      // made them (resized, cropped, to the model's channels); the MNIST classifier does not
      // apply, so a feature network is needed.
      if (a.features.empty())
        throw UsageError("eval " + a.source + ": this run was trained on an image folder, which the built-in MNIST "
                         "classifier cannot measure: give --features NET.pt (a TorchScript feature network for RGB "
                         "images, e.g. Inception-v3)");
      const fs::path dir = a.data.empty() ? fs::path(config.get_string("data_dir")) : fs::path(a.data);
      if (std::error_code ec; a.data.empty() && !fs::exists(dir, ec))
        throw Error("the run's data folder " + dir.string() + " does not exist: give --data DIR where it moved");
      real = ImageSet{folder_eval_images(config, dir, a.n, static_cast<uint64_t>(a.seed) + 1),
                      "training images of " + dir.string()};
      j["real"] = dir.string();
    } else {
      data_dir = resolve_dataset_dir(config.get_string("dataset"), a.data.empty() ? config.get_string("data_dir") : a.data);
      check_holds_dataset(config.get_string("dataset"), data_dir);
      // Real images through the same resizing as the samples (for models of another size than 28).
      real = ImageSet{a.features.empty() ? mnist_eval_images(data_dir, config.get_int("image_size"))
                                         : load_mnist_family(data_dir, false, torch::kCPU).images,
                      (data_dir / "t10k").string()};
    }
    report = prepare_eval_report(a, file);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(static_cast<uint64_t>(a.seed));
    at::Tensor generated = generate_for_eval(*nets.generator, a.n, gen, device, options,
                                             /*add_accuracy=*/a.metrics.empty() && a.features.empty(),
                                             /*fit_to_classifier=*/a.features.empty());
    fake = ImageSet{generated, "generated by " + file.string()};
    check_same_shape(real, fake);
    j["checkpoint"] = file.string();
    j["epoch"] = ck.get_int("epoch");
    j["weights"] = average ? "ema" : "trained";
    j["n"] = a.n;
  }
  std::unique_ptr<FeatureExtractor> extractor;
  if (!a.features.empty()) {
    extractor = torchscript_features(a.features, features_of_run ? "the run's eval_features" : "--features", device);
  } else {
    fs::path cls = ensure_classifier(a.classifier, data_dir);
    if (a.classifier.empty())
      std::fprintf(stderr, "forgery: features: MNIST classifier %s (trained on %s)\n", cls.c_str(), data_dir.c_str());
    extractor = mnist_classifier_features(cls);
  }
  Extracted real_f = real_features_cached(*extractor, real, ProgressMode::Auto);
  Extracted fake_f = extractor->extract(fake, ProgressMode::Auto);
  if (const std::string why = fid_needs_more_images(real_f, fake_f);
      !why.empty() && std::find(options.metrics.begin(), options.metrics.end(), "fid") != options.metrics.end())
    throw UsageError("eval: no FID from " + why + (a.real.empty() ? ": raise --n" : "") +
                     ", or leave fid out with --metrics kid,pr");
  MetricResults results = compute_metrics(real_f, fake_f, options);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  j["real_count"] = real.images.size(0);
  j["fake_count"] = fake.images.size(0);
  j["features"] = extractor->id();
  j["device"] = device.str();
  j["seed"] = a.seed;
  for (const auto& [k, v] : results) j["metrics"][k] = v;
  j["seconds"] = seconds;
  std::printf("%-24s %s\n", "metric", "value");
  for (const auto& [k, v] : results)
    if (k.rfind("class_", 0) != 0) std::printf("%-24s %.6g\n", k.c_str(), v);
  if (!report.empty()) {
    atomic_write_file(report, j.dump(2) + "\n");
    std::printf("report: %s\n", report.c_str());
  }
  return 0;
}

int run_export(const ExportArgs& a) {
  const fs::path file = Checkpoint::locate(a.source);
  Checkpoint ck = Checkpoint::read(file);
  const fs::path run_dir = run_folder_of(file);
  fs::path out = !a.out.empty()                 ? fs::path(a.out)
                 : file.filename() == "last.pt" ? run_dir / "weights"
                                                : run_dir / "weights" / file.stem();
  auto networks = ck.get_dict("networks");
  if (networks.empty()) throw Error("export: checkpoint " + file.string() + " holds no networks");
  // Everything read and checked before the first file is written.
  std::vector<std::pair<std::string, NamedTensors>> states;
  for (const auto& e : networks) {
    const std::string name = e.key().toStringRef();
    states.emplace_back(name, ck.network(name));
  }
  if (ck.has("ema"))
    for (const auto& e : ck.get_dict("ema")) {
      const std::string name = e.key().toStringRef();
      states.emplace_back(name + "_ema", ck.get_tensors("ema", name));
    }
  prepare_output_folder(out, "export --out");
  const std::string model = ck.get_string("model");
  for (const auto& [name, state] : states) {
    fs::path dest = out / (name + (a.format == "pt" ? ".pt" : ".safetensors"));
    if (a.format == "pt")
      save_state_dict(dest, state);
    else
      save_safetensors(dest, state,
                       {{"format", "pt"}, {"forgery_model", model}, {"forgery_network", name},
                        {"forgery_epoch", std::to_string(ck.get_int("epoch"))}});
    std::printf("wrote %s (%zu tensors)\n", dest.c_str(), state.size());
  }
  return 0;
}

int run_report(const std::string& run_dir) {
  write_report_for_run(run_dir);
  std::printf("wrote %s\n", (fs::path(run_dir) / "report.html").c_str());
  return 0;
}

int run_list() {
  std::printf("presets:\n");
  for (const auto& p : builtin_presets()) std::printf("  %s\n", p.name);
  std::printf("models (option model; trained by its recipe):\n");
  for (const auto* m : all_models())
    std::printf("  %-10s %-8s %s\n", m->name.c_str(), m->recipe.c_str(), m->description.c_str());
  std::printf("image-to-image generators (option netG):\n");
  for (const auto& n : image_generator_names())
    std::printf("  %-10s %s\n", n.c_str(), find_image_generator(n).description.c_str());
  std::printf("image-to-image discriminators (option netD):\n");
  for (const auto& n : image_discriminator_names())
    std::printf("  %-10s %s\n", n.c_str(), find_image_discriminator(n).description.c_str());
  std::printf("datasets (forgery data download):\n");
  for (const auto& d : remote_datasets()) std::printf("  %s\n", d.name.c_str());
  return 0;
}

}  // namespace forgery::app
