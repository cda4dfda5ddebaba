#pragma once
// Network state as named tensors with PyTorch's state_dict names: for checkpoints, for weights
// shared with Python, and for files written by the PyTorch reference programs.
#include <torch/nn/module.h>

#include "forgery/io/torch_file.h"

namespace forgery {

// Parameters then buffers, as Module.state_dict() orders them per module (undefined entries,
// such as an InstanceNorm's absent running statistics, are left out).
NamedTensors module_state(const torch::nn::Module& module);
// Strict: every key present, none extra, shapes equal; errors name `what`, the missing and
// unexpected keys and the differing shapes, and leave the module unchanged.
void load_module_state(torch::nn::Module& module, const NamedTensors& state, const std::string& what);
// Why `state` does not fit (the missing and unexpected keys, the differing shapes, one per
// line), or "" when it does.
std::string state_mismatch(const torch::nn::Module& module, const NamedTensors& state);
// Whether `state`'s keys and shapes are exactly the module's.
bool state_matches(const torch::nn::Module& module, const NamedTensors& state);

// A state_dict saved by a PyTorch program, made to fit `module` the way the reference
// implementations load old files: running statistics and num_batches_tracked of normalisation
// layers that keep none (InstanceNorm without track_running_stats) are dropped, and a
// BatchNorm's missing num_batches_tracked (files from PyTorch before 0.4.1) becomes 0.
NamedTensors adapt_reference_state(const torch::nn::Module& module, NamedTensors state);

// A file holding one of Forgery's own networks: {"format": FORMAT, "version": 1, FIELDS...,
// "state_dict": the module's state}, written atomically (the folder created).
void save_network_file(const std::filesystem::path& file, const std::string& format,
                       const std::vector<std::pair<std::string, c10::IValue>>& fields,
                       const torch::nn::Module& module);
// Its dict; an Error with `not_it` (naming the file) when the file holds no such dict.
c10::impl::GenericDict read_network_file(const std::filesystem::path& file, const std::string& format,
                                         const std::string& not_it);

// A dict of the tensors on the CPU, for a checkpoint written right away (CPU tensors are not
// copied).
c10::impl::GenericDict to_dict(const NamedTensors& tensors);

}  // namespace forgery
