#include "forgery/train/optimizer_state.h"

#include <map>
#include <type_traits>

#include "forgery/core/error.h"
#include "forgery/train/optimizer_state_key.h"

namespace forgery {

NamedTensors adam_state(torch::optim::Adam& optimizer, const NamedModules& networks) {
  using Map = std::decay_t<decltype(optimizer.state())>;
  NamedTensors out;
  auto& states = optimizer.state();
  for (const auto& [net, module] : networks)
    for (const auto& p : module->named_parameters(true)) {
      auto it = states.find(optimizer_state_key<Map>(p.value()));
      if (it == states.end()) continue;  // not stepped yet
      auto& s = static_cast<torch::optim::AdamParamState&>(*it->second);
      const std::string key = net + "." + p.key();
      out.emplace_back(key + ".exp_avg", s.exp_avg());
      out.emplace_back(key + ".exp_avg_sq", s.exp_avg_sq());
      out.emplace_back(key + ".step", at::scalar_tensor(s.step(), at::kLong));
    }
  return out;
}

void load_adam_state(torch::optim::Adam& optimizer, const NamedModules& networks, const NamedTensors& state,
                     const std::string& what) {
  using Map = std::decay_t<decltype(optimizer.state())>;
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  auto& states = optimizer.state();
  states.clear();
  size_t used = 0;
  for (const auto& [net, module] : networks)
    for (const auto& p : module->named_parameters(true)) {
      const std::string key = net + "." + p.key();
      auto a = given.find(key + ".exp_avg"), b = given.find(key + ".exp_avg_sq"), c = given.find(key + ".step");
      if (a == given.end() && b == given.end() && c == given.end()) continue;
      if (a == given.end() || b == given.end() || c == given.end() || a->second.sizes() != p.value().sizes() ||
          b->second.sizes() != p.value().sizes())
        throw Error(what + ": optimiser state for " + key + " is incomplete or the wrong shape");
      auto s = std::make_unique<torch::optim::AdamParamState>();
      s->step(c->second.item<int64_t>());
      s->exp_avg(a->second.to(p.value().device()).clone());
      s->exp_avg_sq(b->second.to(p.value().device()).clone());
      states[optimizer_state_key<Map>(p.value())] = std::move(s);
      used += 3;
    }
  if (used != given.size()) {
    std::string extra;
    for (const auto& [k, _] : given) {
      bool known = false;
      for (const auto& [net, module] : networks)
        for (const auto& p : module->named_parameters(true))
          known = known || k.rfind(net + "." + p.key() + ".", 0) == 0;
      if (!known) extra += (extra.empty() ? "" : ", ") + k;
    }
    throw Error(what + ": optimiser state for parameters this model does not have: " + extra);
  }
}

}  // namespace forgery
