#pragma once
// The ResNet generator of CycleGAN (the reference's ResnetGenerator, from Johnson et al.'s
// style-transfer network): reflection pad 3 and a 7x7 convolution, two stride-2 3x3
// convolutions, n_blocks residual blocks (reflection padding inside each), two stride-2
// transposed convolutions (output_padding 1), reflection pad 3, a 7x7 convolution to the
// output channels, Tanh. Normalisation after every convolution but the last; biases where the
// reference has them (with InstanceNorm: everywhere). Module names are the reference's
// (model.1.weight, model.10.conv_block.1.weight, ...).
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "forgery/models/image_nets.h"

namespace forgery {

struct ResnetGeneratorOptions {
  ResnetGeneratorOptions(int64_t input_nc, int64_t output_nc) : input_nc_(input_nc), output_nc_(output_nc) {}
  TORCH_ARG(int64_t, input_nc);
  TORCH_ARG(int64_t, output_nc);
  TORCH_ARG(int64_t, n_blocks) = 9;
  TORCH_ARG(int64_t, ngf) = 64;
  TORCH_ARG(NormKind, norm) = NormKind::Instance;
  TORCH_ARG(bool, use_dropout) = false;
};

// x + (pad, 3x3 conv, norm, ReLU, [Dropout(0.5)], pad, 3x3 conv, norm)(x).
class ResnetBlockImpl : public torch::nn::Module {
 public:
  ResnetBlockImpl(int64_t dim, NormKind norm, bool use_dropout);
  at::Tensor forward(const at::Tensor& x);

 private:
  torch::nn::Sequential conv_block_{nullptr};
};
TORCH_MODULE(ResnetBlock);

class ResnetGeneratorImpl : public ImageNet {
 public:
  explicit ResnetGeneratorImpl(const ResnetGeneratorOptions& options);
  at::Tensor forward(const at::Tensor& x) override { return model_->forward(x); }

 private:
  torch::nn::Sequential model_{nullptr};
};
TORCH_MODULE(ResnetGenerator);

}  // namespace forgery
