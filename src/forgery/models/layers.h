#pragma once
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

namespace forgery {

// Dropout with PyTorch's semantics (zero with probability p, scale the rest by 1/(1-p)).
// On the CPU the mask comes from a counter-based hash seeded by one draw from LibTorch's
// generator, filled in parallel: bernoulli_ was 17% of the seed's GAN step on CPU. Seeding
// and resume still go through LibTorch's generator state, and the mask does not depend on
// the thread count. On CUDA it is torch's own dropout.
class FastDropoutImpl : public torch::nn::Module {
 public:
  explicit FastDropoutImpl(double p = 0.5);
  at::Tensor forward(const at::Tensor& x);
  double p() const { return p_; }

 private:
  double p_;
};
TORCH_MODULE(FastDropout);

// The keep-mask values (0 or 1/(1-p)) for `like`'s shape, from `seed`.
at::Tensor dropout_mask(const at::Tensor& like, double p, uint64_t seed);

// dropout(leaky_relu(x, slope), p) as one operation: on the CPU a single pass forward and
// one backward, the mask recomputed from its seed instead of stored (the pair was the
// largest cost after the matrix products in the seed's discriminator). Elsewhere, or for
// other dtypes, the two LibTorch operations. `training` false: no dropout.
at::Tensor leaky_relu_dropout(const at::Tensor& x, double slope, double p, bool training);
// The seed the next CPU dropout mask will use: one draw from LibTorch's CPU generator.
uint64_t draw_dropout_seed();

}  // namespace forgery
