#pragma once
// The key of a parameter in a LibTorch optimiser's state map: 1.13 keys it by the text of the
// parameter's TensorImpl address, 2.x by the address itself.
#include <ATen/core/Tensor.h>
#include <torch/optim/adam.h>

#include <memory>

#include <sstream>
#include <string>
#include <type_traits>

namespace forgery {

template <class Map>
typename Map::key_type optimizer_state_key(const at::Tensor& p) {
  using Key = typename Map::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream o;
    o << static_cast<const void*>(p.unsafeGetTensorImpl());
    return o.str();
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

// The Adam state of `p` in `states` (an optimiser's state map), made as torch.optim.Adam makes it
// on a parameter's first step (step 0, zero moments in the parameter's layout) when absent.
template <class Map>
torch::optim::AdamParamState& adam_state_of(Map& states, const at::Tensor& p) {
  auto key = optimizer_state_key<Map>(p);
  auto it = states.find(key);
  if (it == states.end()) {
    auto s = std::make_unique<torch::optim::AdamParamState>();
    s->step(0);
    s->exp_avg(at::zeros_like(p, at::MemoryFormat::Preserve));
    s->exp_avg_sq(at::zeros_like(p, at::MemoryFormat::Preserve));
    it = states.emplace(key, std::move(s)).first;
  }
  return static_cast<torch::optim::AdamParamState&>(*it->second);
}

}  // namespace forgery
