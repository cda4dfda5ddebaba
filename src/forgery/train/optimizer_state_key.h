#pragma once
// The key of a parameter in a LibTorch optimiser's state map: 1.13 keys it by the text of the
// parameter's TensorImpl address, 2.x by the address itself.
#include <ATen/core/Tensor.h>

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

}  // namespace forgery
