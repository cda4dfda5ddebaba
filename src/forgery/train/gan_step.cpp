#include "forgery/train/gan_step.h"

#include <torch/nn/functional/loss.h>

#include "forgery/train/fused_adam.h"

namespace forgery {

namespace {
void set_requires_grad(torch::nn::Module& m, bool on) {
  for (auto& p : m.parameters()) p.set_requires_grad(on);
}
}  // namespace

GanStepStats gan_step(Generator& G, Discriminator& D, torch::optim::Adam& opt_g,
                      torch::optim::Adam& opt_d, const at::Tensor& real, const at::Tensor& labels,
                      const std::vector<at::Tensor>& z_d, const at::Tensor& z_g) {
  namespace F = torch::nn::functional;
  const int64_t b = real.size(0);
  auto opts = real.options();
  auto ones = at::ones({b, 1}, opts), zeros = at::zeros({b, 1}, opts);
  auto both_labels = labels.defined() && !D.uses_batch_statistics() ? at::cat({labels, labels}) : labels;
  GanStepStats stats;
  stats.loss_d = at::zeros({}, opts);
  stats.d_real = at::zeros({}, opts);
  stats.d_fake = at::zeros({}, opts);
  for (const auto& z : z_d) {
    at::Tensor fake;
    {
      torch::NoGradGuard no_grad;  // G frozen: its output is data for D
      fake = G.forward(z, labels);
    }
    clear_grads(opt_d);
    at::Tensor out_real, out_fake;
    if (D.uses_batch_statistics()) {
      out_real = D.forward(real, labels);
      out_fake = D.forward(fake, labels);
    } else {
      // Real and fake in one forward pass: per sample the same as two calls (D has no batch
      // statistics), with GEMMs twice as tall.
      auto out = D.forward(at::cat({real, fake}), both_labels);
      out_real = out.narrow(0, 0, b);
      out_fake = out.narrow(0, b, b);
    }
    auto loss_d = F::binary_cross_entropy(out_real, ones) + F::binary_cross_entropy(out_fake, zeros);
    loss_d.backward();
    adam_step(opt_d);
    stats.loss_d.add_(loss_d.detach());
    stats.d_real.add_(out_real.detach().mean());
    stats.d_fake.add_(out_fake.detach().mean());
  }
  // D frozen for G's step: D's weight gradients are not computed (the seed computes them and
  // zeroes them before D's next step, so the result is the same).
  set_requires_grad(D, false);
  clear_grads(opt_g);
  auto loss_g = F::binary_cross_entropy(D.forward(G.forward(z_g, labels), labels), ones);
  loss_g.backward();
  adam_step(opt_g);
  set_requires_grad(D, true);
  stats.loss_g = loss_g.detach();
  return stats;
}

}  // namespace forgery
