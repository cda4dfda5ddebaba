#pragma once
// Adam's per-parameter state as named tensors, for checkpoints: an optimiser may update several
// networks (CycleGAN's G over G_A and G_B), so its entries are named NETWORK.PARAMETER.FIELD
// ("G.model.0.weight.exp_avg", "G.model.0.weight.step").
#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "forgery/io/torch_file.h"

namespace forgery {

using NamedModules = std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>>;

NamedTensors adam_state(torch::optim::Adam& optimizer, const NamedModules& networks);
// Errors name `what` and the parameter whose state is incomplete or of the wrong shape.
void load_adam_state(torch::optim::Adam& optimizer, const NamedModules& networks, const NamedTensors& state,
                     const std::string& what);

}  // namespace forgery
