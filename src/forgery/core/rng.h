#pragma once
// Seeding and capture/restore of every random generator a run uses (exact resume).
#include <ATen/core/Tensor.h>
#include <cstdint>
#include <map>
#include <string>

namespace forgery {

void seed_everything(uint64_t seed);
// Name ("cpu", "cuda:0", ...) -> generator state bytes.
std::map<std::string, at::Tensor> capture_rng_state();
void restore_rng_state(const std::map<std::string, at::Tensor>& state);

}  // namespace forgery
