#include "forgery/train/gan_step.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

namespace forgery {

GanStepStats gan_step(Generator& G, Discriminator& D, StepContext& ctx, const at::Tensor& real,
                      const at::Tensor& labels, const std::vector<at::Tensor>& z_d, const at::Tensor& z_g,
                      GanLoss loss) {
  const int64_t b = real.size(0);
  auto opts = real.options();
  auto both_labels = labels.defined() && !D.uses_batch_statistics() ? at::cat({labels, labels}) : labels;
  GanStepStats stats;
  stats.loss_d = at::zeros({}, opts);
  stats.d_real = at::zeros({}, opts);
  stats.d_fake = at::zeros({}, opts);
  // Without z_g (g_noise = "reuse", the PyTorch DCGAN tutorial's step) G's step reuses the last
  // D step's fake batch, so that one forward pass of G keeps its graph for G's backward.
  const bool reuse = !z_g.defined();
  at::Tensor fake_for_g;
  for (size_t i = 0; i < z_d.size(); ++i) {
    at::Tensor fake;
    if (reuse && i + 1 == z_d.size()) {
      fake_for_g = G.forward(z_d[i], labels);
      fake = fake_for_g.detach();  // data for D
    } else {
      torch::NoGradGuard no_grad;  // G frozen: its output is data for D
      fake = G.forward(z_d[i], labels);
    }
    ctx.zero_grad("D");
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
    auto loss_d = gan_loss(loss, out_real, true) + gan_loss(loss, out_fake, false);
    loss_d.backward();
    ctx.step("D");
    stats.loss_d.add_(loss_d.detach());
    stats.d_real.add_(out_real.detach().mean());
    stats.d_fake.add_(out_fake.detach().mean());
  }
  // D frozen for G's step: D's weight gradients are not computed (the seed computes them and
  // zeroes them before D's next step, so the result is the same).
  at::Tensor loss_g;
  {
    FrozenFor frozen(D);
    ctx.zero_grad("G");
    loss_g = gan_loss(loss, D.forward(reuse ? fake_for_g : G.forward(z_g, labels), labels), true);
    loss_g.backward();
    ctx.step("G");
  }
  stats.loss_g = loss_g.detach();
  return stats;
}

}  // namespace forgery
