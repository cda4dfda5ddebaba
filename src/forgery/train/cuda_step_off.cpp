// This build has no CUDA graphs or fused CUDA Adam (no CUDA LibTorch 2.x, or cuda_step.cpp does
// not compile against it; the configure output says which): Adam uses its other forms and the
// trainer runs every step eagerly.
#include "forgery/core/error.h"
#include "forgery/train/cuda_step.h"

namespace forgery {

bool cuda_step_built() { return false; }
bool cuda_graph_capturing() { return false; }
bool forbid_cuda_syncs(bool) { return false; }
bool fused_adam_cuda(torch::optim::Adam&) { return false; }

struct GraphedSteps::Impl {};

GraphedSteps::GraphedSteps(std::vector<torch::optim::Adam*>, int, size_t) {
  throw Error("option cuda_graphs: this build of Forgery has no CUDA graphs (it needs a CUDA LibTorch; "
              "the configure output says why it was left out)");
}
GraphedSteps::~GraphedSteps() = default;
std::vector<LossValue> GraphedSteps::run(const Batch& batch, const StepFn& step) { return step(batch); }
int64_t GraphedSteps::captures() const { return 0; }
int64_t GraphedSteps::replays() const { return 0; }
int64_t GraphedSteps::eager_steps() const { return 0; }
const std::string& GraphedSteps::disabled_reason() const {
  static const std::string reason = "not built";
  return reason;
}

}  // namespace forgery
