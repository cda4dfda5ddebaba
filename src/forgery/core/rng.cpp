#include "forgery/core/rng.h"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/utils.h>

#include <mutex>

#include "forgery/core/error.h"

namespace forgery {

void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

static at::Generator generator_for(const std::string& name) {
  if (name == "cpu") return at::globalContext().defaultGenerator(c10::Device(c10::kCPU));
  return at::globalContext().defaultGenerator(c10::Device(name));
}

// The CPU's generator and every CUDA device's.
static std::vector<std::string> generator_names() {
  std::vector<std::string> names = {"cpu"};
  if (torch::cuda::is_available())
    for (size_t i = 0; i < torch::cuda::device_count(); ++i) names.push_back("cuda:" + std::to_string(i));
  return names;
}

std::map<std::string, at::Tensor> capture_rng_state() {
  std::map<std::string, at::Tensor> out;
  for (const auto& name : generator_names()) {
    auto gen = generator_for(name);
    std::lock_guard<std::mutex> lock(gen.mutex());
    out[name] = gen.get_state();
  }
  return out;
}

void restore_rng_state(const std::map<std::string, at::Tensor>& state) {
  for (const auto& [name, bytes] : state) {
    if (name != "cpu" && !torch::cuda::is_available()) continue;  // saved on a GPU machine
    auto gen = generator_for(name);
    std::lock_guard<std::mutex> lock(gen.mutex());
    try {
      gen.set_state(bytes);
    } catch (const c10::Error& e) {
      throw Error("random generator state '" + name + "' cannot be restored: " + e.what_without_backtrace());
    }
  }
}

namespace {
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

void seed_rank_streams(uint64_t seed, int rank, int64_t step) {
  const uint64_t s = splitmix64(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(rank + 1)) ^ static_cast<uint64_t>(step));
  for (const auto& name : generator_names()) {
    auto gen = generator_for(name);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_current_seed(s);
  }
}

}  // namespace forgery
