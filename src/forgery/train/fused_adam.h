#pragma once
// Adam's update in one pass over each parameter on the CPU (LibTorch 1.13's Adam makes about
// seven passes, and the update was the largest cost after the matrix products). The math is
// torch.optim.Adam's (no weight decay, no amsgrad); the moments live in the optimiser's own
// state, so checkpoints and LibTorch's Adam see the same thing. Other devices use opt.step().
#include <torch/optim/adam.h>

namespace forgery {

void adam_step(torch::optim::Adam& optimizer);
// Gradients to undefined (as zero_grad(set_to_none=True)): backward then writes them
// instead of adding to zeros. Works with LibTorch 1.13 and 2.x.
void clear_grads(torch::optim::Optimizer& optimizer);

}  // namespace forgery
