#pragma once
// One optimisation step of the GAN recipe, separate from the loop so that golden tests can
// drive it with given noise against the PyTorch program.
#include <vector>

#include "forgery/models/gan_networks.h"
#include "forgery/train/losses.h"
#include "forgery/train/recipe.h"

namespace forgery {

struct GanStepStats {
  // Detached, on the device: summed over the k discriminator steps where it applies.
  at::Tensor loss_d, d_real, d_fake, loss_g;
};

// The seed's step: k times { D on real (towards 1) and G(z_d[i]) detached (towards 0) }, then
// G through D (towards 1) with z_g. An undefined z_g: G's step on the last D step's fake batch
// (the PyTorch DCGAN tutorial's step). The optimisers "G" and "D" step through `ctx`.
GanStepStats gan_step(Generator& G, Discriminator& D, StepContext& ctx, const at::Tensor& real,
                      const at::Tensor& labels, const std::vector<at::Tensor>& z_d, const at::Tensor& z_g,
                      GanLoss loss = GanLoss::Bce);

}  // namespace forgery
