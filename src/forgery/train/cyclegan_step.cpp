#include "forgery/train/cyclegan_step.h"

#include <ATen/ATen.h>

#include "forgery/data/tensor_dataset.h"

namespace forgery {

namespace {
const char* const kPoolADraws = "pool_a_draws";
const char* const kPoolBDraws = "pool_b_draws";
}  // namespace

void add_pool_draws(Batch& batch, ImagePool& pool_a, ImagePool& pool_b, const c10::Device& device) {
  if (pool_a.size() == 0 || !pool_a.full() || !pool_b.full()) return;
  const int64_t n = batch.at("A").size(0);
  batch[kPoolBDraws] = to_device_async(pool_b.draws(n), device);
  batch[kPoolADraws] = to_device_async(pool_a.draws(n), device);
}

CycleGanLosses cyclegan_step(const CycleGanNets& n, StepContext& ctx, const at::Tensor& real_a,
                             const at::Tensor& real_b, ImagePool& pool_a, ImagePool& pool_b,
                             const CycleGanWeights& w, GanLoss loss, const Batch* draws) {
  at::Tensor fake_b = n.G_A.forward(real_a);
  at::Tensor rec_a = n.G_B.forward(fake_b);
  at::Tensor fake_a = n.G_B.forward(real_b);
  at::Tensor rec_b = n.G_A.forward(fake_a);
  CycleGanLosses l;
  {
    // The generators, both discriminators frozen (until the end of this block, whatever happens
    // in it: a capture that fails here is retried eagerly).
    FrozenFor frozen_a(n.D_A), frozen_b(n.D_B);
    ctx.zero_grad("G");
    if (w.lambda_identity > 0) {
      l.idt_A = at::l1_loss(n.G_A.forward(real_b), real_b) * (w.lambda_B * w.lambda_identity);
      l.idt_B = at::l1_loss(n.G_B.forward(real_a), real_a) * (w.lambda_A * w.lambda_identity);
    } else {
      l.idt_A = at::zeros({}, real_a.options());
      l.idt_B = at::zeros({}, real_a.options());
    }
    l.G_A = gan_loss(loss, n.D_A.forward(fake_b), true);
    l.G_B = gan_loss(loss, n.D_B.forward(fake_a), true);
    l.cycle_A = at::l1_loss(rec_a, real_a) * w.lambda_A;
    l.cycle_B = at::l1_loss(rec_b, real_b) * w.lambda_B;
    (l.G_A + l.G_B + l.cycle_A + l.cycle_B + l.idt_A + l.idt_B).backward();
    ctx.step("G");
  }
  // The discriminators, on fakes from the pools.
  ctx.zero_grad("D");
  auto d_loss = [&](ImageNet& D, const at::Tensor& real, const at::Tensor& fake) {
    at::Tensor on_real = gan_loss(loss, D.forward(real), true);  // real first, as the reference
    at::Tensor d = (on_real + gan_loss(loss, D.forward(fake.detach()), false)) * 0.5;
    d.backward();
    return d.detach();
  };
  auto from_pool = [&](ImagePool& pool, const at::Tensor& fakes, const char* key) {
    return draws && draws->count(key) ? pool.apply(fakes, draws->at(key)) : pool.query(fakes);
  };
  l.D_A = d_loss(n.D_A, real_b, from_pool(pool_b, fake_b, kPoolBDraws));
  l.D_B = d_loss(n.D_B, real_a, from_pool(pool_a, fake_a, kPoolADraws));
  ctx.step("D");
  for (at::Tensor* t : {&l.G_A, &l.G_B, &l.cycle_A, &l.cycle_B, &l.idt_A, &l.idt_B}) *t = t->detach();
  return l;
}

}  // namespace forgery
