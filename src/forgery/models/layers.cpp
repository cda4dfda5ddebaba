#include "forgery/models/layers.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <torch/autograd.h>

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

namespace {
// Element i keeps when a keyed 32-bit hash of i is below (1-p) * 2^32: two rounds of
// murmur3's finaliser, each keyed with half of a 64-bit key. 32-bit multiplies vectorise, so
// a mask costs about a nanosecond per 16 elements; clones for AVX2 and AVX-512 are chosen at
// run time.
inline uint32_t keep_hash(int64_t i, uint32_t k0, uint32_t k1) {
  uint32_t x = static_cast<uint32_t>(i) * 0x9e3779b1u + k0;
  x ^= x >> 16; x *= 0x85ebca6bu; x ^= x >> 13; x *= 0xc2b2ae35u; x ^= x >> 16;
  x ^= k1;
  x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
  return x;
}

struct MaskKey {
  uint32_t k0, k1, threshold;
  float scale;
};

MaskKey mask_key(double p, uint64_t seed) {
  const double keep = (1.0 - p) * 4294967296.0;
  const uint64_t key = mix64(seed);
  return {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32),
          keep >= 4294967295.0 ? 0xffffffffu : static_cast<uint32_t>(keep), static_cast<float>(1.0 / (1.0 - p))};
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void fill_mask(float* out, int64_t begin, int64_t end, MaskKey k) {
  for (int64_t i = begin; i < end; ++i) out[i] = keep_hash(i, k.k0, k.k1) < k.threshold ? k.scale : 0.f;
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void leaky_dropout_forward(const float* x, float* y, int64_t begin, int64_t end, float slope, MaskKey k) {
  for (int64_t i = begin; i < end; ++i) {
    const float a = x[i] > 0.f ? x[i] : x[i] * slope;
    y[i] = keep_hash(i, k.k0, k.k1) < k.threshold ? a * k.scale : 0.f;
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
void leaky_dropout_backward(const float* x, const float* g, float* dx, int64_t begin, int64_t end, float slope,
                            MaskKey k) {
  for (int64_t i = begin; i < end; ++i) {
    const float d = x[i] > 0.f ? g[i] : g[i] * slope;
    dx[i] = keep_hash(i, k.k0, k.k1) < k.threshold ? d * k.scale : 0.f;
  }
}

class LeakyReluDropoutFunction : public torch::autograd::Function<LeakyReluDropoutFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x, double slope, double p,
                            int64_t seed) {
    auto xc = x.contiguous();
    auto y = at::empty_like(xc);
    const MaskKey k = mask_key(p, static_cast<uint64_t>(seed));
    const float* xp = xc.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    at::parallel_for(0, xc.numel(), 32768, [&](int64_t b, int64_t e) {
      leaky_dropout_forward(xp, yp, b, e, static_cast<float>(slope), k);
    });
    ctx->save_for_backward({xc});
    ctx->saved_data["slope"] = slope;
    ctx->saved_data["p"] = p;
    ctx->saved_data["seed"] = seed;
    return y;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto x = ctx->get_saved_variables()[0];
    auto g = grads[0].contiguous();
    auto dx = at::empty_like(x);
    const MaskKey k = mask_key(ctx->saved_data["p"].toDouble(), static_cast<uint64_t>(ctx->saved_data["seed"].toInt()));
    const float slope = static_cast<float>(ctx->saved_data["slope"].toDouble());
    const float* xp = x.data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    float* dp = dx.data_ptr<float>();
    at::parallel_for(0, x.numel(), 32768, [&](int64_t b, int64_t e) { leaky_dropout_backward(xp, gp, dp, b, e, slope, k); });
    return {dx, at::Tensor(), at::Tensor(), at::Tensor()};
  }
};
}  // namespace

uint64_t draw_dropout_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

at::Tensor leaky_relu_dropout(const at::Tensor& x, double slope, double p, bool training) {
  // Under bf16 autocast the matrix products hand over bf16: the activation runs in fp32.
  if (x.scalar_type() == at::kBFloat16) return leaky_relu_dropout(x.to(at::kFloat), slope, p, training);
  if (!training || p == 0) return at::leaky_relu(x, slope);
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat) return at::dropout(at::leaky_relu(x, slope), p, true);
  TORCH_CHECK(x.numel() < (int64_t{1} << 32), "tensor too large for the fused dropout");
  return LeakyReluDropoutFunction::apply(x, slope, p, static_cast<int64_t>(draw_dropout_seed()));
}

at::Tensor dropout_mask(const at::Tensor& like, double p, uint64_t seed) {
  auto mask = at::empty(like.sizes(), like.options().dtype(at::kFloat).device(at::kCPU));
  float* out = mask.data_ptr<float>();
  const int64_t n = mask.numel();
  TORCH_CHECK(n < (int64_t{1} << 32), "dropout mask too large");
  const MaskKey k = mask_key(p, seed);
  at::parallel_for(0, n, 32768, [&](int64_t begin, int64_t end) { fill_mask(out, begin, end, k); });
  return mask;
}

at::Tensor FastDropoutImpl::forward(const at::Tensor& x) {
  if (!is_training() || p_ == 0) return x;
  if (!x.device().is_cpu() || x.scalar_type() != at::kFloat) return at::dropout(x, p_, true);
  return x * dropout_mask(x, p_, draw_dropout_seed());
}

}  // namespace forgery
