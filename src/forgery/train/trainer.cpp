#include "forgery/train/trainer.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

#include "forgery/core/background.h"
#include "forgery/core/error.h"
#include "forgery/core/fs.h"
#include "forgery/core/precision.h"
#include "forgery/core/progress.h"
#include "forgery/core/rng.h"
#include "forgery/core/runtime.h"
#include "forgery/core/stop.h"
#include "forgery/io/grid.h"
#include "forgery/io/image.h"
#include "forgery/io/plot.h"
#include "forgery/io/safetensors.h"
#include "forgery/train/report.h"
#include "forgery/io/state_dict.h"
#include "forgery/models/registry.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/train/checkpoint.h"
#include "forgery/train/cuda_step.h"
#include "forgery/train/fused_adam.h"
#include "forgery/train/optimizer_state.h"

namespace forgery {
namespace {
// Close to the process's start: when the library was loaded.
const std::chrono::steady_clock::time_point kLoaded = std::chrono::steady_clock::now();
std::atomic<bool> first_trainer{true};
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

std::string epoch_file(const char* prefix, int64_t epoch, const char* ext) {
  char name[64];
  std::snprintf(name, sizeof name, "%s%04lld%s", prefix, static_cast<long long>(epoch), ext);
  return name;
}

// Visuals and evaluation run the networks without changing the training: the random stream,
// every buffer (BatchNorm's running statistics move in training mode) and the training flags
// are put back afterwards.
class KeepTrainingState {
 public:
  explicit KeepTrainingState(const std::vector<NetworkDecl>& networks) : rng_(capture_rng_state()) {
    for (const auto& n : networks) {
      modes_.emplace_back(n.module.get(), n.module->is_training());
      for (const auto& b : n.module->buffers(true))
        if (b.defined()) buffers_.emplace_back(b, b.clone());
    }
  }
  ~KeepTrainingState() {
    torch::NoGradGuard no_grad;
    for (auto& [live, copy] : buffers_) live.copy_(copy);
    for (auto& [m, training] : modes_) m->train(training);
    try {
      restore_rng_state(rng_);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "forgery: %s\n", e.what());
    }
  }

 private:
  std::map<std::string, at::Tensor> rng_;
  std::vector<std::pair<torch::nn::Module*, bool>> modes_;
  std::vector<std::pair<at::Tensor, at::Tensor>> buffers_;
};

// The generators' averaged weights in their parameters for a scope (ema_kimg: pictures,
// evaluation and final samples), and their trained weights back when it ends. In place, so that
// the parameters keep their storage (captured CUDA graphs refer to it).
class AveragesInUse {
 public:
  explicit AveragesInUse(const std::vector<WeightAverage>& averages) {
    torch::NoGradGuard no_grad;
    auto use = [this](const at::Tensor& live, const at::Tensor& average) {
      trained_.emplace_back(live, live.clone());
      live.copy_(average);
    };
    for (const auto& a : averages) {
      for (size_t i = 0; i < a.live.size(); ++i) use(a.live[i], a.mean[i]);
      for (size_t i = 0; i < a.statistics.size(); ++i) use(a.live_buffers[i], a.statistics[i]);
    }
  }
  ~AveragesInUse() {
    torch::NoGradGuard no_grad;
    for (auto& [live, trained] : trained_) live.copy_(trained);
  }
  AveragesInUse(const AveragesInUse&) = delete;
  AveragesInUse& operator=(const AveragesInUse&) = delete;

 private:
  std::vector<std::pair<at::Tensor, at::Tensor>> trained_;
};

// This process's random generator states and the recipe's own state, as checkpoints hold them
// (for the run, and for each rank of a data-parallel run).
c10::impl::GenericDict rng_dict() {
  NamedTensors rng;
  for (const auto& [k, t] : capture_rng_state()) rng.emplace_back(k, t);
  return to_dict(rng);
}

c10::impl::GenericDict recipe_state_dict(const Recipe& recipe) {
  auto extra = make_dict();
  for (const auto& [k, v] : recipe.extra_state()) extra.insert(k, v);
  return extra;
}

NamedModules modules_of(const std::vector<NetworkDecl>& all, const std::vector<std::string>& names) {
  NamedModules out;
  for (const auto& n : names) {
    auto it = std::find_if(all.begin(), all.end(), [&](const NetworkDecl& d) { return d.name == n; });
    if (it == all.end()) throw std::logic_error("optimiser over unknown network " + n);
    out.emplace_back(it->name, it->module);
  }
  return out;
}
}  // namespace

// The step's view of the trainer: every optimiser step of every recipe goes through here.
class Trainer::Context : public StepContext {
 public:
  explicit Context(Trainer& t) : t_(t) {}
  void zero_grad(const std::string& name) override { clear_grads(t_.optimizer(name)); }
  void step(const std::string& name) override {
    auto& opt = t_.optimizer(name);
    if (t_.group_) {
      // Data-parallel: the gradients averaged over ranks in one flattened bucket, with the
      // ranks' stop requests in the same collective. A gradient undefined here is undefined on
      // every rank (the same code ran), and Adam skips it as in one process.
      std::vector<at::Tensor> grads;
      for (auto& g : opt.param_groups())
        for (auto& p : g.params())
          if (p.grad().defined()) grads.push_back(p.grad());
      t_.stop_votes_ = t_.group_->average(grads, stop_requested() ? 1 : 0);
    }
    adam_step(opt);  // which also drops autocast's stale bf16 copies of the weights
  }
  // Noise for the whole global batch from the stream every rank shares, sliced: a world of W
  // trains on exactly the noise of a world of one.
  at::Tensor randn(at::IntArrayRef sizes, const at::TensorOptions& options) override {
    if (!t_.group_) return StepContext::randn(sizes, options);
    std::vector<int64_t> global(sizes.begin(), sizes.end());
    const int64_t n = global.at(0);
    global[0] = n * t_.world_;
    at::Tensor all = at::randn(global, *t_.shared_gen_, options.device(at::kCPU));
    return to_device_async(all.narrow(0, t_.rank_ * n, n), options.device());
  }

 private:
  Trainer& t_;
};

Trainer::Trainer(Config config, fs::path run_dir)
    : config_(std::move(config)), run_dir_(std::move(run_dir)), metrics_(run_dir_) {
  // The time line of a run counts from the process's start (the forgery command); a later
  // trainer of the same process (a program training several runs) from its own construction.
  started_ = first_trainer.exchange(false) ? kLoaded : std::chrono::steady_clock::now();
  device_ = select_device(config_.get_string("device"));
  recipe_name_ = find_model(config_.get_string("model")).recipe;
  recipe_ = find_recipe(recipe_name_).make(config_, device_);
  schedule_.policy = config_.get_string("lr_policy");
  precision_ = parse_precision(config_.get_string("precision"));
  apply_precision(device_, precision_);
  choose_algorithms(device_, config_.get_bool("deterministic"));
  // Before any file of the run is touched (data-parallel is checked when the group is set).
  if (config_.get_string("cuda_graphs") == "on")
    if (const std::string why = graphs_unavailable(); !why.empty()) throw UsageError("option cuda_graphs on: " + why);
  schedule_.n_epochs = config_.get_int("n_epochs");
  schedule_.n_epochs_decay = config_.get_int("n_epochs_decay");
  ema_kimg_ = config_.get_float("ema_kimg");
  ema_rampup_ = config_.get_float("ema_rampup");
  ema_statistics_ = config_.get_string("ema_batchnorm") == "recompute";
}

Trainer::~Trainer() = default;

torch::nn::Module& Trainer::network(const std::string& name) {
  for (auto& n : networks_)
    if (n.name == name) return *n.module;
  throw std::logic_error("no network named " + name);
}

torch::optim::Adam& Trainer::optimizer(const std::string& name) {
  auto it = optimizers_.find(name);
  if (it == optimizers_.end()) throw std::logic_error("no optimiser named " + name);
  return *it->second;
}

