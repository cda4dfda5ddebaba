#pragma once
// A recipe is one training algorithm family (gan: the seed's GAN, DCGAN and the cGANs;
// pix2pix; cyclegan). It declares what it is made of (networks, optimisers, losses, visuals,
// extra state) and implements one training step on a batch of named tensors; the trainer
// derives everything else from those declarations: checkpoints, weights/NAME.pt, metrics
// columns, the loss plot, the status line, learning-rate schedules and --init-from.
#include <c10/core/Device.h>
#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "forgery/core/config.h"
#include "forgery/data/training_data.h"
#include "forgery/io/metrics.h"
#include "forgery/models/image_nets.h"

namespace forgery {

class Checkpoint;

// What the trainer lends a recipe's step: the one place where optimisers step (where
// gradients are averaged across processes in data-parallel training) and the run's random
// streams.
class StepContext {
 public:
  virtual ~StepContext() = default;
  // Gradients of the optimiser's parameters to undefined (zero_grad(set_to_none=True)).
  virtual void zero_grad(const std::string& optimizer) = 0;
  virtual void step(const std::string& optimizer) = 0;
  // Standard normal noise from the run's stream for the tensor's device.
  virtual at::Tensor randn(at::IntArrayRef sizes, const at::TensorOptions& options);
};

// A StepContext over optimisers the caller owns, stepping them as the trainer does (golden
// tests and benchmarks drive a recipe's step without a trainer).
class LocalOptimizers : public StepContext {
 public:
  LocalOptimizers(std::map<std::string, torch::optim::Adam*> optimizers) : optimizers_(std::move(optimizers)) {}
  void zero_grad(const std::string& optimizer) override;
  void step(const std::string& optimizer) override;

 private:
  torch::optim::Adam& get(const std::string& name);
  std::map<std::string, torch::optim::Adam*> optimizers_;
};

// Freezes (false) or unfreezes a network's parameters: a frozen network passes gradients to
// its input without computing its own weight gradients.
void set_requires_grad(torch::nn::Module& module, bool on);

// A network frozen for a scope and unfrozen when it ends, also when the scope is left by an
// exception (a CUDA graph capture that fails inside G's step retries the step eagerly).
class FrozenFor {
 public:
  explicit FrozenFor(torch::nn::Module& module) : module_(module) { set_requires_grad(module_, false); }
  ~FrozenFor() { set_requires_grad(module_, true); }
  FrozenFor(const FrozenFor&) = delete;
  FrozenFor& operator=(const FrozenFor&) = delete;

 private:
  torch::nn::Module& module_;
};

struct NetworkDecl {
  std::string name;  // checkpoint key and weights/NAME.pt
  std::shared_ptr<torch::nn::Module> module;
};

struct OptimizerDecl {
  std::string name;                   // "G", "D"
  std::vector<std::string> networks;  // one Adam over all their parameters, in this order
  double lr = 2e-4, beta1 = 0.5, beta2 = 0.999;
};

struct LossDecl {
  std::string name;   // metrics column and status-line name
  std::string label;  // legend in the loss plot
  bool plot = true;
};

// One loss of a step: the sum of `count` values (the GAN's k discriminator steps), detached
// and on the device (read once per epoch, never per step).
struct LossValue {
  std::string name;
  at::Tensor sum;
  int64_t count = 1;
};

// The per-epoch picture: images in [0, 1] (CPU), `nrow` per row of the grid.
struct Visual {
  at::Tensor images;
  int nrow = 8;
  int padding = 2;
};

// What an evaluation adds to the epoch's metrics row, and the value best.pt is kept by
// (lower is better; NaN when there is none).
struct Evaluation {
  MetricRow metrics;
  double best_value = NAN;
  std::string summary;  // one line for the console
  std::vector<std::string> notes;  // what was left out and why ("AtoB: no FID: ..."), for eval's report
};

class Recipe {
 public:
  virtual ~Recipe() = default;

