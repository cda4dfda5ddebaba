#pragma once
// The one training loop of every recipe: data order, random streams, the optimiser seam,
// learning-rate schedules, metrics, per-epoch artifacts, evaluation, atomic checkpoints and
// exact resume (also mid-epoch), all derived from what the recipe declares.
#include <torch/optim/adam.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <ATen/core/Generator.h>

#include "forgery/core/config.h"
#include "forgery/core/precision.h"
#include "forgery/dist/dist.h"
#include "forgery/io/image.h"
#include "forgery/io/metrics.h"
#include "forgery/io/torch_file.h"
#include "forgery/train/recipe.h"
#include "forgery/train/report.h"
#include "forgery/train/schedule.h"

namespace forgery {

class BackgroundWriter;
class GraphedSteps;
class Checkpoint;

// An --init-from argument: "NAME=FILE" (a network's name, letters, digits and '_') or "FILE"
// (also where a file by the whole argument exists); {"", FILE} for the latter.
std::pair<std::string, std::filesystem::path> split_init_from(const std::string& arg);
// Whether a weights file's name names network `net`: its stem is the name or ends with "_" and
// the name (G_B.pt, latest_net_G_B.pth).
bool file_names_network(const std::filesystem::path& file, const std::string& net);

// A moving average of one network's parameters (ema_kimg): `live` are the network's own
// parameter tensors, `mean` their average, `keys` their state_dict names. With BatchNorm
// (ema_batchnorm recompute), `statistics` are the running statistics recomputed for the average
// at step `statistics_step` (the network's buffers `live_buffers`, named `buffer_keys`); empty
// where the network has none or the recipe does not use them: then the network's own are used.
struct WeightAverage {
  std::string network;
  std::vector<std::string> keys;
  std::vector<at::Tensor> live, mean;
  std::vector<std::string> buffer_keys;
  std::vector<at::Tensor> live_buffers, statistics;
  int64_t statistics_step = -1;
};

class Trainer {
 public:
  // A new run writes `run_dir`/config.toml; the folder must be prepared by the caller.
  Trainer(Config config, std::filesystem::path run_dir);
  ~Trainer();

  // A new run (seeded networks) or the state of a checkpoint. `write_config` false: config.toml
  // is left to write_config(), for a caller that prepares the run folder after every check that
  // can fail (`train --force` keeps the run it replaces until then).
  void start_new(bool write_config = true);
  void write_config();
  void restore(const Checkpoint& checkpoint);
  // Weights saved by PyTorch programs (state_dicts, or dicts of them), each FILE or NAME=FILE
  // (see split_init_from). A file goes to the network it names, else to the network whose keys
  // and shapes it fits; of networks alike (CycleGAN's G_A and G_B), to the one its file name
  // ends with (G_B.pt, latest_net_G_B.pth); UsageError where that leaves a choice or a network
  // is given twice.
  void init_from(const std::vector<std::filesystem::path>& files);
  // Loads (and checks) the configured dataset now; train() does it when not done before.
  void load_data();
  // Optimisation steps in an epoch (of this rank), once the data is loaded.
  int64_t batches_per_epoch() const;
  // Data-parallel training: this process is one rank of `group` (called before start_new or
  // restore). Every rank runs the same steps on its equal share of each batch (batch_size is
  // the global batch); gradients are averaged at the optimiser seam; rank 0 alone writes the
  // run folder. UsageError when batch_size does not split into equal shares. A group of one is
  // dropped (the run is the single-process run, bit for bit) unless `keep_alone` (benchmarks:
  // what the data-parallel machinery costs a rank, on a machine with one device).
  void set_group(std::shared_ptr<dist::Group> group, bool keep_alone = false);
  int rank() const { return rank_; }
  int world_size() const { return world_; }

  // Uses this data instead of loading the configured data (tests, benchmarks).
  void set_data(std::unique_ptr<TrainingData> data) { data_ = std::move(data); }

  // Trains up to config epochs. Returns 0 when done, 128+signal when stopped by a signal
  // (after saving a checkpoint from which `forgery resume` continues exactly).
  int train();

