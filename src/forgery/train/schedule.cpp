#include "forgery/train/schedule.h"

#include <algorithm>

#include "forgery/core/error.h"

namespace forgery {

double LrSchedule::factor(int64_t epochs_done) const {
  if (policy == "constant") return 1.0;
  // The reference's epoch_count is 1: the lambda receives the scheduler's last_epoch, which
  // counts the epochs completed.
  return 1.0 - static_cast<double>(std::max<int64_t>(0, epochs_done + 1 - n_epochs)) /
                   static_cast<double>(n_epochs_decay + 1);
}

void check_lr_policy(const std::string& policy) {
  if (policy != "constant" && policy != "linear")
    throw UsageError("option lr_policy '" + policy + "': supported: constant, linear");
}

}  // namespace forgery
