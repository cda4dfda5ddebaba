#pragma once
// The training step on CUDA without the launch overhead of small networks: Adam as one fused
// kernel per optimiser step whose step counts live on the device (at::_fused_adam_), and whole
// training steps captured once as CUDA graphs and replayed for every later batch of the same
// shapes and learning rates.
//
// Built where LibTorch has CUDA and this API compiles (the build compiles and links cuda_step.cpp to
// decide, as it does for NCCL); elsewhere cuda_step_built() is false, fused_adam_cuda() declines
// and GraphedSteps cannot be made.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "forgery/data/training_data.h"
#include "forgery/train/recipe.h"

namespace torch::optim {
class Adam;
}

namespace forgery {

bool cuda_step_built();
// True while this thread captures a CUDA graph (GraphedSteps): host-side numbers computed now
// would be repeated by every replay.
bool cuda_graph_capturing();

// LibTorch's CUDA sync debug mode: while on, every operation that makes the host wait for the
// device (.item(), a copy to the host or from pageable memory, a stream synchronisation) throws
// "called a synchronizing CUDA operation". For tests that show the training steps queue their
// work without waiting. Returns false (and does nothing) where cuda_step_built() is false.
bool forbid_cuda_syncs(bool on);

// Adam's update of every parameter that has a gradient in one kernel, with torch.optim.Adam's
// arithmetic (the fused CUDA form: fp32 math, step counts as float tensors on the device, read
// by the kernel). The host's step counts in the optimiser state advance as usual, so
// checkpoints are unchanged. Returns false, having done nothing, where it does not apply (not
// built, parameters not all on one CUDA device, weight decay or amsgrad, layouts that differ):
// the caller uses another form. Inside a capture it throws instead (no other form is safe there).
bool fused_adam_cuda(torch::optim::Adam& optimizer);

// Runs a recipe's training step through CUDA graphs. A step's key is its batch's shapes and the
// optimisers' learning rates and betas. The first `warmup` steps of a key run eagerly on a side
// stream (lazy initialisation of cuBLAS and cuDNN for those shapes); the next is captured (the
// step's host code runs once, its kernels are recorded) and replayed; later batches with that
// key are copied into the graph's input tensors and the graph replayed, with no host work beyond
// the copy and the launch. At most `max_graphs` graphs are kept (the least recently used is
// dropped): a full batch and an epoch's last, shorter one.
//
// What a step may do to be captured: device work only (no .item(), no host decision on device
// values), random numbers from the default CUDA generator, optimiser steps through
// fused_adam_cuda. The losses returned are the graph's output tensors: read or add them before
// the next step. The host's Adam step counts are advanced after each replay as the captured
// step advanced them.
//
// A capture that fails (an operation CUDA graphs cannot record) turns graphs off for the rest
// of the run with the reason (disabled_reason) and the step runs eagerly; nothing of it was
// executed, so the run goes on unchanged.
class GraphedSteps {
 public:
  using StepFn = std::function<std::vector<LossValue>(const Batch&)>;
  GraphedSteps(std::vector<torch::optim::Adam*> optimizers, int warmup = 2, size_t max_graphs = 2);
  ~GraphedSteps();
  GraphedSteps(const GraphedSteps&) = delete;
  GraphedSteps& operator=(const GraphedSteps&) = delete;

  std::vector<LossValue> run(const Batch& batch, const StepFn& step);

  int64_t captures() const;
  int64_t replays() const;
  int64_t eager_steps() const;
  // Empty while graphs are on; why they were turned off otherwise.
  const std::string& disabled_reason() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace forgery
