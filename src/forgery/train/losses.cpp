#include "forgery/train/losses.h"

#include <ATen/ATen.h>
#include <c10/core/impl/LocalDispatchKeySet.h>

#include "forgery/core/error.h"

namespace forgery {

GanLoss parse_gan_loss(const std::string& name, const std::string& option) {
  if (name == "bce") return GanLoss::Bce;
  if (name == "bce_logits" || name == "vanilla") return GanLoss::BceLogits;
  if (name == "lsgan") return GanLoss::Lsgan;
  throw UsageError("option " + option + " '" + name + "': supported: bce, bce_logits (vanilla), lsgan");
}

const char* gan_loss_name(GanLoss loss) {
  switch (loss) {
    case GanLoss::Bce: return "bce";
    case GanLoss::BceLogits: return "bce_logits";
    case GanLoss::Lsgan: return "lsgan";
  }
  return "?";
}

at::Tensor gan_loss(GanLoss loss, const at::Tensor& prediction_in, bool target_is_real) {
  // Losses in fp32 whatever precision the network ran in (a no-op for fp32).
  const at::Tensor prediction = prediction_in.to(at::kFloat);
  at::Tensor target = target_is_real ? at::ones_like(prediction) : at::zeros_like(prediction);
  switch (loss) {
    case GanLoss::Bce: {
      // CUDA's autocast refuses binary_cross_entropy outright (bf16 runs of the DCGAN family,
      // whose D ends in a sigmoid as the tutorial's): the inputs are fp32 already, so it runs
      // with autocast's dispatch keys set aside, as it would in fp32.
      c10::impl::ExcludeDispatchKeyGuard no_autocast(c10::autocast_dispatch_keyset);
      return at::binary_cross_entropy(prediction, target);
    }
    case GanLoss::BceLogits: return at::binary_cross_entropy_with_logits(prediction, target);
    case GanLoss::Lsgan: return at::mse_loss(prediction, target);
  }
  throw Error("unknown adversarial loss");
}

}  // namespace forgery
