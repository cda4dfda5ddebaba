#pragma once
// PatchGAN discriminators (the reference's NLayerDiscriminator and PixelDiscriminator): a
// map of logits, each judging one patch of the input. With n_layers 3 (netD basic) each
// output cell sees 70x70 pixels and a 256x256 input gives 30x30 logits.
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "forgery/models/image_nets.h"

namespace forgery {

struct NLayerDiscriminatorOptions {
  explicit NLayerDiscriminatorOptions(int64_t input_nc) : input_nc_(input_nc) {}
  TORCH_ARG(int64_t, input_nc);
  TORCH_ARG(int64_t, ndf) = 64;
  TORCH_ARG(int64_t, n_layers) = 3;
  TORCH_ARG(NormKind, norm) = NormKind::Batch;
};

// 4x4 convolutions: n_layers with stride 2 (filters ndf, 2 ndf, ... up to 8 ndf), one more with
// stride 1, then one to a single channel; LeakyReLU(0.2); normalisation on all but the first
// and the last.
class NLayerDiscriminatorImpl : public ImageNet {
 public:
  explicit NLayerDiscriminatorImpl(const NLayerDiscriminatorOptions& options);
  at::Tensor forward(const at::Tensor& x) override { return model_->forward(x); }

 private:
  torch::nn::Sequential model_{nullptr};
};
TORCH_MODULE(NLayerDiscriminator);

// The output side for an input side (0 or less: the input is too small).
int64_t nlayer_output_size(int64_t input_size, int64_t n_layers);

struct PixelDiscriminatorOptions {
  explicit PixelDiscriminatorOptions(int64_t input_nc) : input_nc_(input_nc) {}
  TORCH_ARG(int64_t, input_nc);
  TORCH_ARG(int64_t, ndf) = 64;
  TORCH_ARG(NormKind, norm) = NormKind::Batch;
};

// 1x1 PatchGAN: every pixel judged on its own (1x1 convolutions).
class PixelDiscriminatorImpl : public ImageNet {
 public:
  explicit PixelDiscriminatorImpl(const PixelDiscriminatorOptions& options);
  at::Tensor forward(const at::Tensor& x) override { return net_->forward(x); }

 private:
  torch::nn::Sequential net_{nullptr};
};
TORCH_MODULE(PixelDiscriminator);

}  // namespace forgery
