#pragma once
// Learning-rate schedules by name, stepped at the end of every epoch (as the reference
// implementation's current training script does). No torch here.
#include <cstdint>
#include <string>

namespace forgery {

struct LrSchedule {
  std::string policy = "constant";  // constant | linear
  int64_t n_epochs = 100;           // linear: epochs at the full rate
  int64_t n_epochs_decay = 100;     // linear: epochs of linear decay after them

  // The factor on the base rate for the epoch that follows `epochs_done` completed epochs:
  // PyTorch's LambdaLR with the reference's rule 1 - max(0, e + 1 - n_epochs) / (n_epochs_decay + 1).
  double factor(int64_t epochs_done) const;
};

// "constant" or "linear"; a UsageError naming the option otherwise.
void check_lr_policy(const std::string& policy);

}  // namespace forgery