void Trainer::set_group(std::shared_ptr<dist::Group> group, bool keep_alone) {
  if (!group || (group->size() == 1 && !keep_alone)) {
    group_.reset();
    rank_ = 0;
    world_ = 1;
    return;
  }
  if (config_.get_string("cuda_graphs") == "on" && device_.is_cuda())
    throw UsageError("option cuda_graphs on: data-parallel steps run eagerly (the gradient all-reduce is not captured)");
  group_ = std::move(group);
  rank_ = group_->rank();
  world_ = group_->size();
  const int64_t bs = config_.get_int("batch_size");
  if (bs % world_ != 0)
    throw UsageError("option batch_size " + std::to_string(bs) + " (the global batch) does not split into " +
                     std::to_string(world_) + " equal shares: use a multiple of " + std::to_string(world_));
  // One device per rank: CUDA ranks on one machine take the GPU of their local rank.
  if (device_.is_cuda() && config_.get_string("device").find(':') == std::string::npos) {
    const int64_t n = static_cast<int64_t>(torch::cuda::device_count());
    if (n > 0) device_ = c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(group_->local_rank() % n));
    recipe_ = find_recipe(recipe_name_).make(config_, device_);
  }
}

void Trainer::build() {
  recipe_->build();
  networks_ = recipe_->networks();
  for (auto& n : networks_) n.module->train();
  // Channels-last convolution weights: cuDNN then runs the convolutions (and the activations
  // follow the weights' layout) without transposes. Checkpoints and weights files store
  // contiguous tensors whatever the layout here.
  const std::string format = config_.get_string("memory_format");
  if (format == "channels_last" || (format == "auto" && device_.is_cuda() && recipe_->channels_last_on_cuda()))
    for (auto& n : networks_)
      for (auto& p : n.module->parameters())
        if (p.dim() == 4) p.set_data(p.data().contiguous(at::MemoryFormat::ChannelsLast));
  optimizer_decls_ = recipe_->optimizers();
  for (const auto& o : optimizer_decls_) {
    std::vector<at::Tensor> params;
    for (const auto& [_, m] : modules_of(networks_, o.networks))
      for (const auto& p : m->parameters()) params.push_back(p);
    optimizers_[o.name] =
        std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(o.lr).betas({o.beta1, o.beta2}));
    lr_[o.name] = o.lr;
  }
  losses_ = recipe_->losses();
  for (const auto& l : losses_) {
    loss_sums_[l.name] = at::zeros({}, at::TensorOptions().device(device_));
    loss_counts_[l.name] = 0;
  }
}

void Trainer::set_learning_rates() {
  const double factor = schedule_.factor(epoch_);
  for (const auto& o : optimizer_decls_) {
    lr_[o.name] = o.lr * factor;
    for (auto& group : optimizers_.at(o.name)->param_groups())
      static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr_[o.name]);
  }
}

void Trainer::start_new(bool write_config_now) {
  seed_everything(static_cast<uint64_t>(config_.get_int("seed")));
  // Networks are created (and initialised) first, in the reference program's order, so the
  // same seed gives the same initial weights as the PyTorch program after torch.manual_seed.
  naming_sizes_when_out_of_memory("the networks", {"nz", "width", "ngf", "ndf", "image_size", "num_classes", "n_layers_D"},
                                  [this] { build(); });
  recipe_->start_new();
  if (group_) start_rank_streams();
  set_learning_rates();
  if (write_config_now) write_config();
}

void Trainer::write_config() {
  if (writer()) atomic_write_file(run_dir_ / "config.toml", config_.to_toml());
}

void Trainer::start_rank_streams() {
  // The shared stream continues where a world of one would be; each rank's own generators
  // (dropout, augmentation, pools) start from a seed of its own.
  auto def = at::detail::getDefaultCPUGenerator();
  shared_gen_ = at::make_generator<at::CPUGeneratorImpl>();
  {
    std::lock_guard<std::mutex> lock(def.mutex());
    shared_gen_->set_state(def.get_state());
  }
  seed_rank_streams(static_cast<uint64_t>(config_.get_int("seed")), rank_, global_step_);
}

bool Trainer::restore_rank_state(const Checkpoint& ck) {
  const int64_t saved_world = ck.has("world_size") ? ck.get_int("world_size") : 1;
  if (!group_) {
    if (saved_world > 1 && writer())
      std::fprintf(stderr, "forgery: %s was written by %lld ranks; one process continues the run (same data order "
                   "and schedule), not bit for bit as %lld ranks would\n", ck.path().c_str(), (long long)saved_world,
                   (long long)saved_world);
    return false;
  }
  shared_gen_ = at::make_generator<at::CPUGeneratorImpl>();
  at::Tensor shared = ck.has("shared_rng") ? ck.get_tensor("shared_rng") : ck.get("rng", "cpu").toTensor();
  try {
    shared_gen_->set_state(shared);
  } catch (const c10::Error& e) {
    throw Error("checkpoint " + ck.path().string() + ": the shared random state cannot be restored: " + e.what_without_backtrace());
  }
  if (saved_world != world_ || !ck.has("ranks")) {
    if (writer())
      std::fprintf(stderr, "forgery: %s was written by %lld rank(s); continuing with %d: the data order and noise "
                   "continue, each rank's own streams start anew (not bit for bit)\n", ck.path().c_str(),
                   (long long)saved_world, world_);
    seed_rank_streams(static_cast<uint64_t>(config_.get_int("seed")), rank_, global_step_);
    return false;
  }
  auto ranks = ck.dict().at("ranks").toList();
  if (static_cast<int64_t>(ranks.size()) != saved_world)
    throw Error("checkpoint " + ck.path().string() + " holds the state of " + std::to_string(ranks.size()) + " ranks, not " +
                std::to_string(saved_world));
  auto mine = ranks.get(rank_).toGenericDict();
  std::map<std::string, at::Tensor> rng;
  for (const auto& e : mine.at("rng").toGenericDict()) rng[e.key().toStringRef()] = e.value().toTensor();
  restore_rng_state(rng);
  recipe_->load_extra_state(ck.with_entry("recipe_state", mine.at("recipe_state")));
  auto buffers = mine.at("buffers").toGenericDict();
  torch::NoGradGuard no_grad;
  for (auto& n : networks_)
    for (const auto& item : n.module->named_buffers(true)) {
      const std::string key = n.name + "/" + item.key();
      if (item.value().defined() && buffers.contains(key)) item.value().copy_(buffers.at(key).toTensor());
    }
  // The rank's own sums of the epoch in progress: its part of the epoch's means, added up in
  // the order of a run that was not stopped.
  if (!in_epoch_ || !mine.contains("loss_sums")) return false;
  auto own = mine.at("loss_sums").toGenericDict();
  for (const auto& l : losses_)
    if (!own.contains(l.name)) return false;
  for (const auto& l : losses_) loss_sums_[l.name] = own.at(l.name).toTensor().to(device_);
  return true;
}

namespace {
uint64_t hash_parameters(const std::vector<NetworkDecl>& networks) {
  uint64_t h = 1469598103934665603ull;
  for (const auto& n : networks)
    for (const auto& p : n.module->parameters()) {
      at::Tensor c = p.detach().cpu().contiguous();
      const auto* b = static_cast<const unsigned char*>(c.data_ptr());
      const size_t bytes = c.numel() * c.element_size();
      uint64_t words = 0;
      for (size_t i = 0; i + 8 <= bytes; i += 8) {
        std::memcpy(&words, b + i, 8);
        h = (h ^ words) * 1099511628211ull;
      }
      for (size_t i = bytes / 8 * 8; i < bytes; ++i) h = (h ^ b[i]) * 1099511628211ull;
    }
  return h;
}
}  // namespace

