#include "forgery/models/layers.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <mutex>

namespace forgery {

FastDropoutImpl::FastDropoutImpl(double p) : p_(p) {
  TORCH_CHECK(p >= 0 && p < 1, "dropout probability must be in [0, 1), got ", p);
}

static inline uint64_t mix64(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

at::Tensor dropout_mask(const at::Tensor& like, double p, uint64_t seed) {
  auto mask = at::empty(like.sizes(), like.options().dtype(at::kFloat).device(at::kCPU));
  float* out = mask.data_ptr<float>();
  const int64_t n = mask.numel();
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  // keep when a 32-bit uniform is below (1-p) * 2^32
  const uint64_t threshold = static_cast<uint64_t>((1.0 - p) * 4294967296.0);
  const uint64_t key = mix64(seed);
  at::parallel_for(0, (n + 1) / 2, 8192, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      uint64_t h = mix64(key ^ static_cast<uint64_t>(i) * 0xd6e8feb86659fd93ULL);
      int64_t j = 2 * i;
      out[j] = (h & 0xffffffffULL) < threshold ? scale : 0.f;
      if (j + 1 < n) out[j + 1] = (h >> 32) < threshold ? scale : 0.f;
    }
  });
  return mask;
}

at::Tensor FastDropoutImpl::forward(const at::Tensor& x) {
  if (!is_training() || p_ == 0) return x;
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat) return at::dropout(x, p_, true);
  uint64_t seed;
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    seed = gen.get<at::CPUGeneratorImpl>()->random64();
  }
  return x * dropout_mask(x, p_, seed);
}

}  // namespace forgery
