#include "forgery/models/resnet.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/padding.h>

#include "forgery/core/error.h"

namespace forgery {

using namespace torch::nn;

ResnetBlockImpl::ResnetBlockImpl(int64_t dim, NormKind norm, bool use_dropout) {
  const bool bias = conv_bias_for(norm);
  Sequential block;
  block->push_back(ReflectionPad2d(ReflectionPad2dOptions(1)));
  block->push_back(Conv2d(Conv2dOptions(dim, dim, 3).padding(0).bias(bias)));
  block->push_back(make_norm(norm, dim));
  block->push_back(ReLU(ReLUOptions(true)));
  if (use_dropout) block->push_back(Dropout(0.5));
  block->push_back(ReflectionPad2d(ReflectionPad2dOptions(1)));
  block->push_back(Conv2d(Conv2dOptions(dim, dim, 3).padding(0).bias(bias)));
  block->push_back(make_norm(norm, dim));
  conv_block_ = register_module("conv_block", block);
}

at::Tensor ResnetBlockImpl::forward(const at::Tensor& x) { return x + conv_block_->forward(x); }

ResnetGeneratorImpl::ResnetGeneratorImpl(const ResnetGeneratorOptions& o) {
  if (o.n_blocks() < 0) throw UsageError("a ResNet generator needs 0 or more residual blocks");
  const bool bias = conv_bias_for(o.norm());
  const int64_t ngf = o.ngf();
  Sequential model;
  model->push_back(ReflectionPad2d(ReflectionPad2dOptions(3)));
  model->push_back(Conv2d(Conv2dOptions(o.input_nc(), ngf, 7).padding(0).bias(bias)));
  model->push_back(make_norm(o.norm(), ngf));
  model->push_back(ReLU(ReLUOptions(true)));
  for (int64_t i = 0, mult = 1; i < 2; ++i, mult *= 2) {
    model->push_back(Conv2d(Conv2dOptions(ngf * mult, ngf * mult * 2, 3).stride(2).padding(1).bias(bias)));
    model->push_back(make_norm(o.norm(), ngf * mult * 2));
    model->push_back(ReLU(ReLUOptions(true)));
  }
  for (int64_t i = 0; i < o.n_blocks(); ++i) model->push_back(ResnetBlock(ngf * 4, o.norm(), o.use_dropout()));
  for (int64_t i = 0, mult = 4; i < 2; ++i, mult /= 2) {
    model->push_back(ConvTranspose2d(
        ConvTranspose2dOptions(ngf * mult, ngf * mult / 2, 3).stride(2).padding(1).output_padding(1).bias(bias)));
    model->push_back(make_norm(o.norm(), ngf * mult / 2));
    model->push_back(ReLU(ReLUOptions(true)));
  }
  model->push_back(ReflectionPad2d(ReflectionPad2dOptions(3)));
  model->push_back(Conv2d(Conv2dOptions(ngf, o.output_nc(), 7).padding(0)));
  model->push_back(Tanh());
  model_ = register_module("model", model);
}

namespace {
void register_resnet(const char* name, int64_t blocks) {
  register_image_generator({
      name,
      "ResNet generator with " + std::to_string(blocks) + " residual blocks (CycleGAN's; " +
          (blocks == 9 ? "for 256x256 images)" : "for 128x128 images)"),
      [blocks](const Config& c, int64_t in, int64_t out) -> std::shared_ptr<ImageNet> {
        return ResnetGenerator(ResnetGeneratorOptions(in, out)
                                   .n_blocks(blocks)
                                   .ngf(c.get_int("ngf"))
                                   .norm(parse_norm(c.get_string("norm")))
                                   .use_dropout(!c.get_bool("no_dropout")))
            .ptr();
      },
      [name](const Config&, int64_t size) {
        if (size % 4 != 0 || size < 8)
          throw UsageError("option crop_size " + std::to_string(size) + ": netG " + name +
                           " takes images whose side is a multiple of 4 (two stride-2 levels), 8 or more");
      },
  });
}
struct RegisterResnets {
  RegisterResnets() {
    register_resnet("resnet_9blocks", 9);
    register_resnet("resnet_6blocks", 6);
  }
} register_resnets;
}  // namespace

}  // namespace forgery
