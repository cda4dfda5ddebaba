#pragma once
// Golden fixture files: dicts of tensors written by tests/fixtures/make_fixtures.py (PyTorch),
// and the comparison the golden tests make against them.
#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "forgery/io/torch_file.h"
#include "test_util.h"

namespace forgery::test {

class GoldenFile {
 public:
  explicit GoldenFile(const std::string& name) : dict_(load_torch_file(fixture(name)).toGenericDict()) {}
  at::Tensor get(const std::string& key) const {
    auto it = dict_.find(c10::IValue(key));
    if (it == dict_.end()) throw std::runtime_error("fixture lacks " + key);
    return it->value().toTensor();
  }
  bool has(const std::string& key) const { return dict_.find(c10::IValue(key)) != dict_.end(); }
  // The entries whose keys start with `prefix`, the prefix removed (a state_dict stored inside).
  NamedTensors with_prefix(const std::string& prefix) const {
    NamedTensors out;
    for (const auto& e : dict_) {
      const std::string k = e.key().toStringRef();
      if (k.rfind(prefix, 0) == 0) out.emplace_back(k.substr(prefix.size()), e.value().toTensor());
    }
    return out;
  }

 private:
  c10::impl::GenericDict dict_;
};

// |got - want| <= rel * |want| + abs everywhere, compared in float64.
inline void expect_close(const at::Tensor& got, const at::Tensor& want, const std::string& what, double rel,
                         double abs) {
  ASSERT_EQ(got.sizes(), want.sizes()) << what;
  auto g = got.to(torch::kDouble), w = want.to(torch::kDouble);
  auto diff = (g - w).abs();
  EXPECT_TRUE((diff <= w.abs() * rel + abs).all().item<bool>())
      << what << ": max abs diff " << diff.max().item<double>() << " max rel "
      << (diff / (w.abs() + 1e-12)).max().item<double>();
}

}  // namespace forgery::test
