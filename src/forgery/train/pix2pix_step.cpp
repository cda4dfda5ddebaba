#include "forgery/train/pix2pix_step.h"

#include <ATen/ATen.h>

namespace forgery {

Pix2PixLosses pix2pix_step(ImageNet& G, ImageNet& D, StepContext& ctx, const at::Tensor& real_a,
                           const at::Tensor& real_b, GanLoss loss, double lambda_l1) {
  at::Tensor fake_b = G.forward(real_a);
  // D: the fake pair (fake_B detached: G is not trained here), then the real pair.
  ctx.zero_grad("D");
  at::Tensor loss_d_fake = gan_loss(loss, D.forward(at::cat({real_a, fake_b.detach()}, 1)), false);
  at::Tensor loss_d_real = gan_loss(loss, D.forward(at::cat({real_a, real_b}, 1)), true);
  ((loss_d_fake + loss_d_real) * 0.5).backward();
  ctx.step("D");
  // G: fool D (frozen to the end of the block: its weight gradients are not computed) and stay
  // close to the target.
  at::Tensor loss_g_gan, loss_g_l1;
  {
    FrozenFor frozen(D);
    ctx.zero_grad("G");
    loss_g_gan = gan_loss(loss, D.forward(at::cat({real_a, fake_b}, 1)), true);
    loss_g_l1 = at::l1_loss(fake_b, real_b) * lambda_l1;
    (loss_g_gan + loss_g_l1).backward();
    ctx.step("G");
  }
  return {loss_g_gan.detach(), loss_g_l1.detach(), loss_d_real.detach(), loss_d_fake.detach()};
}

}  // namespace forgery
