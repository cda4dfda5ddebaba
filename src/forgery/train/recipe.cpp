#include "forgery/train/recipe.h"

#include <ATen/ATen.h>

#include "forgery/core/registry.h"
#include "forgery/train/fused_adam.h"

namespace forgery {

at::Tensor StepContext::randn(at::IntArrayRef sizes, const at::TensorOptions& options) {
  return at::randn(sizes, options);
}

void set_requires_grad(torch::nn::Module& module, bool on) {
  for (auto& p : module.parameters()) p.set_requires_grad(on);
}

torch::optim::Adam& LocalOptimizers::get(const std::string& name) {
  auto it = optimizers_.find(name);
  if (it == optimizers_.end()) throw std::logic_error("no optimiser named " + name);
  return *it->second;
}
void LocalOptimizers::zero_grad(const std::string& name) { clear_grads(get(name)); }
void LocalOptimizers::step(const std::string& name) { adam_step(get(name)); }

static NamedRegistry<RecipeInfo>& recipes() {
  static NamedRegistry<RecipeInfo> registry(
      [](const std::string& name, const std::string& known) { return "unknown recipe '" + name + "' (known: " + known + ")"; });
  return registry;
}

void register_recipe(RecipeInfo info) { recipes().add(std::move(info)); }
const RecipeInfo& find_recipe(const std::string& name) { return recipes().find(name); }
std::vector<const RecipeInfo*> all_recipes() { return recipes().all(); }

}  // namespace forgery
