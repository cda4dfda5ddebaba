#pragma once
// One optimisation step of the CycleGAN recipe, separate from the loop so that golden tests
// can drive it against the PyTorch reference.
#include "forgery/models/image_nets.h"
#include "forgery/train/image_pool.h"
#include "forgery/train/losses.h"
#include "forgery/train/recipe.h"

namespace forgery {

struct CycleGanNets {
  ImageNet &G_A, &G_B, &D_A, &D_B;  // G_A: A -> B, G_B: B -> A; D_A judges B images, D_B A images
};

struct CycleGanWeights {
  double lambda_A = 10, lambda_B = 10, lambda_identity = 0.5;
};

struct CycleGanLosses {
  // Detached, on the device; the reference's loss_names.
  at::Tensor D_A, G_A, cycle_A, idt_A, D_B, G_B, cycle_B, idt_B;
};

// As the reference's optimize_parameters: fake_B = G_A(A), rec_A = G_B(fake_B), fake_A =
// G_B(B), rec_B = G_A(fake_A); then the generators (both D frozen, optimiser "G"): the GAN
// losses of D_A(fake_B) and D_B(fake_A) towards real, the cycle L1 losses times lambda_A and
// lambda_B, and the identity losses |G_A(B) - B| lambda_B lambda_identity and
// |G_B(A) - A| lambda_A lambda_identity; then the discriminators (optimiser "D"): D_A on real B
// and on a fake B from pool_b, D_B on real A and a fake A from pool_a, each (real + fake) / 2.
// `draws`: a batch with add_pool_draws' entries (full pools' draws made before the step), so
// that the step is device work only; null or without them: the pools draw as they are queried.
CycleGanLosses cyclegan_step(const CycleGanNets& nets, StepContext& ctx, const at::Tensor& real_a,
                             const at::Tensor& real_b, ImagePool& pool_a, ImagePool& pool_b,
                             const CycleGanWeights& weights, GanLoss loss, const Batch* draws = nullptr);

// Once both pools are full: their draws for a step on `batch` ("A" holds its images), made now
// in the order the step queries them (pool_b's first, as drawing them when queried would), put
// into `batch` on `device`. Nothing while a pool fills or when the pools are off.
void add_pool_draws(Batch& batch, ImagePool& pool_a, ImagePool& pool_b, const c10::Device& device);

}  // namespace forgery