void Trainer::gather_rank_states(bool mid_epoch) {
  auto d = make_dict();
  if (mid_epoch) {
    auto sums = make_dict();
    for (const auto& [k, t] : loss_sums_) sums.insert(k, t.detach().cpu());
    d.insert("loss_sums", sums);
  }
  d.insert("rng", rng_dict());
  d.insert("recipe_state", recipe_state_dict(*recipe_));
  auto buffers = make_dict();
  for (const auto& n : networks_)
    for (const auto& item : n.module->named_buffers(true))
      if (item.value().defined()) buffers.insert(n.name + "/" + item.key(), item.value().detach().cpu());
  d.insert("buffers", buffers);
  const uint64_t hash = hash_parameters(networks_);
  d.insert("param_hash", static_cast<int64_t>(hash));
  const auto all = group_->all_gather(torch::pickle_save(d));
  if (!writer()) return;
  c10::impl::GenericList list(c10::AnyType::get());
  for (int r = 0; r < world_; ++r) {
    c10::IValue v = torch::pickle_load(all[r]);
    if (v.toGenericDict().at("param_hash").toInt() != static_cast<int64_t>(hash))
      throw Error("rank " + std::to_string(r) + "'s parameters differ from rank 0's after step " +
                  std::to_string(global_step_) + ": the ranks diverged (a nondeterministic collective?)");
    list.push_back(v);
  }
  gathered_ = list;
}

std::map<std::string, at::Tensor> Trainer::global_loss_sums() {
  std::map<std::string, at::Tensor> out;
  for (const auto& [k, t] : loss_sums_) out[k] = t.clone();
  if (group_) {
    std::vector<at::Tensor> ts;
    for (auto& [_, t] : out) ts.push_back(t);
    group_->sum(ts);
    for (auto& [_, t] : out) t.div_(static_cast<double>(world_));
  }
  return out;
}

void Trainer::restore(const Checkpoint& ck) {
  const std::string what = "checkpoint " + ck.path().string();
  if (ck.get_string("recipe") != recipe_name_)
    throw Error(what + " belongs to a '" + ck.get_string("recipe") + "' run, not a '" + recipe_name_ + "' run");
  if (ck.get_string("model") != config_.get_string("model"))
    throw Error(what + " holds model '" + ck.get_string("model") + "', the config asks for '" +
                config_.get_string("model") + "'");
  build();
  for (auto& n : networks_) load_module_state(*n.module, ck.network(n.name), what + " (network " + n.name + ")");
  for (const auto& o : optimizer_decls_)
    load_adam_state(*optimizers_.at(o.name), modules_of(networks_, o.networks),
                    ck.has("optimizers", o.name) ? ck.get_tensors("optimizers", o.name) : NamedTensors{},
                    what + " (optimiser " + o.name + ")");
  if (ema_kimg_ > 0) {
    start_averages();
    torch::NoGradGuard no_grad;
    for (auto& a : averages_) {
      if (!ck.has("ema", a.network)) {
        // A run that had none (ema_kimg is fixed for a run; a checkpoint of another program).
        if (writer())
          std::fprintf(stderr, "forgery: warning: %s holds no average of %s; it starts from the present weights\n",
                       ck.path().c_str(), a.network.c_str());
        continue;
      }
      std::map<std::string, at::Tensor> saved;
      for (auto& [k, t] : ck.get_tensors("ema", a.network)) saved[k] = t;
      for (size_t i = 0; i < a.keys.size(); ++i) {
        auto it = saved.find(a.keys[i]);
        if (it == saved.end() || it->second.sizes() != a.mean[i].sizes())
          throw Error(what + ": the average of network " + a.network + " has " +
                      (it == saved.end() ? "no " + a.keys[i] : a.keys[i] + " of another shape"));
        a.mean[i].copy_(it->second);
      }
    }
  }
  recipe_->load_extra_state(ck);
  best_value_ = ck.get_float("best_value");
  best_epoch_ = ck.get_int("best_epoch");
  epoch_ = ck.get_int("epoch");
  global_step_ = ck.get_int("global_step");
  batch_ = ck.get_int("batch_in_epoch");
  set_learning_rates();
  // The rates as saved, exactly (a format-1 checkpoint has none: its schedule was constant);
  // but where resume lengthened a linear schedule at an epoch's end, the next epoch takes the new
  // schedule's rate (the saved one is the old schedule's, 0 once it had run out).
  const Config saved = ck.config({});
  const bool new_schedule = batch_ == 0 && (saved.get_int("n_epochs") != schedule_.n_epochs ||
                                            saved.get_int("n_epochs_decay") != schedule_.n_epochs_decay);
  for (const auto& o : optimizer_decls_)
    if (ck.has("schedules", o.name) && !new_schedule) {
      auto s = ck.get("schedules", o.name).toGenericDict();
      lr_[o.name] = s.at("lr").toDouble();
      for (auto& group : optimizers_.at(o.name)->param_groups())
        static_cast<torch::optim::AdamOptions&>(group.options()).lr(lr_[o.name]);
    }
  in_epoch_ = batch_ > 0;
  if (in_epoch_) {
    auto es = ck.get_dict("epoch_state");
    permutation_ = es.at("permutation").toTensor().to(device_);
    auto sums = es.at("sums").toGenericDict(), counts = es.at("counts").toGenericDict();
    for (const auto& l : losses_) {
      if (!sums.contains(l.name) || !counts.contains(l.name))
        throw Error(what + ": the epoch in progress has no sum for loss '" + l.name + "'");
      loss_sums_[l.name] = sums.at(l.name).toTensor().to(device_);
      loss_counts_[l.name] = counts.at(l.name).toInt();
    }
    images_ = es.at("images").toInt();
    seconds_before_ = es.at("seconds").toDouble();
  }
  std::map<std::string, at::Tensor> rng;
  for (const auto& [k, t] : ck.get_tensors("rng")) rng[k] = t;
  restore_rng_state(rng);
  const bool own_sums = restore_rank_state(ck);
  // Otherwise (another world size, or a checkpoint from before per-rank sums) the epoch's global
  // sums (per-step means over all ranks) go on from rank 0, scaled to this world's sum over ranks.
  if (in_epoch_ && !own_sums)
    for (auto& [_, t] : loss_sums_) {
      if (rank_ == 0) t.mul_(static_cast<double>(world_));
      else t.zero_();
    }
  if (!writer()) return;
  metrics_.load();
  metrics_.truncate_after(epoch_);
  atomic_write_file(run_dir_ / "config.toml", config_.to_toml());
  std::error_code ec;
  if (fs::equivalent(ck.path(), run_dir_ / "checkpoints" / "last.pt", ec)) finish_interrupted_epoch_end();
}

std::string Trainer::resume_world_hint() const {
  if (world_ == 1) return "";
  return " --nproc " + std::to_string(world_) + " (or your launcher with " + std::to_string(world_) +
         " ranks: an exact resume needs the same world size)";
}

void Trainer::finish_interrupted_epoch_end() {
  // A process killed mid-write leaves its temporary behind (never a torn file).
  if (int n = remove_stale_temporaries(run_dir_); n > 0)
    std::fprintf(stderr, "forgery: removed %d temporary file(s) left by an interrupted write\n", n);
  if (in_epoch_ || epoch_ == 0) return;
  // last.pt holds the end of epoch_; a kill right after writing it may have cut short the
  // links that end an epoch. Made again (links of the same file; no training repeated).
  const fs::path last = run_dir_ / "checkpoints" / "last.pt";
  if (best_epoch_ == epoch_) atomic_link_or_copy(last, run_dir_ / "checkpoints" / "best.pt");
  const int64_t every = config_.get_int("checkpoint_every");
  const fs::path numbered = run_dir_ / "checkpoints" / epoch_file("epoch_", epoch_, ".pt");
  std::error_code ec;
  if (every > 0 && epoch_ % every == 0 && !fs::exists(numbered, ec)) atomic_link_or_copy(last, numbered);
}

