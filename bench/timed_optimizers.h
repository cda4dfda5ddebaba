#pragma once
// The trainer's optimiser seam with a stopwatch: how much of a step the optimisers take.
#include <chrono>
#include <string>

#include "forgery/train/recipe.h"

namespace forgery::bench {

class TimedOptimizers : public LocalOptimizers {
 public:
  using LocalOptimizers::LocalOptimizers;
  void step(const std::string& name) override {
    auto t0 = std::chrono::steady_clock::now();
    LocalOptimizers::step(name);
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  double seconds = 0;
};

}  // namespace forgery::bench
