#pragma once
// Network and optimiser state as named tensors (PyTorch state_dict names), for checkpoints
// and for weights shared with Python.
#include <torch/nn/module.h>
#include <torch/optim/adam.h>

#include "forgery/io/torch_file.h"

namespace forgery {

NamedTensors module_state(const torch::nn::Module& module);
// Strict: every key present, none extra, shapes equal; errors name `what` and the keys.
void load_module_state(torch::nn::Module& module, const NamedTensors& state, const std::string& what);
// Whether `state`'s keys and shapes are exactly the module's.
bool state_matches(const torch::nn::Module& module, const NamedTensors& state);

// Adam moments and step counts keyed by parameter name ("main.0.weight.exp_avg", ...).
NamedTensors adam_state(torch::optim::Adam& optimizer, const torch::nn::Module& module);
void load_adam_state(torch::optim::Adam& optimizer, const torch::nn::Module& module,
                     const NamedTensors& state, const std::string& what);

c10::impl::GenericDict to_dict(const NamedTensors& tensors);

}  // namespace forgery