std::pair<std::string, fs::path> split_init_from(const std::string& arg) {
  const size_t eq = arg.find('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size()) return {"", arg};
  const std::string name = arg.substr(0, eq);
  if (name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
    return {"", arg};
  std::error_code ec;
  if (fs::exists(arg, ec)) return {"", arg};  // a file whose name has a '=' in it
  return {name, arg.substr(eq + 1)};
}

bool file_names_network(const fs::path& file, const std::string& net) {
  const std::string stem = file.stem().string();
  return stem == net || (stem.size() > net.size() && stem.compare(stem.size() - net.size(), net.size(), net) == 0 &&
                         stem[stem.size() - net.size() - 1] == '_');
}

void Trainer::init_from(const std::vector<fs::path>& args) {
  auto is_network = [&](const std::string& name) {
    return std::any_of(networks_.begin(), networks_.end(), [&](const NetworkDecl& d) { return d.name == name; });
  };
  std::string names;
  for (const auto& n : networks_) names += (names.empty() ? "" : ", ") + n.name;
  // Every file matched to its network first, then loaded: a bad file or a network given twice
  // leaves every network as it was.
  std::map<std::string, fs::path> source;  // network -> the file it is initialised from
  struct Load {
    NetworkDecl* network;
    NamedTensors state;
    fs::path file;
  };
  std::vector<Load> loads;
  for (const auto& arg : args) {
    const auto [wanted, file] = split_init_from(arg.string());
    if (!wanted.empty() && !is_network(wanted))
      throw UsageError("--init-from " + arg.string() + ": model '" + config_.get_string("model") +
                       "' has no network '" + wanted + "' (its networks: " + names + ")");
    c10::IValue v = load_weights_file(file);
    // A Forgery checkpoint: its networks' trained weights, by name (fine-tuning from a run).
    if (Checkpoint::is_checkpoint(v)) v = Checkpoint::from_value(v, file).get_dict("networks");
    std::vector<std::string> loaded;
    // A state_dict, or a dict of them keyed by network name ({"G": {...}, "D": {...}}). The
    // network is the one named (NAME=FILE, or the dict's key), else the one whose keys and
    // shapes it fits; where several fit alike (CycleGAN's G_A and G_B), the one the file's name
    // ends with (G_B.pt, latest_net_G_B.pth), else the user is asked to name it.
    auto try_load = [&](const NamedTensors& raw, const std::string& key) {
      const std::string named = !wanted.empty() ? wanted : (is_network(key) ? key : "");
      std::vector<NetworkDecl*> fits;
      for (auto& n : networks_)
        if ((named.empty() || n.name == named) && state_matches(*n.module, adapt_reference_state(*n.module, raw)))
          fits.push_back(&n);
      if (fits.empty()) return;
      NetworkDecl* pick = fits.size() == 1 ? fits[0] : nullptr;
      if (!pick) {
        std::vector<NetworkDecl*> by_name;
        for (NetworkDecl* n : fits)
          if (file_names_network(file, n->name)) by_name.push_back(n);
        if (by_name.size() == 1) pick = by_name[0];
      }
      if (!pick) {
        std::string alike;
        for (NetworkDecl* n : fits) alike += (alike.empty() ? "" : " and ") + n->name;
        throw UsageError("--init-from " + file.string() + " fits networks " + alike + " alike; name the one it is for: "
                         "--init-from " + fits.back()->name + "=" + file.string());
      }
      if (auto it = source.find(pick->name); it != source.end())
        throw UsageError("--init-from: network " + pick->name + " given twice (" + it->second.string() + " and " +
                         file.string() + ")");
      loads.push_back({pick, adapt_reference_state(*pick->module, raw), file});
      source[pick->name] = file;
      loaded.push_back(pick->name);
    };
    if (v.isGenericDict()) {
      bool nested = false;
      for (const auto& e : v.toGenericDict())
        if (e.value().isGenericDict()) {
          nested = true;
          try_load(tensors_of(e.value(), file.string()), e.key().isString() ? e.key().toStringRef() : "");
        }
      if (!nested) try_load(tensors_of(v, file.string()), "");
    }
    if (loaded.empty()) {
      // Say how the file differs from the network it is most like (the most keys in common).
      std::string closest, why;
      size_t best = 0;
      const NamedTensors raw = v.isGenericDict() ? tensors_of(v, file.string()) : NamedTensors{};
      for (const auto& n : networks_) {
        if (!wanted.empty() && n.name != wanted) continue;
        NamedTensors state = adapt_reference_state(*n.module, raw);
        std::set<std::string> keys;
        for (const auto& [k, _] : module_state(*n.module)) keys.insert(k);
        size_t common = 0;
        for (const auto& [k, _] : state) common += keys.count(k);
        if (common > best) {
          best = common;
          closest = n.name;
          why = state_mismatch(*n.module, state);
        }
      }
      if (!wanted.empty())
        throw Error(file.string() + " does not fit network " + wanted + " of model '" + config_.get_string("model") +
                    "'" + (closest.empty() ? ": it shares no key with it" : ":" + why));
      throw Error(file.string() + " matches none of the networks of model '" + config_.get_string("model") + "' (" +
                  names + ")" + (closest.empty() ? ": it shares no key with them" : "; it is closest to " + closest + ":" + why));
    }
  }
  for (const auto& l : loads) {
    load_module_state(*l.network->module, l.state, l.file.string());
    if (rank_ == 0) std::fprintf(stderr, "forgery: initialised %s from %s\n", l.network->name.c_str(), l.file.c_str());
  }
}

void Trainer::load_data() {
  if (!data_)
    naming_sizes_when_out_of_memory("the data", {"image_size", "channels", "load_size", "crop_size"},
                                    [this] { data_ = recipe_->load_data(); });
}

int64_t Trainer::batches_per_epoch() const {
  if (!data_) throw std::logic_error("Trainer::batches_per_epoch before the data is loaded");
  const int64_t n = data_->size(), b = config_.get_int("batch_size");
  int64_t nb = config_.get_bool("drop_last") ? n / b : n / b + (n % b != 0);  // no n + b - 1: b may be huge
  // Equal shares: a last partial batch smaller than the world is left out.
  if (world_ > 1 && nb > 0 && (n - (nb - 1) * b) < world_) --nb;
  return nb;
}

int64_t Trainer::global_batch(int64_t b) const {
  const int64_t bs = config_.get_int("batch_size"), len = std::min(bs, data_->size() - b * bs);
  // Equal shares of the batch, so that every rank issues the same collectives.
  return len / world_ * world_;
}

at::Tensor Trainer::shard(int64_t b, int64_t* global) const {
  *global = global_batch(b);
  const int64_t share = *global / world_;
  return permutation_.narrow(0, b * config_.get_int("batch_size") + rank_ * share, share);
}

void Trainer::begin_epoch() {
  collective_before_ = group_ ? group_->collective_seconds() : 0;
  // Drawn from the CPU generator whatever the device, so CPU and CUDA runs see the same order.
  permutation_ = to_device_async(shared_gen_ ? at::randperm(data_->size(), *shared_gen_, at::TensorOptions().dtype(at::kLong))
                                             : at::randperm(data_->size(), at::TensorOptions().dtype(at::kLong)),
                                 device_);
  batch_ = 0;
  for (auto& [_, t] : loss_sums_) t.zero_();
  for (auto& [_, c] : loss_counts_) c = 0;
  images_ = 0;
  seconds_before_ = 0;
  in_epoch_ = true;
}

std::string Trainer::running_status() const {
  std::string s;
  for (const auto& l : losses_) {
    const int64_t c = loss_counts_.at(l.name);
    if (c == 0) continue;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s%s %.4f", s.empty() ? "" : " ", l.name.c_str(),
                  loss_sums_.at(l.name).item<double>() / c);
    s += buf;
  }
  return s;
}

ReportInfo Trainer::report_info() const {
  ReportInfo info;
  for (const auto& l : losses_) info.losses.push_back({l.name, l.label, l.plot});
  info.best_metric = recipe_->best_metric();
  return info;
}

void Trainer::write_run_report() { write_run_report(report_info()); }

void Trainer::write_run_report(const ReportInfo& info) {
  try {
    write_report(run_dir_, info);
  } catch (const Error& e) {
    // The report is a view of the run; a failure to write it never stops the training.
    std::fprintf(stderr, "forgery: report.html not written: %s\n", e.what());
  }
}

void Trainer::check_ranks_agree() {
  // Options that may differ between ranks: where each runs and how it reports, not what it computes.
  static const std::set<std::string> per_rank = {"device", "threads", "progress", "data_dir", "async_writes",
                                                 "dist_timeout", "dist_backend"};
  std::string mine;
  for (const auto& s : config_.specs())
    if (!per_rank.count(s.key)) mine += s.key + " = " + config_.value_text(s.key) + "\n";
  const auto all = group_->all_gather(std::vector<char>(mine.begin(), mine.end()));
  auto lines = [](const std::vector<char>& bytes) {
    std::map<std::string, std::string> m;
    std::istringstream in(std::string(bytes.begin(), bytes.end()));
    for (std::string line; std::getline(in, line);) {
      const size_t eq = line.find(" = ");
      if (eq != std::string::npos) m[line.substr(0, eq)] = line.substr(eq + 3);
    }
    return m;
  };
  const auto first = lines(all[0]);
  for (size_t r = 1; r < all.size(); ++r) {
    if (all[r] == all[0]) continue;
    const auto other = lines(all[r]);
    std::string differ;
    int shown = 0;
    for (const auto& [key, value] : other) {
      auto it = first.find(key);
      if (it != first.end() && it->second == value) continue;
      if (++shown <= 4)
        differ += (differ.empty() ? "" : ", ") + key + " = " + value + " (rank 0: " +
                  (it == first.end() ? std::string("no such option") : it->second) + ")";
    }
    for (const auto& [key, value] : first)
      if (!other.count(key) && ++shown <= 4) differ += (differ.empty() ? "" : ", ") + key + " missing (rank 0: " + value + ")";
    throw UsageError("rank " + std::to_string(r) + " was started with other options than rank 0: " + differ +
                     "; every rank must get the same preset and --set options");
  }
}

int Trainer::train() {
  load_data();
  if (group_) {
    check_ranks_agree();
    // Rank 0's networks on every rank (its buffers too, for a new run; a resumed rank has its own).
    std::vector<at::Tensor> state;
    for (const auto& n : networks_)
      for (const auto& p : n.module->parameters()) state.push_back(p.detach());
    const bool fresh = global_step_ == 0 && !in_epoch_;
    if (fresh)
      for (const auto& n : networks_)
        for (const auto& b : n.module->buffers(true))
          if (b.defined()) state.push_back(b);
    group_->broadcast(state);
  }
  // A new run's averages start at the weights it starts from (after --init-from, rank 0's).
  if (ema_kimg_ > 0 && averages_.empty()) start_averages();
  if (writer()) {
    const std::string version = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                                std::to_string(TORCH_VERSION_PATCH);
    record_machine(run_dir_, describe_machine(epoch_ > 0 || in_epoch_ ? "resumed" : "started", at::get_num_threads(),
                                              device_.str() + (config_.get_string("device") == "auto" ? " (auto)" : ""),
                                              version));
  }
  const int64_t epochs = config_.get_int("epochs");
  const int64_t bs = config_.get_int("batch_size");
  const int64_t nb = batches_per_epoch();
  if (nb == 0)
    throw Error("the dataset has " + std::to_string(data_->size()) + " examples, fewer than one batch of " +
                std::to_string(bs) + " with drop_last");
  const auto mode = writer() ? parse_progress_mode(config_.get_string("progress")) : ProgressMode::Off;
  if (writer())
    for (const char* sub : {"samples", "checkpoints", "weights"}) fs::create_directories(run_dir_ / sub);
  if (epoch_ >= epochs) {
    if (!writer()) {
      leave_group();
      return 0;
    }
    std::fprintf(stderr, "forgery: the run has already done %lld of %lld epochs; pass --epochs N to train further\n",
                 (long long)epoch_, (long long)epochs);
    // What the last epoch's end writes after its checkpoint, in case a kill came between.
    write_weights();
    write_final_artifacts();
    write_run_report();
    leave_group();
    return 0;
  }
  // Rank 0 writes each epoch's files on a background thread while the next epoch trains.
  if (writer() && config_.get_bool("async_writes")) background_ = std::make_unique<BackgroundWriter>();
  Context ctx(*this);
  setup_graphs();
  while (epoch_ < epochs) {
    if (!in_epoch_) begin_epoch();
    ProgressBar bar("epoch " + std::to_string(epoch_ + 1) + "/" + std::to_string(epochs), nb, bs, mode);
    bar.set_status_source([this] { return running_status(); });
    auto t0 = std::chrono::steady_clock::now();
    if (startup_seconds_ < 0) startup_seconds_ = seconds_since(started_);
    while (batch_ < nb) {
      int64_t len = 0;
      const at::Tensor index = shard(batch_, &len);
      std::vector<LossValue> step_losses;
      try {
        AutocastScope autocast(device_, precision_);
        Batch batch = data_->batch(index);
        recipe_->prepare_batch(batch);
        if (graphs_ && recipe_->graph_safe_now()) {
          step_losses = graphs_->run(batch, [&](const Batch& b) { return recipe_->train_step(b, ctx); });
          if (graphs_off_.empty() && !graphs_->disabled_reason().empty()) {
            graphs_off_ = graphs_->disabled_reason();
            std::fprintf(stderr, "forgery: warning: CUDA graphs turned off, the steps run eagerly from here on: %s\n",
                         graphs_off_.c_str());
          }
        } else {
          step_losses = recipe_->train_step(batch, ctx);
        }
      } catch (const c10::Error& e) {
        // Weights that blew up, or a loss that refuses a NaN (BCE's probabilities must lie in
        // [0, 1], which a sigmoid's output leaves only as NaN, from overflowing activations).
        const std::string what = e.what_without_backtrace();
        const std::string net = first_non_finite_network();
        if (!net.empty() || what.find("should be between 0 and 1") != std::string::npos)
          throw Error(divergence_message("step " + std::to_string(global_step_ + 1) + " of epoch " +
                                             std::to_string(epoch_ + 1),
                                         net, "LibTorch: " + what.substr(0, what.find('\n'))));
        throw;
      }
      if (!averages_.empty()) update_averages(len);
      for (const auto& l : step_losses) {
        auto it = loss_sums_.find(l.name);
        if (it == loss_sums_.end()) throw std::logic_error("recipe reported undeclared loss " + l.name);
        it->second.add_(l.sum);
        loss_counts_[l.name] += l.count;
      }
      images_ += len;
      ++batch_;
      ++global_step_;
      bar.update(batch_, images_);
      if (after_step) after_step(global_step_);
      // Every rank stops after the same step: the one whose all-reduce carried a request.
      const bool stop = group_ ? stop_votes_ > 0 : stop_requested();
      if (stop && batch_ < nb) {
        bar.finish();
        wait_for_device();
        seconds_before_ += seconds_since(t0);
        if (background_) background_->wait();  // the last epoch's files first, then this one
        if (writer()) write_deferred();
        state_deferred_ = false;
        save_last_checkpoint();
        if (writer()) {
          write_weights();
          write_progress_animation();
          write_run_report();
          std::fprintf(stderr, "forgery: stopped in epoch %lld after step %lld; saved %s\n"
                       "forgery: continue exactly where it stopped with: forgery resume %s%s\n",
                       (long long)epoch_ + 1, (long long)global_step_, (run_dir_ / "checkpoints" / "last.pt").c_str(),
                       run_dir_.c_str(), resume_world_hint().c_str());
        }
        sync_with_writer("stop/" + std::to_string(global_step_));
        leave_group();
        return 128 + (stop_signal() != 0 ? stop_signal() : SIGTERM);
      }
    }
    bar.finish();
    // The epoch ends when the device has done its steps: a GPU runs behind the host, which has
    // only queued the last ones (graphed steps cost the host microseconds).
    wait_for_device();
    const double stepped = seconds_since(t0);
    steps_seconds_ += stepped;
    double seconds = seconds_before_ + stepped;
    const auto end_start = std::chrono::steady_clock::now();
    end_epoch(seconds);
    epoch_end_seconds_ += seconds_since(end_start);
    if ((group_ ? stop_votes_ > 0 : stop_requested()) && epoch_ < epochs) {
      if (background_) background_->wait();
      if (state_deferred_) {
        // The stop came after this epoch left its files to a later one: written now.
        write_deferred();
        state_deferred_ = false;
        save_last_checkpoint();
        write_weights();
      }
      if (writer()) {
        write_progress_animation();
        write_run_report();
        std::fprintf(stderr, "forgery: stopped after epoch %lld; continue with: forgery resume %s%s\n",
                     (long long)epoch_, run_dir_.c_str(), resume_world_hint().c_str());
      }
      leave_group();
      return 128 + (stop_signal() != 0 ? stop_signal() : SIGTERM);
    }
  }
  if (writer()) {
    if (background_) background_->wait();
    write_final_artifacts();
    write_run_report();
    if (graphs_)
      std::printf("CUDA graphs: %lld captured, %lld steps replayed, %lld eager\n", (long long)graphs_->captures(),
                  (long long)graphs_->replays(), (long long)graphs_->eager_steps());
    if (folded_epochs_ > 0)
      std::printf("checkpoints: %lld epochs left theirs to a later epoch (writing was slower than training)\n",
                  (long long)folded_epochs_);
    const double total = seconds_since(started_);
    std::printf("time: %.1f s in all: %.1f s before the first step, %.1f s in the steps, %.1f s at the epochs' ends "
                "(%.2f s reading the losses, %.2f s drawing, %.2f s the checkpoints' snapshots), %.1f s for the final "
                "files\n",
                total, std::max(startup_seconds_, 0.0), steps_seconds_, epoch_end_seconds_, loss_read_seconds_,
                picture_seconds_, snapshot_seconds_,
                total - std::max(startup_seconds_, 0.0) - steps_seconds_ - epoch_end_seconds_);
  }
  sync_with_writer("final");
  leave_group();
  return 0;
}

void Trainer::wait_for_device() const {
  if (device_.is_cuda()) torch::cuda::synchronize(device_.has_index() ? device_.index() : -1);
}

std::string Trainer::graphs_unavailable() const {
  if (!device_.is_cuda()) return "the device is the CPU";
  if (!cuda_step_built()) return "this build of Forgery has none (it needs a CUDA LibTorch; the configure output says why)";
  if (!recipe_->graph_safe_step())
    return "the " + recipe_name_ + " recipe's step makes decisions on the host (image pools)";
  if (group_) return "data-parallel steps run eagerly (the gradient all-reduce is not captured)";
  return "";
}

void Trainer::setup_graphs() {
  graphs_.reset();
  graphs_off_.clear();
  const std::string mode = config_.get_string("cuda_graphs");
  if (mode == "off") return;
  const std::string why = graphs_unavailable();
  if (!why.empty()) {
    if (mode == "on") throw UsageError("option cuda_graphs on: " + why);
    if (device_.is_cuda() && writer()) std::printf("steps: eager (no CUDA graphs: %s)\n", why.c_str());
    graphs_off_ = why;
    return;
  }
  std::vector<torch::optim::Adam*> optimizers;
  for (auto& [name, opt] : optimizers_) optimizers.push_back(opt.get());
  graphs_ = std::make_unique<GraphedSteps>(optimizers);
  if (writer()) std::printf("steps: CUDA graphs (each batch shape captured after two eager steps, then replayed)\n");
}

void Trainer::leave_group() {
  // Rank 0 serves the TCP store: it may only exit once every rank is past its last look at
  // the store (a last collective); NCCL's communicator then ends in step on every rank.
  if (group_) group_->leave();
}

void Trainer::sync_with_writer(const std::string& key) {
  if (!group_) return;
  if (writer()) group_->mark(key);
  else group_->wait_for_mark(key);
}

void Trainer::evaluate(MetricRow& row, bool* improved) {
  auto t0 = std::chrono::steady_clock::now();
  std::optional<Evaluation> ev;
  refresh_average_statistics();
  {
    KeepTrainingState keep(networks_);
    AveragesInUse average(averages_);
    ev = recipe_->evaluate(epoch_);
  }
  if (!ev) return;
  for (const auto& note : ev->notes)
    if (notes_said_.insert(note).second) std::fprintf(stderr, "forgery: eval_every: %s\n", note.c_str());
  for (auto& m : ev->metrics) row.push_back(std::move(m));
  if (std::isfinite(ev->best_value) && (best_epoch_ == 0 || ev->best_value < best_value_)) {
    best_value_ = ev->best_value;
    best_epoch_ = epoch_;
    *improved = true;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  row.emplace_back("eval_seconds", secs);
  std::printf("  eval:%s  (%.1f s)\n", ev->summary.c_str(), secs);
  std::fflush(stdout);
}

void Trainer::naming_sizes_when_out_of_memory(const std::string& what, std::initializer_list<const char*> keys,
                                              const std::function<void()>& body) const {
  auto message = [&](const std::string& detail) {
    std::string sizes;
    for (const char* key : keys)
      if (config_.has(key)) sizes += std::string(sizes.empty() ? "" : ", ") + key + " " + config_.value_text(key);
    return "not enough memory for " + what + " of model " + config_.get_string("model") + " with " + sizes + " on " +
           device_.str() + " (" + detail + "): check these options";
  };
  try {
    body();
  } catch (const c10::Error& e) {
    const std::string w = e.what_without_backtrace();
    if (w.find("can't allocate memory") == std::string::npos && w.find("out of memory") == std::string::npos) throw;
    throw Error(message(w.substr(0, w.find('\n'))));
  } catch (const std::bad_alloc&) {
    throw Error(message("std::bad_alloc"));
  } catch (const Error& e) {
    // The parallel image decoders hand a failed allocation on as its message.
    if (std::string(e.what()) != "std::bad_alloc") throw;
    throw Error(message("std::bad_alloc"));
  }
}

std::string Trainer::first_non_finite_network() const {
  torch::NoGradGuard no_grad;
  try {
    for (const auto& n : networks_)
      for (const auto& p : n.module->parameters())
        if (p.is_floating_point() && !at::isfinite(p).all().item<bool>()) return n.name;
  } catch (const c10::Error&) {
    // A device that fails here too (after a failed step): the step's own error is the one to tell.
  }
  return "";
}

std::string Trainer::divergence_message(const std::string& where, const std::string& network,
                                        const std::string& detail) const {
  return "training diverged in " + where + ": " +
         (network.empty() ? std::string("the networks' outputs or losses are no longer finite numbers")
                          : "the weights of " + network + " are no longer finite numbers") +
         " (" + detail + "). The run's last checkpoint, if it has one, is the last good state: lower the learning "
         "rates (--set lr_g=..., lr_d=..., or lr) and train again, or check the weights given to --init-from";
}

void Trainer::end_epoch(double seconds) {
  ++epoch_;
  in_epoch_ = false;
  batch_ = 0;
  const double ips = seconds > 0 ? images_ / seconds : 0;
  MetricRow row = {{"epoch", epoch_}, {"step", global_step_}};
  std::string line;
  auto part_start = std::chrono::steady_clock::now();
  const auto sums = global_loss_sums();
  for (const auto& l : losses_) {
    const double mean = sums.at(l.name).item<double>() / std::max<int64_t>(loss_counts_.at(l.name), 1);
    // Nothing of a diverged epoch is written: the last checkpoint stays the last good one.
    if (!std::isfinite(mean))
      throw Error(divergence_message("epoch " + std::to_string(epoch_), first_non_finite_network(),
                                     "its mean " + l.name + " is " + std::to_string(mean)));
    row.emplace_back(l.name, mean);
    char buf[96];
    std::snprintf(buf, sizeof buf, "  %s %.6f", l.name.c_str(), mean);
    line += buf;
  }
  loss_read_seconds_ += seconds_since(part_start);
  if (schedule_.policy != "constant")
    for (const auto& o : optimizer_decls_) row.emplace_back("lr_" + o.name, lr_.at(o.name));
  row.emplace_back("seconds", seconds);
  row.emplace_back("images_per_sec", ips);
  if (group_) {
    // The share of the epoch rank 0 spent in collectives (gradient averaging, waiting for
    // slower ranks); the rest is its own computation.
    row.emplace_back("world_size", static_cast<int64_t>(world_));
    row.emplace_back("collective_seconds", group_->collective_seconds() - collective_before_);
  }
  bool improved = false;
  if (writer()) {
    // The jobs write from copies (the metrics too): no waiting for the previous epoch's files
    // here, but a write that failed stops the run now.
    if (background_) background_->check();
    std::printf("epoch %lld/%lld%s  %.1f s  %.1f img/s\n", (long long)epoch_, (long long)config_.get_int("epochs"),
                line.c_str(), seconds, ips);
    std::fflush(stdout);
    const int64_t eval_every = config_.get_int("eval_every");
    if (eval_every > 0 && (epoch_ % eval_every == 0 || epoch_ == config_.get_int("epochs"))) evaluate(row, &improved);
    metrics_.append(std::move(row));
  }
  // The rate of the next epoch, stepped at the end of this one (as the reference does).
  const double before = lr_.empty() ? 0 : lr_.begin()->second;
  set_learning_rates();
  if (writer() && schedule_.policy != "constant" && !lr_.empty() && lr_.begin()->second != before)
    std::printf("  learning rate %.7f -> %.7f\n", before, lr_.begin()->second);
  std::optional<Image> picture;
  part_start = std::chrono::steady_clock::now();
  if (writer()) picture = epoch_picture();
  picture_seconds_ += seconds_since(part_start);
  // The other ranks wait (without a collective's timeout) while rank 0 evaluates and draws.
  sync_with_writer("epoch/" + std::to_string(global_step_) + "/artifacts");
  const int64_t every = config_.get_int("checkpoint_every");
  const bool numbered = every > 0 && epoch_ % every == 0;
  // One process whose files take longer to write than an epoch to train (a small model on a
  // GPU): rather than wait, a plain epoch's checkpoint, weights, loss plot and report are left
  // to the next epoch whose writer is free (its picture and metrics row are written with that
  // epoch's files). Never the last epoch, a best or numbered one, or one the run stops after.
  if (writer() && background_ && !group_ && !improved && !numbered && epoch_ < config_.get_int("epochs") &&
      !stop_requested() && background_->busy()) {
    if (picture) deferred_pictures_.emplace_back(epoch_, std::move(*picture));
    state_deferred_ = true;
    ++folded_epochs_;
    return;
  }
  part_start = std::chrono::steady_clock::now();
  std::optional<c10::impl::GenericDict> checkpoint = checkpoint_dict();
  if (!writer()) {
    sync_with_writer("epoch/" + std::to_string(global_step_) + "/saved");
    return;
  }
  // The files of the epoch, in this order (what resume relies on): metrics, picture and loss
  // plot, last.pt, its other names (links, not second writes of a large file), the weights,
  // the report. On the background thread they are written from copies while the next epoch
  // trains.
  c10::impl::GenericDict state = *checkpoint;
  if (background_) state = owned_copy(state).toGenericDict();
  snapshot_seconds_ += seconds_since(part_start);
  std::vector<std::pair<int64_t, Image>> pictures = std::move(deferred_pictures_);
  deferred_pictures_.clear();
  state_deferred_ = false;
  if (picture) pictures.emplace_back(epoch_, std::move(*picture));
  auto write = [this, pictures = std::move(pictures), metrics = metrics_, state = std::move(state), improved, numbered,
                epoch = epoch_, info = report_info()]() {
    if (before_background_write) before_background_write(epoch);
    metrics.save();
    for (const auto& [e, image] : pictures) write_png(run_dir_ / "samples" / epoch_file("epoch_", e, ".png"), image);
    write_loss_plot(metrics);
    const fs::path last = run_dir_ / "checkpoints" / "last.pt";
    save_torch_file(last, state);
    if (improved) atomic_link_or_copy(last, run_dir_ / "checkpoints" / "best.pt");
    if (numbered) atomic_link_or_copy(last, run_dir_ / "checkpoints" / epoch_file("epoch_", epoch, ".pt"));
    const auto networks = state.at("networks").toGenericDict();
    for (const auto& n : networks_)
      save_state_dict(run_dir_ / "weights" / (n.name + ".pt"),
                      tensors_of(networks.at(n.name), "the checkpoint's network " + n.name));
    if (state.contains("ema"))
      for (const auto& e : state.at("ema").toGenericDict())
        save_state_dict(run_dir_ / "weights" / (e.key().toStringRef() + "_ema.pt"),
                        tensors_of(e.value(), "the checkpoint's average of " + e.key().toStringRef()));
    write_run_report(info);
  };
  if (background_)
    background_->post(std::move(write));
  else
    write();
  sync_with_writer("epoch/" + std::to_string(global_step_) + "/saved");
}

std::optional<Image> Trainer::epoch_picture() {
  std::optional<Visual> visual;
  refresh_average_statistics();
  {
    KeepTrainingState keep(networks_);
    AveragesInUse average(averages_);
    visual = recipe_->visuals();
  }
  if (!visual || !png_supported()) return std::nullopt;
  return make_grid(visual->images, visual->nrow, visual->padding);
}

void Trainer::write_loss_plot(const MetricsLog& metrics) {
  if (!plot_supported()) return;
  PlotSpec plot;
  plot.title = "Losses";
  plot.x_label = "epoch";
  plot.y_label = "mean loss";
  auto x = metrics.column("epoch");
  for (const auto& l : losses_)
    if (l.plot) plot.series.push_back({l.label, x, metrics.column(l.name)});
  write_line_plot(plot, run_dir_ / "losses.png", run_dir_ / "losses.svg");
}

void Trainer::write_deferred() {
  for (const auto& [e, image] : deferred_pictures_)
    write_png(run_dir_ / "samples" / epoch_file("epoch_", e, ".png"), image);
  deferred_pictures_.clear();
  metrics_.save();
  write_loss_plot(metrics_);
}

void Trainer::write_progress_animation() {
  // Every epoch's picture so far, looping (a stopped run's too; a resumed one writes it anew).
  if (!gif_supported() || !png_supported()) return;
  std::vector<Image> frames;
  for (int64_t e = 1; e <= epoch_; ++e) {
    fs::path p = run_dir_ / "samples" / epoch_file("epoch_", e, ".png");
    if (fs::exists(p)) frames.push_back(read_png(p));
  }
  if (!frames.empty()) write_gif(run_dir_ / "progress.gif", frames, 20);
}

void Trainer::write_final_artifacts() {
  refresh_average_statistics();
  {
    KeepTrainingState keep(networks_);
    AveragesInUse average(averages_);
    recipe_->write_final(run_dir_);
  }
  write_progress_animation();
  const std::string best = recipe_->best_metric();
  if (best_epoch_ > 0 && !best.empty()) {
    double last = NAN;
    for (double v : metrics_.column(best))
      if (std::isfinite(v)) last = v;
    std::printf("%s: best %.4g at epoch %lld (checkpoints/best.pt), last %.4g\n", best.c_str(), best_value_,
                (long long)best_epoch_, last);
  }
  // What the run folder holds now (the plots and the animation only where this build draws them).
  std::string files;
  std::error_code ec;
  for (const char* name : {"report.html", "config.toml", "metrics.jsonl", "metrics.csv", "samples/", "losses.png",
                           "losses.svg", "progress.gif", "checkpoints/", "weights/", "machine.txt"}) {
    std::string n = name;
    if (fs::exists(run_dir_ / (n.back() == '/' ? n.substr(0, n.size() - 1) : n), ec))
      files += (files.empty() ? "" : ", ") + n;
  }
  std::printf("done: %s (%s)\n", run_dir_.c_str(), files.c_str());
}

void Trainer::write_weights() {
  refresh_average_statistics();
  for (const auto& n : networks_) save_state_dict(run_dir_ / "weights" / (n.name + ".pt"), module_state(*n.module));
  for (const auto& a : averages_) save_state_dict(run_dir_ / "weights" / (a.network + "_ema.pt"), average_state(a));
}

void Trainer::start_averages() {
  averages_.clear();
  for (const auto& name : recipe_->generators()) {
    WeightAverage a;
    a.network = name;
    for (const auto& p : network(name).named_parameters(/*recurse=*/true)) {
      a.keys.push_back(p.key());
      a.live.push_back(p.value());
      a.mean.push_back(p.value().detach().clone());
    }
    if (ema_statistics_)
      for (const auto& b : network(name).named_buffers(/*recurse=*/true)) {
        a.buffer_keys.push_back(b.key());
        a.live_buffers.push_back(b.value());
      }
    averages_.push_back(std::move(a));
  }
}

void Trainer::refresh_average_statistics() {
  auto stale = [this](const WeightAverage& a) { return !a.live_buffers.empty() && a.statistics_step != global_step_; };
  if (std::none_of(averages_.begin(), averages_.end(), stale)) return;
  // The average's weights in the network, its buffers and random streams given back afterwards.
  KeepTrainingState keep(networks_);
  AveragesInUse average(averages_);
  for (auto& a : averages_) {
    if (!stale(a)) continue;
    if (!recipe_->recompute_statistics(a.network)) {
      a.buffer_keys.clear();  // no BatchNorm, or none the recipe uses: the network's own, always
      a.live_buffers.clear();
      continue;
    }
    a.statistics.clear();
    for (const auto& b : a.live_buffers) a.statistics.push_back(b.detach().clone());
    a.statistics_step = global_step_;
  }
}

int64_t Trainer::images_per_epoch() const {
  int64_t total = 0;
  for (int64_t b = 0; b < batches_per_epoch(); ++b) total += global_batch(b);
  return total;
}

void Trainer::update_averages(int64_t batch_images) {
  // StyleGAN2-ADA's update: a half-life of ema_kimg thousand images, at most ema_rampup times
  // the images seen before this batch (so the first step's average is its weights).
  if (epoch_images_ == 0) epoch_images_ = images_per_epoch();
  const double seen = static_cast<double>(epoch_ * epoch_images_ + images_);
  double half_life = ema_kimg_ * 1000;
  if (ema_rampup_ > 0) half_life = std::min(half_life, seen * ema_rampup_);
  const double beta = half_life > 0 ? std::pow(0.5, static_cast<double>(batch_images) / half_life) : 0.0;
  torch::NoGradGuard no_grad;
  for (auto& a : averages_)
    for (size_t i = 0; i < a.live.size(); ++i) a.mean[i].lerp_(a.live[i], 1.0 - beta);
}

NamedTensors Trainer::average_state(const WeightAverage& average) const {
  NamedTensors state;
  for (const auto& n : networks_)
    if (n.name == average.network) state = module_state(*n.module);
  std::map<std::string, at::Tensor> mean;
  for (size_t i = 0; i < average.keys.size(); ++i) mean[average.keys[i]] = average.mean[i];
  // The averaged parameters, and BatchNorm's running statistics recomputed for them where there
  // are (else the network's own buffers).
  for (size_t i = 0; i < average.statistics.size(); ++i) mean[average.buffer_keys[i]] = average.statistics[i];
  for (auto& [k, t] : state)
    if (auto it = mean.find(k); it != mean.end()) t = it->second;
  return state;
}

void Trainer::save_last_checkpoint() { save_checkpoint(run_dir_ / "checkpoints" / "last.pt"); }

void Trainer::save_checkpoint(const fs::path& path) {
  auto d = checkpoint_dict();
  if (d) save_torch_file(path, *d);
}

std::optional<c10::impl::GenericDict> Trainer::checkpoint_dict() {
  // Collectives first, on every rank alike: the ranks' states and the epoch's global sums.
  std::map<std::string, at::Tensor> sums;
  const bool mid_epoch = in_epoch_ && batch_ > 0;
  if (group_) gather_rank_states(mid_epoch);
  if (mid_epoch) sums = global_loss_sums();
  if (!writer()) return std::nullopt;
  refresh_average_statistics();
  auto d = make_dict();
  d.insert("format", std::string(kCheckpointFormat));
  d.insert("version", kCheckpointVersion);
  d.insert("recipe", recipe_name_);
  d.insert("model", config_.get_string("model"));
  d.insert("config", config_.to_toml());
  d.insert("epoch", epoch_);
  d.insert("global_step", global_step_);
  d.insert("batch_in_epoch", in_epoch_ ? batch_ : int64_t{0});
  auto networks = make_dict();
  for (const auto& n : networks_) networks.insert(n.name, to_dict(module_state(*n.module)));
  d.insert("networks", networks);
  if (!averages_.empty()) {
    auto ema = make_dict();
    for (const auto& a : averages_) ema.insert(a.network, to_dict(average_state(a)));
    d.insert("ema", ema);
  }
  auto optimizers = make_dict(), schedules = make_dict();
  for (const auto& o : optimizer_decls_) {
    optimizers.insert(o.name, to_dict(adam_state(*optimizers_.at(o.name), modules_of(networks_, o.networks))));
    auto s = make_dict();
    s.insert("policy", schedule_.policy);
    s.insert("base_lr", o.lr);
    s.insert("lr", lr_.at(o.name));
    s.insert("last_epoch", epoch_);
    schedules.insert(o.name, s);
  }
  d.insert("optimizers", optimizers);
  d.insert("schedules", schedules);
  d.insert("rng", rng_dict());
  d.insert("world_size", static_cast<int64_t>(world_));
  if (group_) {
    d.insert("ranks", gathered_);
    d.insert("shared_rng", shared_gen_->get_state());
  }
  d.insert("recipe_state", recipe_state_dict(*recipe_));
  d.insert("best_metric", recipe_->best_metric());
  d.insert("best_value", best_value_);
  d.insert("best_epoch", best_epoch_);
  if (mid_epoch) {
    auto es = make_dict(), sums_dict = make_dict(), counts = make_dict();
    es.insert("permutation", permutation_.cpu());
    for (const auto& l : losses_) {
      sums_dict.insert(l.name, sums.at(l.name).cpu());
      counts.insert(l.name, loss_counts_.at(l.name));
    }
    es.insert("sums", sums_dict);
    es.insert("counts", counts);
    es.insert("images", images_);
    es.insert("seconds", seconds_before_);
    d.insert("epoch_state", es);
  }
  return d;
}

}  // namespace forgery