  // Called after every optimisation step with the global step number (tests).
  std::function<void(int64_t)> after_step;
  // Called first in the writing of an epoch's files, with the epoch (tests): on the background
  // thread with async_writes.
  std::function<void(int64_t)> before_background_write;

  Recipe& recipe() { return *recipe_; }
  const std::string& recipe_name() const { return recipe_name_; }
  torch::nn::Module& network(const std::string& name);
  torch::optim::Adam& optimizer(const std::string& name);
  // Epochs whose checkpoint and files were left to a later epoch (writes slower than training).
  int64_t folded_epochs() const { return folded_epochs_; }
  const Config& config() const { return config_; }
  int64_t epochs_done() const { return epoch_; }
  int64_t global_step() const { return global_step_; }

  void save_checkpoint(const std::filesystem::path& path);
  // ema_kimg: the generators' averages (empty when off, and before train() starts a new run's).
  const std::vector<WeightAverage>& averages() const { return averages_; }

 private:
  class Context;
  void build();
  void begin_epoch();
  // Until the device has done the work queued so far (CUDA); nothing on the CPU.
  void wait_for_device() const;
  void end_epoch(double seconds);
  void set_learning_rates();
  // The epoch's picture from the recipe's visuals (on this thread: it runs the networks).
  std::optional<Image> epoch_picture();
  void write_loss_plot(const MetricsLog& metrics);
  // What epochs that left their files to a later one hold in memory (pictures, metrics rows),
  // written on this thread (a stop).
  void write_deferred();
  void write_final_artifacts();
  void write_progress_animation();
  void write_weights();
  void finish_interrupted_epoch_end();
  // What follows "forgery resume RUN" in the hints after a stop: the world size of a
  // data-parallel run (an exact resume needs the same).
  std::string resume_world_hint() const;
  // Every rank's options, compared before the first collective (ranks that would compute
  // different things, or hold networks of other shapes, are named instead of mismatching there).
  void check_ranks_agree();
  ReportInfo report_info() const;
  void write_run_report();
  void write_run_report(const ReportInfo& info);
  // The checkpoint's contents (live tensors) on rank 0, nothing on the others; a collective.
  std::optional<c10::impl::GenericDict> checkpoint_dict();
  void save_last_checkpoint();
  // The examples of batch `b` this rank trains on; `global` gets the batch's size on all ranks.
  at::Tensor shard(int64_t b, int64_t* global) const;
  // Batch `b`'s size on all ranks: the batch, less what does not split into equal shares.
  int64_t global_batch(int64_t b) const;
  bool writer() const { return rank_ == 0; }
  void start_rank_streams();
  // Each rank's own state from a checkpoint of the same world size; true where that included
  // the rank's own loss sums of the epoch in progress.
  bool restore_rank_state(const Checkpoint& ck);
  // Every rank's random state, recipe state, buffers, parameter hash and (mid-epoch) loss sums,
  // gathered for rank 0's checkpoint (a collective: every rank calls it at the same point).
  void gather_rank_states(bool mid_epoch);
  // Rank 0 marks `key` when its own work is done; the others wait for the mark.
  void sync_with_writer(const std::string& key);
  void leave_group();
  // The epoch's loss sums as sums of per-step global means (a collective when distributed).
  std::map<std::string, at::Tensor> global_loss_sums();
  std::string running_status() const;
  void evaluate(MetricRow& row, bool* improved);
  void setup_graphs();
  // ema_kimg: averages that start at the networks' present weights; the update after a step of
  // `batch_images` images (the global batch); a state_dict with the averaged parameters.
  void start_averages();
  void update_averages(int64_t batch_images);
  // The running statistics of the averages recomputed for their present weights where they are
  // older (ema_batchnorm recompute; rank 0 only: they serve pictures, evaluation and files).
  void refresh_average_statistics();
  NamedTensors average_state(const WeightAverage& average) const;
  // Images of one epoch (all ranks), for the average's ramp-up.
  int64_t images_per_epoch() const;
  // Why cuda_graphs cannot capture this run's steps; empty when they can.
  std::string graphs_unavailable() const;

