#pragma once
// Adam's update in one pass over each parameter on the CPU (LibTorch 1.13's Adam makes about
// seven passes, and the update was the largest cost after the matrix products). The math is
// torch.optim.Adam's (no weight decay, no amsgrad); the moments live in the optimiser's own
// state, so checkpoints and LibTorch's Adam see the same thing. Other devices use the
// multi-tensor form below.
#include <torch/optim/adam.h>

namespace forgery {

void adam_step(torch::optim::Adam& optimizer);
// The same update as multi-tensor operations (at::_foreach_*): a few kernel launches per
// optimiser step instead of seven per parameter. adam_step uses it off the CPU (GPUs).
void adam_step_multi_tensor(torch::optim::Adam& optimizer);
// Gradients to undefined (as zero_grad(set_to_none=True)): backward then writes them
// instead of adding to zeros. Works with LibTorch 1.13 and 2.x.
void clear_grads(torch::optim::Optimizer& optimizer);

}  // namespace forgery
