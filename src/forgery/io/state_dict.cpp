#include "forgery/io/state_dict.h"

#include <torch/nn/modules/batchnorm.h>
#include <torch/nn/modules/instancenorm.h>

#include <map>
#include <set>
#include <sstream>

#include "forgery/core/error.h"

namespace forgery {

NamedTensors module_state(const torch::nn::Module& module) {
  NamedTensors out;
  // Per module: its parameters, then its buffers (PyTorch's state_dict order).
  for (const auto& item : module.named_modules("", /*include_self=*/true)) {
    const std::string prefix = item.key().empty() ? "" : item.key() + ".";
    for (const auto& p : item.value()->named_parameters(/*recurse=*/false))
      if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value());
    for (const auto& b : item.value()->named_buffers(/*recurse=*/false))
      if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value());
  }
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
    if (it == given.end() || it->second.sizes() != t.sizes() ||
        at::isFloatingType(it->second.scalar_type()) != at::isFloatingType(t.scalar_type()))
      return false;
  }
  return true;
}

namespace {
// Names joined by ", ", the first `shown` of them, then how many more.
std::string listed(const std::vector<std::string>& names, size_t shown = 6) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < shown; ++i) out += (i ? ", " : "") + names[i];
  if (names.size() > shown) out += ", and " + std::to_string(names.size() - shown) + " more";
  return out;
}
}  // namespace

std::string state_mismatch(const torch::nn::Module& module, const NamedTensors& state) {
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  std::vector<std::string> missing, problems;
  for (const auto& [name, t] : module_state(module)) {
    auto it = given.find(name);
    if (it == given.end()) {
      missing.push_back(name);
      continue;
    }
    if (it->second.sizes() != t.sizes())
      problems.push_back(name + ": shape " + shape_text(it->second.sizes()) + " in the file, " + shape_text(t.sizes()) +
                         " in the model");
    // Floating weights convert between precisions (as load_state_dict does); integers or
    // booleans where the model keeps floating values, or the other way round, are a wrong file.
    else if (at::isFloatingType(it->second.scalar_type()) != at::isFloatingType(t.scalar_type()))
      problems.push_back(name + ": dtype " + std::string(c10::toString(it->second.scalar_type())) + " in the file, " +
                         std::string(c10::toString(t.scalar_type())) + " in the model");
    given.erase(it);
  }
  std::vector<std::string> unexpected;
  for (const auto& [name, _] : given) unexpected.push_back(name);
  if (missing.empty() && unexpected.empty() && problems.empty()) return "";
  // A few of each: a wrong file can differ in every one of hundreds of keys.
  std::string out = (missing.empty() ? "" : "\n  missing: " + listed(missing)) +
                    (unexpected.empty() ? "" : "\n  unexpected: " + listed(unexpected));
  for (size_t i = 0; i < problems.size() && i < 4; ++i) out += "\n  " + problems[i];
  if (problems.size() > 4) out += "\n  and " + std::to_string(problems.size() - 4) + " more keys of another shape or type";
  return out;
}

void load_module_state(torch::nn::Module& module, const NamedTensors& state, const std::string& what) {
  // Checked whole before anything is copied: a file that does not fit changes nothing.
  if (std::string why = state_mismatch(module, state); !why.empty()) throw Error(what + " does not fit this model:" + why);
  std::map<std::string, at::Tensor> given(state.begin(), state.end());
  torch::NoGradGuard no_grad;
  for (auto& [name, t] : module_state(module)) t.copy_(given.at(name));
}

NamedTensors adapt_reference_state(const torch::nn::Module& module, NamedTensors state) {
  std::set<std::string> stateless_norms, batch_norms;
  for (const auto& item : module.named_modules("", /*include_self=*/false)) {
    const auto& m = *item.value();
    const bool instance = m.as<torch::nn::InstanceNorm1d>() || m.as<torch::nn::InstanceNorm2d>() ||
                          m.as<torch::nn::InstanceNorm3d>();
    bool tracks = false;
    for (const auto& b : m.named_buffers(false))
      if (b.key() == "running_mean" && b.value().defined()) tracks = true;
    if (instance && !tracks) stateless_norms.insert(item.key());
    if (m.as<torch::nn::BatchNorm2d>() || m.as<torch::nn::BatchNorm1d>()) batch_norms.insert(item.key());
  }
  NamedTensors out;
  std::set<std::string> keys;
  for (auto& [name, t] : state) {
    const auto dot = name.rfind('.');
    const std::string owner = dot == std::string::npos ? "" : name.substr(0, dot);
    const std::string leaf = dot == std::string::npos ? name : name.substr(dot + 1);
    if (stateless_norms.count(owner) &&
        (leaf == "running_mean" || leaf == "running_var" || leaf == "num_batches_tracked"))
      continue;
    keys.insert(name);
    out.emplace_back(name, t);
  }
  for (const auto& owner : batch_norms)
    if (keys.count(owner + ".running_mean") && !keys.count(owner + ".num_batches_tracked"))
      out.emplace_back(owner + ".num_batches_tracked", at::zeros({}, at::kLong));
  return out;
}

c10::impl::GenericDict to_dict(const NamedTensors& tensors) {
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  for (const auto& [k, t] : tensors) d.insert(k, standalone_cpu(t));
  return d;
}

void save_network_file(const std::filesystem::path& file, const std::string& format,
                       const std::vector<std::pair<std::string, c10::IValue>>& fields,
                       const torch::nn::Module& module) {
  std::error_code ec;
  std::filesystem::create_directories(file.parent_path().empty() ? "." : file.parent_path(), ec);
  c10::impl::GenericDict d(c10::StringType::get(), c10::AnyType::get());
  d.insert("format", format);
  d.insert("version", int64_t{1});
  for (const auto& [k, v] : fields) d.insert(k, v);
  d.insert("state_dict", to_dict(module_state(module)));
  save_torch_file(file, d);
}

c10::impl::GenericDict read_network_file(const std::filesystem::path& file, const std::string& format,
                                         const std::string& not_it) {
  auto v = load_torch_file(file);
  if (!v.isGenericDict()) throw Error(file.string() + " " + not_it);
  auto d = v.toGenericDict();
  auto fmt = d.find(c10::IValue(std::string("format")));
  if (fmt == d.end() || !fmt->value().isString() || fmt->value().toStringRef() != format ||
      d.find(c10::IValue(std::string("state_dict"))) == d.end())
    throw Error(file.string() + " " + not_it);
  return d;
}

}  // namespace forgery