  Config config_;
  std::filesystem::path run_dir_;
  c10::Device device_{c10::kCPU};
  std::string recipe_name_;
  std::unique_ptr<Recipe> recipe_;
  // Runs `body`; an allocation that fails in it becomes an Error naming `what` and the options
  // `keys` that size it.
  void naming_sizes_when_out_of_memory(const std::string& what, std::initializer_list<const char*> keys,
                                       const std::function<void()>& body) const;
  // The first network with a NaN or infinite weight, or "".
  std::string first_non_finite_network() const;
  std::string divergence_message(const std::string& where, const std::string& network, const std::string& detail) const;
  std::vector<NetworkDecl> networks_;
  std::vector<OptimizerDecl> optimizer_decls_;
  std::map<std::string, std::unique_ptr<torch::optim::Adam>> optimizers_;
  std::map<std::string, double> lr_;  // current rate per optimiser
  std::vector<LossDecl> losses_;
  LrSchedule schedule_;
  std::unique_ptr<TrainingData> data_;
  MetricsLog metrics_;

  // Progress: completed epochs, steps, and the state of the epoch in progress.
  int64_t epoch_ = 0, global_step_ = 0, batch_ = 0;
  bool in_epoch_ = false;
  at::Tensor permutation_;
  std::map<std::string, at::Tensor> loss_sums_;  // on the device
  std::map<std::string, int64_t> loss_counts_;
  int64_t images_ = 0;
  double seconds_before_ = 0;  // time spent in this epoch before a resume
  // Evaluation (eval_every): the best value of the recipe's best metric and its epoch.
  double best_value_ = -1;
  std::set<std::string> notes_said_;  // the evaluation's notes, each printed once a run
  int64_t best_epoch_ = 0;

  std::vector<WeightAverage> averages_;
  double ema_kimg_ = 0, ema_rampup_ = 0;  // the options, read once
  bool ema_statistics_ = true;            // ema_batchnorm recompute
  int64_t epoch_images_ = 0;  // images_per_epoch(), once known

  // Data-parallel state (a world of one: no group).
  std::shared_ptr<dist::Group> group_;
  int rank_ = 0, world_ = 1;
  Precision precision_ = Precision::Fp32;
  // The epoch order and the noise, drawn on every rank alike (each rank takes its slice, so a
  // world of W draws the same numbers as a world of one); the default generators are the
  // rank's own (dropout, augmentation, image pools).
  std::optional<at::Generator> shared_gen_;
  int64_t stop_votes_ = 0;  // ranks asking to stop, agreed in the last gradient all-reduce
  double collective_before_ = 0;  // the group's collective seconds when the epoch began
  c10::IValue gathered_;    // rank 0: every rank's state, from gather_rank_states()
  // cuda_graphs: the training steps captured as CUDA graphs (none when off or not possible), and
  // why they are off where auto left them off on a GPU (said once).
  std::unique_ptr<GraphedSteps> graphs_;
  std::string graphs_off_;
  // Epochs whose files were left to a later epoch because the writer was still busy: their
  // pictures, whether the newest state is unsaved, and how many epochs did so in this process.
  std::vector<std::pair<int64_t, Image>> deferred_pictures_;
  bool state_deferred_ = false;
  int64_t folded_epochs_ = 0;
  // Where this process's time went (printed at the end of a run): the epochs' steps (until the
  // device has done them), their ends (losses, pictures, checkpoints handed to the writer), and
  // before the first step.
  std::chrono::steady_clock::time_point started_;
  double steps_seconds_ = 0, epoch_end_seconds_ = 0, startup_seconds_ = -1;
  // Parts of the epochs' ends: reading the loss sums (their all-reduce in a group), drawing the
  // sample grid, taking the checkpoint's snapshot for the writer.
  double loss_read_seconds_ = 0, picture_seconds_ = 0, snapshot_seconds_ = 0;
  // Rank 0 with async_writes: the thread that writes each epoch's files (last, so that it is
  // destroyed first: its job in progress uses the members above).
  std::unique_ptr<BackgroundWriter> background_;
};

}  // namespace forgery
