#pragma once
// A benchmark's training step run eagerly or through forgery::GraphedSteps (--graphs 1, as the
// trainer's cuda_graphs option does): the step benchmarks share this instead of each wiring it.
#include <cstdio>
#include <exception>
#include <memory>
#include <utility>
#include <vector>

#include "forgery/train/cuda_step.h"

namespace forgery::bench {

class GraphedStep {
 public:
  GraphedStep(Batch data, GraphedSteps::StepFn step) : data_(std::move(data)), step_(std::move(step)) {}
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
    if (graphs_) graphs_->run(data_, step_);
    else step_(data_);
  }
  int64_t captures() const { return graphs_ ? graphs_->captures() : 0; }

 private:
  Batch data_;
  GraphedSteps::StepFn step_;
  std::unique_ptr<GraphedSteps> graphs_;
};

}  // namespace forgery::bench
