#pragma once
// The two networks of a GAN-family model, whatever their architecture.
#include <torch/nn/module.h>

#include <memory>

namespace forgery {

class Generator : public torch::nn::Module {
 public:
  // z: [N, latent_dim]; labels: [N] int64 class ids, or undefined for unconditional models.
  virtual at::Tensor forward(const at::Tensor& z, const at::Tensor& labels) = 0;
  virtual int64_t latent_dim() const = 0;
  // Classes a conditional model is asked for (labels 0..n-1); 0 for unconditional models.
  virtual int64_t num_classes() const { return 0; }
};

class Discriminator : public torch::nn::Module {
 public:
  // x: [N, C, H, W] images in [-1, 1]; returns [N, 1] probabilities (or logits, see loss).
  virtual at::Tensor forward(const at::Tensor& x, const at::Tensor& labels) = 0;
  // True when an output depends on the rest of the batch (BatchNorm in training mode): real
  // and fake batches then go through D separately, as the PyTorch programs do.
  virtual bool uses_batch_statistics() const { return false; }
};

struct GanNetworks {
  std::shared_ptr<Generator> generator;
  std::shared_ptr<Discriminator> discriminator;
};

}  // namespace forgery
