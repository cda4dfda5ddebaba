#pragma once
// Reading Forgery checkpoints (a torch.save-compatible dict; Python's torch.load reads them).
//
// Format 2 (written since the recipe trainer):
//   format, version, recipe, model, config (TOML), epoch, global_step, batch_in_epoch,
//   networks    {NAME: state_dict}              (PyTorch key names)
//   ema         {NAME: state_dict}              (ema_kimg only: each generator's averaged
//                                               parameters, with the network's own buffers)
//   optimizers  {NAME: {NET.PARAM.exp_avg|exp_avg_sq|step: tensor}}
//   schedules   {NAME: {policy, base_lr, lr, last_epoch}}
//   rng         {cpu|cuda:N: generator state}
//   recipe_state {KEY: value}                   (fixed noise, class names, image pools)
//   best_metric, best_value, best_epoch
//   epoch_state {permutation, sums {LOSS: tensor}, counts {LOSS: int}, images, seconds}
//                                               (only when stopped inside an epoch; the sums are
//                                               the per-step means averaged over the ranks)
//   world_size                                  (the number of ranks that wrote it; 1 alone)
//   ranks [ {rng, recipe_state, buffers, param_hash, loss_sums (inside an epoch)} ] and
//   shared_rng                                  (data-parallel runs: each rank's own state, and the
//                                               stream all ranks share: data order and noise)
// Format 1 (the GAN trainer before it) is read and upgraded to format 2 on reading.
#include <ATen/core/ivalue.h>

#include <filesystem>
#include <string>

#include "forgery/core/config.h"
#include "forgery/io/torch_file.h"

namespace forgery {

inline constexpr const char* kCheckpointFormat = "forgery-checkpoint";
inline constexpr int64_t kCheckpointVersion = 2;

class Checkpoint {
 public:
  static Checkpoint read(const std::filesystem::path& path);
  // The same from the file's contents, already loaded (`path` names it in errors).
  static Checkpoint from_value(const c10::IValue& value, const std::filesystem::path& path);
  // Whether a loaded file is a Forgery checkpoint (rather than a state_dict).
  static bool is_checkpoint(const c10::IValue& value);
  // RUN_DIR -> RUN_DIR/checkpoints/last.pt; a file is itself. Errors say what is missing.
  static std::filesystem::path locate(const std::filesystem::path& run_dir_or_file);

  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  at::Tensor get_tensor(const std::string& key) const;
  NamedTensors get_tensors(const std::string& key) const;
  c10::impl::GenericDict get_dict(const std::string& key) const;
  // An entry of a dict entry: networks/G, optimizers/D, recipe_state/fixed_noise, ...
  bool has(const std::string& key, const std::string& name) const;
  c10::IValue get(const std::string& key, const std::string& name) const;
  NamedTensors get_tensors(const std::string& key, const std::string& name) const;
  // networks/NAME, naming the networks the checkpoint has when NAME is not one of them.
  NamedTensors network(const std::string& name) const;
  // The weights to make images with: the average of NAME's weights (ema/NAME) where the run kept
  // one and `average`, else networks/NAME; `*used_average` says which.
  NamedTensors generator(const std::string& name, bool average, bool* used_average = nullptr) const;

  const std::filesystem::path& path() const { return path_; }
  // The version the file was written with (an older one is upgraded when read).
  int64_t file_version() const { return file_version_; }
  // The run's config as stored, with optional overrides.
  Config config(const std::vector<std::pair<std::string, std::string>>& overrides = {}) const;
  const c10::impl::GenericDict& dict() const { return dict_; }
  // A copy whose top-level `key` is `value` (a rank's own recipe_state in data-parallel runs).
  Checkpoint with_entry(const std::string& key, const c10::IValue& value) const;

 private:
  c10::IValue get(const std::string& key) const;
  std::string what() const;
  std::filesystem::path path_;
  int64_t file_version_ = kCheckpointVersion;
  c10::impl::GenericDict dict_{c10::AnyType::get(), c10::AnyType::get()};
};

// A dict with string keys, as checkpoints hold them.
c10::impl::GenericDict make_dict();

}  // namespace forgery
