#pragma once
// A benchmark's training step run eagerly or through forgery::GraphedSteps (--graphs 1, as the
// trainer's cuda_graphs option does): the step benchmarks share this instead of each wiring it.
#include <cstdio>
#include <exception>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "forgery/train/cuda_step.h"

namespace forgery::bench {

class GraphedStep {
 public:
  // `prepare`: what the trainer's Recipe::prepare_batch does, on a copy of `data` before every
  // step (host draws handed to the step as inputs).
  GraphedStep(Batch data, GraphedSteps::StepFn step, std::function<void(Batch&)> prepare = nullptr)
      : data_(std::move(data)), step_(std::move(step)), prepare_(std::move(prepare)) {}
  // Graphs for the optimisers' step; false, with the reason on stderr (for `program`), where
  // this build or device has none.
  bool use_graphs(const char* program, std::vector<torch::optim::Adam*> optimizers) {
    try {
      graphs_ = std::make_unique<GraphedSteps>(std::move(optimizers));
      return true;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s --graphs 1: %s\n", program, e.what());
      return false;
    }
  }
  void operator()() {
    Batch batch = data_;
    if (prepare_) prepare_(batch);
    if (graphs_) graphs_->run(batch, step_);
    else step_(batch);
  }
  int64_t captures() const { return graphs_ ? graphs_->captures() : 0; }

 private:
  Batch data_;
  GraphedSteps::StepFn step_;
  std::function<void(Batch&)> prepare_;
  std::unique_ptr<GraphedSteps> graphs_;
};

}  // namespace forgery::bench
