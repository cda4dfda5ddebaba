#pragma once
// Things found by name (models, recipes, networks), each registered by the file that defines
// it, so that adding one is adding a file, not editing a switch. No torch here.
#include <functional>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "forgery/core/error.h"

namespace forgery {

template <class Info>
class NamedRegistry {
 public:
  // `unknown(name, known)` words the UsageError for a name that is not registered.
  explicit NamedRegistry(std::function<std::string(const std::string&, const std::string&)> unknown)
      : unknown_(std::move(unknown)) {}

  void add(Info info) {
    auto name = info.name;
    if (!table_.emplace(name, std::move(info)).second) throw std::logic_error("'" + name + "' registered twice");
  }
  const Info& find(const std::string& name) const {
    auto it = table_.find(name);
    if (it != table_.end()) return it->second;
    std::string known;
    for (const auto& [n, _] : table_) known += (known.empty() ? "" : ", ") + n;
    throw UsageError(unknown_(name, known));
  }
  std::vector<const Info*> all() const {
    std::vector<const Info*> out;
    for (const auto& [_, info] : table_) out.push_back(&info);
    return out;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& [n, _] : table_) out.push_back(n);
    return out;
  }

 private:
  std::function<std::string(const std::string&, const std::string&)> unknown_;
  std::map<std::string, Info> table_;
};

}  // namespace forgery
