#pragma once
// What a training loop iterates over: a dataset of examples held on the training device, read
// as batches of named tensors ("real" and "labels" for the GAN family, "A" and "B" for
// translation). The trainer decides the order (one seeded permutation per epoch); the data
// makes the batch, with any random augmentation drawn from LibTorch's CPU generator so that
// runs are the same on every device and resume exactly.
#include <ATen/core/Tensor.h>

#include <map>
#include <string>
#include <vector>

namespace forgery {

using Batch = std::map<std::string, at::Tensor>;

class TrainingData {
 public:
  virtual ~TrainingData() = default;
  // Examples per epoch.
  virtual int64_t size() const = 0;
  // The examples at `index` (int64, on the training device).
  virtual Batch batch(const at::Tensor& index) = 0;
  // Class names by label, for conditional models; empty when the data has none.
  virtual std::vector<std::string> class_names() const { return {}; }
};

}  // namespace forgery
