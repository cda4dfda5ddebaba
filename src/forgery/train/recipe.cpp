#include "forgery/train/recipe.h"

#include <ATen/ATen.h>

#include "forgery/core/error.h"
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

static std::map<std::string, RecipeInfo>& recipe_table() {
  static std::map<std::string, RecipeInfo> recipes;
  return recipes;
}

void register_recipe(RecipeInfo info) {
  auto name = info.name;
  if (!recipe_table().emplace(name, std::move(info)).second)
    throw std::logic_error("recipe '" + name + "' registered twice");
}

const RecipeInfo& find_recipe(const std::string& name) {
  auto it = recipe_table().find(name);
  if (it != recipe_table().end()) return it->second;
  std::string known;
  for (const auto& [n, _] : recipe_table()) known += (known.empty() ? "" : ", ") + n;
  throw UsageError("unknown recipe '" + name + "' (known: " + known + ")");
}

std::vector<const RecipeInfo*> all_recipes() {
  std::vector<const RecipeInfo*> out;
  for (const auto& [_, info] : recipe_table()) out.push_back(&info);
  return out;
}

}  // namespace forgery