  // Creates the networks (their seeded initialisation happens here, in the reference
  // program's order) on the training device.
  virtual void build() = 0;
  virtual std::vector<NetworkDecl> networks() const = 0;
  virtual std::vector<OptimizerDecl> optimizers() const = 0;
  virtual std::vector<LossDecl> losses() const = 0;
  // The metric best.pt is kept by ("fid", "val_l1"); empty when evaluation has none.
  virtual std::string best_metric() const { return ""; }
  // The networks that make the images (of networks()): with ema_kimg, the trainer keeps a
  // moving average of their weights, and pictures, evaluation and sampling use it.
  virtual std::vector<std::string> generators() const = 0;
  // Recomputes the BatchNorm running statistics of a generator (of generators()) for the weights
  // it holds now, which are the moving average's (ema_batchnorm recompute): false where it has
  // none, or where the recipe makes its images with batch statistics and never uses them.
  virtual bool recompute_statistics(const std::string& generator) { (void)generator; return false; }

  // The training data (and whatever fixed data the visuals and evaluation use).
  virtual std::unique_ptr<TrainingData> load_data() = 0;
  // A new run's recipe state after build(), such as the fixed noise of the sample grids.
  virtual void start_new() {}

  // Called with every batch before train_step, graphed or not: what the step needs the host to
  // draw goes into the batch as device tensors (CycleGAN's pool decisions), so that the step
  // itself is device work only, and a graph's replay gets the new draws with its inputs.
  virtual void prepare_batch(Batch& batch) { (void)batch; }
  virtual std::vector<LossValue> train_step(const Batch& batch, StepContext& ctx) = 0;
  // Whether train_step may be captured as a CUDA graph and replayed (GraphedSteps): device work
  // only, no host decision on random or device values, the same work for every batch of the
  // same shapes, at least once graph_safe_now() says so.
  virtual bool graph_safe_step() const { return false; }
  // Whether this step is such now: CycleGAN's steps change the host's state (the pools' counts)
  // until its image pools are full, and run eagerly until then.
  virtual bool graph_safe_now() const { return true; }
  // Whether memory_format auto makes the convolution weights channels-last on CUDA (faster for
  // the DCGAN family and pix2pix; not where InstanceNorm and reflection padding run between the
  // convolutions, CycleGAN's ResNet generator).
  virtual bool channels_last_on_cuda() const { return true; }

  // Called by the trainer with the run's random stream and every network buffer saved and
  // restored around them: they may not change the training.
  virtual std::optional<Visual> visuals() = 0;
  virtual std::optional<Evaluation> evaluate(int64_t epoch) { (void)epoch; return std::nullopt; }
  // After the last epoch (the GAN's single final samples).
  virtual void write_final(const std::filesystem::path& run_dir) { (void)run_dir; }

  // Recipe state beyond networks and optimisers (fixed noise, image pools), by name.
  virtual std::vector<std::pair<std::string, c10::IValue>> extra_state() const { return {}; }
  virtual void load_extra_state(const Checkpoint& checkpoint) { (void)checkpoint; }
};

// An image-to-image recipe's generator for one direction, built (untrained) from a config, for
// `forgery translate`.
struct Translator {
  std::string network;  // its name in checkpoints ("G", "G_A")
  std::shared_ptr<ImageNet> net;
  int64_t in_channels = 3, out_channels = 3;
  int64_t size = 256;       // the side of the images it was trained on (crop_size)
  bool input_is_a = true;   // A|B pairs: the half it reads
};

struct RecipeInfo {
  std::string name;
  std::string description;
  std::vector<OptionSpec> options;  // the recipe's own, with defaults
  std::function<std::unique_ptr<Recipe>(const Config&, const c10::Device&)> make;
  // Checks of the recipe's options beyond their types; UsageErrors name the option.
  std::function<void(const Config&)> validate;
  // Image-to-image recipes: the generator for "AtoB" or "BtoA"; empty for the GAN family.
  std::function<Translator(const Config&, const std::string& direction)> translator;
};

void register_recipe(RecipeInfo info);
const RecipeInfo& find_recipe(const std::string& name);  // UsageError naming known recipes
std::vector<const RecipeInfo*> all_recipes();

struct RecipeRegistrar {
  explicit RecipeRegistrar(RecipeInfo info) { register_recipe(std::move(info)); }
};

}  // namespace forgery
