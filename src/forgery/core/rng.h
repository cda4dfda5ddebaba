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
// Data-parallel ranks: seeds this process's own generators (CPU and every CUDA device) from the
// run's seed, the rank and the step, distinct for every rank.
void seed_rank_streams(uint64_t seed, int rank, int64_t step);

}  // namespace forgery
