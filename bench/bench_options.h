#pragma once
// The "--name value" options of a benchmark program, read into the variables they name; an
// unknown option, a missing value or a value that is not a whole number is refused with a
// message (parse() returns false: exit with status 2).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace forgery::bench {

class BenchOptions {
 public:
  BenchOptions& add(const char* name, int64_t* v) { return put(name, v); }
  BenchOptions& add(const char* name, int* v) { return put(name, v); }
  BenchOptions& add(const char* name, std::string* v) { return put(name, v); }

  bool parse(int argc, char** argv) const {
    for (int i = 1; i < argc; i += 2) {
      const std::string name = argv[i];
      const auto it = std::find_if(options_.begin(), options_.end(), [&](const auto& o) { return o.first == name; });
      if (it == options_.end() || i + 1 >= argc) {
        std::fprintf(stderr, "%s: %s\n", name.c_str(), it == options_.end() ? "unknown option" : "needs a value");
        return false;
      }
      const std::string value = argv[i + 1];
      if (auto* s = std::get_if<std::string*>(&it->second)) {
        **s = value;
        continue;
      }
      size_t used = 0;
      long long n = 0;
      try {
        n = std::stoll(value, &used);
      } catch (const std::exception&) {
      }
      if (used != value.size() || value.empty()) {
        std::fprintf(stderr, "%s: expected a whole number, got '%s'\n", name.c_str(), value.c_str());
        return false;
      }
      if (auto* l = std::get_if<int64_t*>(&it->second)) **l = n;
      else **std::get_if<int*>(&it->second) = static_cast<int>(n);
    }
    return true;
  }

 private:
  template <class T>
  BenchOptions& put(const char* name, T* v) {
    options_.emplace_back(std::string("--") + name, v);
    return *this;
  }
  std::vector<std::pair<std::string, std::variant<int64_t*, int*, std::string*>>> options_;
};

}  // namespace forgery::bench
