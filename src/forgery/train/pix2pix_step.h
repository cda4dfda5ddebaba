#pragma once
// One optimisation step of the pix2pix recipe, separate from the loop so that golden tests
// can drive it against the PyTorch reference.
#include "forgery/models/image_nets.h"
#include "forgery/train/losses.h"
#include "forgery/train/recipe.h"

namespace forgery {

struct Pix2PixLosses {
  // Detached, on the device.
  at::Tensor g_gan, g_l1, d_real, d_fake;
};

// G's output for real_A; D on (A, fake B) then (A, real B), its loss halved, optimiser "D";
// then G (D frozen) against D on (A, fake B) plus lambda_l1 times the L1 distance to real B,
// optimiser "G". As the reference's optimize_parameters.
Pix2PixLosses pix2pix_step(ImageNet& G, ImageNet& D, StepContext& ctx, const at::Tensor& real_a,
                           const at::Tensor& real_b, GanLoss loss, double lambda_l1);

}  // namespace forgery
