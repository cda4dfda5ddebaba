#include "forgery/train/fused_adam.h"

#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>

#include <cmath>
#include <map>
#include <vector>
#include <sstream>
#include <type_traits>

#include "forgery/train/cuda_step.h"
#include "forgery/train/optimizer_state_key.h"

namespace forgery {

namespace {

// The same operations, in the same order, as LibTorch's and PyTorch's single-tensor Adam.
// Square root and division make it compute-bound at SSE2 width: clones for AVX2 and AVX-512
// are chosen at run time.
__attribute__((target_clones("avx512f", "avx2", "default")))
void update_range(float* __restrict p, const float* __restrict g, float* __restrict m, float* __restrict v,
                  int64_t begin, int64_t end, float beta1, float beta2, float eps, float step_size,
                  float bc2_sqrt) {
  const float one_minus_b1 = 1.f - beta1, one_minus_b2 = 1.f - beta2;
  for (int64_t i = begin; i < end; ++i) {
    const float gi = g[i];
    const float mi = m[i] * beta1 + gi * one_minus_b1;
    const float vi = v[i] * beta2 + gi * gi * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / bc2_sqrt + eps;
    p[i] = p[i] + (-step_size) * (mi / denom);
  }
}

void update(float* p, const float* g, float* m, float* v, int64_t n, float beta1, float beta2, float eps,
            float step_size, float bc2_sqrt) {
  at::parallel_for(0, n, 16384, [&](int64_t begin, int64_t end) {
    update_range(p, g, m, v, begin, end, beta1, beta2, eps, step_size, bc2_sqrt);
  });
}
}  // namespace

namespace {
bool plain_adam(torch::optim::Adam& opt) {
  for (auto& group : opt.param_groups()) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    if (o.weight_decay() != 0 || o.amsgrad()) return false;
  }
  return true;
}
}  // namespace

static void multi_tensor_update(torch::optim::Adam& opt) {
  torch::NoGradGuard no_grad;
  if (!plain_adam(opt)) {
    opt.step();
    return;
  }
  auto& states = opt.state();
  for (auto& group : opt.param_groups()) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    // Parameters at the same step share their bias corrections: one list each.
    std::map<int64_t, std::vector<at::Tensor>> ps, gs, ms, vs;
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& s = adam_state_of(states, p);
      s.step(s.step() + 1);
      ps[s.step()].push_back(p);
      gs[s.step()].push_back(p.grad());
      ms[s.step()].push_back(s.exp_avg());
      vs[s.step()].push_back(s.exp_avg_sq());
    }
    for (auto& [step, params] : ps) {
      const double bc1 = 1 - std::pow(beta1, static_cast<double>(step));
      const double bc2 = 1 - std::pow(beta2, static_cast<double>(step));
      auto& m = ms[step];
      auto& v = vs[step];
      auto& g = gs[step];
      // The single-tensor Adam's operations, each over all tensors at once.
      at::_foreach_mul_(m, beta1);
      at::_foreach_add_(m, g, 1 - beta1);
      at::_foreach_mul_(v, beta2);
      at::_foreach_addcmul_(v, g, g, 1 - beta2);
      auto denom = at::_foreach_sqrt(v);
      at::_foreach_div_(denom, std::sqrt(bc2));
      at::_foreach_add_(denom, o.eps());
      at::_foreach_addcdiv_(params, m, denom, -o.lr() / bc1);
    }
  }
}

static void fused_update(torch::optim::Adam& opt) {
  torch::NoGradGuard no_grad;
  bool fused_ok = true;
  for (auto& group : opt.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined() && (!p.device().is_cpu() || p.scalar_type() != at::kFloat || !p.is_contiguous() ||
                                 !p.grad().is_contiguous()))
        fused_ok = false;
  if (!fused_ok && fused_adam_cuda(opt)) return;
  if (!plain_adam(opt)) {
    opt.step();
    return;
  }
  if (!fused_ok) {
    // GPUs without the fused kernel (fused_adam_cuda above, one kernel per optimiser step with
    // its step counts on the device): a handful of multi-tensor kernels instead of seven per
    // parameter.
    multi_tensor_update(opt);
    return;
  }
  auto& states = opt.state();
  for (auto& group : opt.param_groups()) {
    auto& o = static_cast<torch::optim::AdamOptions&>(group.options());
    const double beta1 = std::get<0>(o.betas()), beta2 = std::get<1>(o.betas());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      auto& s = adam_state_of(states, p);
      s.step(s.step() + 1);
      const double bc1 = 1 - std::pow(beta1, static_cast<double>(s.step()));
      const double bc2 = 1 - std::pow(beta2, static_cast<double>(s.step()));
      const double step_size = o.lr() / bc1;
      update(p.data_ptr<float>(), p.grad().data_ptr<float>(), s.exp_avg().data_ptr<float>(),
             s.exp_avg_sq().data_ptr<float>(), p.numel(), static_cast<float>(beta1), static_cast<float>(beta2),
             static_cast<float>(o.eps()), static_cast<float>(step_size), static_cast<float>(std::sqrt(bc2)));
    }
  }
}

// The weights changed: autocast's cached bf16 copies of them (precision = "bf16") are stale.
void adam_step_multi_tensor(torch::optim::Adam& opt) {
  multi_tensor_update(opt);
  at::autocast::clear_cache();
}

void adam_step(torch::optim::Adam& opt) {
  fused_update(opt);
  at::autocast::clear_cache();
}

void clear_grads(torch::optim::Optimizer& opt) {
  for (auto& group : opt.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) p.mutable_grad().reset();
}

}  // namespace forgery
