#pragma once
// The U-Net generator of pix2pix (the reference's UnetGenerator): num_downs stride-2
// convolutions down to 1x1 and transposed convolutions back up, each level's input joined to
// its output (skip connections); LeakyReLU(0.2) down, ReLU up, normalisation inside, Dropout(0.5)
// in the num_downs - 5 innermost 8*ngf-wide decoder blocks, Tanh out. unet_256 has 8
// downsamplings (for 256x256 images), unet_128 7. Module names are the reference's
// (model.model.1.model.3...), so state_dicts move both ways unchanged.
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/pimpl.h>

#include "forgery/models/image_nets.h"

namespace forgery {

struct UnetGeneratorOptions {
  UnetGeneratorOptions(int64_t input_nc, int64_t output_nc) : input_nc_(input_nc), output_nc_(output_nc) {}
  TORCH_ARG(int64_t, input_nc);
  TORCH_ARG(int64_t, output_nc);
  TORCH_ARG(int64_t, num_downs) = 8;
  TORCH_ARG(int64_t, ngf) = 64;
  TORCH_ARG(NormKind, norm) = NormKind::Batch;
  TORCH_ARG(bool, use_dropout) = false;
};

// One level: down (LeakyReLU, conv, norm), the inner levels, up (ReLU, transposed conv, norm),
// and the level's input joined to the result.
class UnetSkipBlockImpl : public torch::nn::Module {
 public:
  enum class Kind { Outermost, Middle, Innermost };
  UnetSkipBlockImpl(int64_t outer_nc, int64_t inner_nc, int64_t input_nc, std::shared_ptr<UnetSkipBlockImpl> inner,
                    Kind kind, NormKind norm, bool use_dropout);
  at::Tensor forward(const at::Tensor& x);

 private:
  Kind kind_;
  torch::nn::Sequential model_{nullptr};
};
TORCH_MODULE(UnetSkipBlock);

class UnetGeneratorImpl : public ImageNet {
 public:
  explicit UnetGeneratorImpl(const UnetGeneratorOptions& options);
  at::Tensor forward(const at::Tensor& x) override;
  const UnetGeneratorOptions& options() const { return options_; }

 private:
  UnetGeneratorOptions options_;
  std::shared_ptr<UnetSkipBlockImpl> model_;
};
TORCH_MODULE(UnetGenerator);

}  // namespace forgery
