#pragma once
// Adversarial losses by name: the target is 1 for "real" and 0 for "fake", expanded to the
// prediction's shape (a PatchGAN's map of patches included), averaged over every element.
#include <ATen/core/Tensor.h>

#include <string>

namespace forgery {

enum class GanLoss {
  Bce,        // binary cross-entropy on probabilities (the seed's: D ends in a Sigmoid)
  BceLogits,  // binary cross-entropy on logits (the reference's "vanilla")
  Lsgan,      // least squares (mean squared error to the target)
};

// bce, bce_logits (alias: vanilla, the reference's name) or lsgan; errors name `option`.
GanLoss parse_gan_loss(const std::string& name, const std::string& option);
const char* gan_loss_name(GanLoss loss);
at::Tensor gan_loss(GanLoss loss, const at::Tensor& prediction, bool target_is_real);

}  // namespace forgery
