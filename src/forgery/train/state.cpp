#include "forgery/train/state.h"

#include <map>
#include <sstream>
#include <type_traits>

#include "forgery/core/error.h"
#include "forgery/train/optimizer_state_key.h"

namespace forgery {

NamedTensors module_state(const torch::nn::Module& module) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(true)) out.emplace_back(p.key(), p.value());
  for (const auto& b : module.named_buffers(true)) out.emplace_back(b.key(), b.value());
  return out;
}

static std::string shape_text(at::IntArrayRef s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

bool state_matches(const torch::nn::Module& module, const NamedTensors& state) {
  auto mine = module_state(module);
  if (mine.size() != state.size()) return false;
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  for (const auto& [name, t] : mine) {
    auto it = given.find(name);
    if (it == given.end() || it->second.sizes() != t.sizes()) return false;
  }
  return true;
}

void load_module_state(torch::nn::Module& module, const NamedTensors& state, const std::string& what) {
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  std::string missing, problems;
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : module_state(module)) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing += (missing.empty() ? "" : ", ") + name;
      continue;
    }
    if (it->second.sizes() != t.sizes())
      problems += "\n  " + name + ": shape " + shape_text(it->second.sizes()) + " in the file, " +
                  shape_text(t.sizes()) + " in the model";
    else
      t.copy_(it->second);
    given.erase(it);
  }
  std::string unexpected;
  for (const auto& [name, _] : given) unexpected += (unexpected.empty() ? "" : ", ") + name;
  if (!missing.empty() || !unexpected.empty() || !problems.empty())
    throw Error(what + " does not fit this model:" +
                (missing.empty() ? "" : "\n  missing: " + missing) +
                (unexpected.empty() ? "" : "\n  unexpected: " + unexpected) + problems);
}


NamedTensors adam_state(torch::optim::Adam& optimizer, const torch::nn::Module& module) {
  using Map = std::decay_t<decltype(optimizer.state())>;
  NamedTensors out;
  auto& states = optimizer.state();
  for (const auto& p : module.named_parameters(true)) {
    auto it = states.find(optimizer_state_key<Map>(p.value()));
    if (it == states.end()) continue;  // not stepped yet
    auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
    out.emplace_back(p.key() + ".exp_avg", s.exp_avg());
    out.emplace_back(p.key() + ".exp_avg_sq", s.exp_avg_sq());
    out.emplace_back(p.key() + ".step", at::scalar_tensor(s.step(), at::kLong));
  }
  return out;
}

void load_adam_state(torch::optim::Adam& optimizer, const torch::nn::Module& module,
                     const NamedTensors& state, const std::string& what) {
  using Map = std::decay_t<decltype(optimizer.state())>;
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  auto& states = optimizer.state();
  states.clear();
  for (const auto& p : module.named_parameters(true)) {
    auto a = given.find(p.key() + ".exp_avg"), b = given.find(p.key() + ".exp_avg_sq"),
         c = given.find(p.key() + ".step");
    if (a == given.end() && b == given.end() && c == given.end()) continue;
    if (a == given.end() || b == given.end() || c == given.end() ||
        a->second.sizes() != p.value().sizes() || b->second.sizes() != p.value().sizes())
      throw Error(what + ": optimiser state for " + p.key() + " is incomplete or the wrong shape");
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(c->second.item<int64_t>());
    s->exp_avg(a->second.to(p.value().device()).clone());
    s->exp_avg_sq(b->second.to(p.value().device()).clone());
    states[optimizer_state_key<Map>(p.value())] = std::move(s);
  }
}

c10::impl::GenericDict to_dict(const NamedTensors& tensors) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [k, t] : tensors) d.insert(k, t.detach().to(at::kCPU).contiguous().clone());
  return d;
}

}  // namespace forgery
