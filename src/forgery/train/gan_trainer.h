#pragma once
// The GAN recipe (vanilla GAN, later DCGAN and cGAN): D trained k times with G frozen, then G
// with D frozen, on a dataset held as tensors on the device; every epoch a metrics row, a
// fixed-noise grid, the loss plot and an atomic checkpoint; exact resume, also mid-epoch.
#include <torch/optim/adam.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "forgery/core/config.h"
#include "forgery/data/image_data.h"
#include "forgery/io/metrics.h"
#include "forgery/models/gan_networks.h"

namespace forgery {

class Checkpoint;

class GanTrainer {
 public:
  // A new run writes `run_dir`/config.toml; the folder must be prepared by the caller.
  GanTrainer(Config config, std::filesystem::path run_dir);
  ~GanTrainer();

  // A new run (seeded networks, fixed noise) or the state of a checkpoint.
  void start_new();
  void restore(const Checkpoint& checkpoint);
  // Weights saved by the PyTorch program (state_dicts), matched to G or D by their keys.
  void init_from(const std::vector<std::filesystem::path>& files);
  // Loads (and checks) the configured dataset now; train() does it when not done before.
  void load_data();
  // Uses these images instead of loading the configured data (tests, benchmarks).
  void set_data(ImageData data) { data_ = std::move(data); }

  // Trains up to config epochs. Returns 0 when done, 128+signal when stopped by a signal
  // (after saving a checkpoint from which `forgery resume` continues exactly).
  int train();

  // Called after every optimisation step with the global step number (tests).
  std::function<void(int64_t)> after_step;

  Generator& generator() { return *nets_.generator; }
  Discriminator& discriminator() { return *nets_.discriminator; }
  const Config& config() const { return config_; }
  int64_t epochs_done() const { return epoch_; }
  int64_t global_step() const { return global_step_; }

  void save_checkpoint(const std::filesystem::path& path);

 private:
  void build();
  void train_step(const at::Tensor& real, const at::Tensor& labels);
  void begin_epoch();
  void end_epoch(double seconds);
  void write_epoch_artifacts();
  void write_final_artifacts();
  void write_weights();
  void save_last_checkpoint();
  int64_t batches_per_epoch() const;
  std::string running_status() const;

  void evaluate_epoch(MetricRow& row);

  Config config_;
  std::filesystem::path run_dir_;
  c10::Device device_{c10::kCPU};
  GanNetworks nets_;
  std::unique_ptr<torch::optim::Adam> opt_g_, opt_d_;
  std::optional<ImageData> data_;
  MetricsLog metrics_;
  at::Tensor fixed_noise_, fixed_labels_;

  // Progress: completed epochs, steps, and the state of the epoch in progress.
  int64_t epoch_ = 0, global_step_ = 0, batch_ = 0;
  bool in_epoch_ = false;
  at::Tensor permutation_;
  at::Tensor sum_loss_g_, sum_loss_d_, sum_d_real_, sum_d_fake_;  // on the device
  int64_t d_steps_ = 0, g_steps_ = 0, images_ = 0;
  double seconds_before_ = 0;  // time spent in this epoch before a resume
  // Evaluation during training (eval_every): the best FID so far and its epoch.
  double best_fid_ = -1;
  int64_t best_epoch_ = 0;
  std::shared_ptr<void> eval_state_;  // features of the real set and the extractor, made once
};

}  // namespace forgery
