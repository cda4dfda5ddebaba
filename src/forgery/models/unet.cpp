#include "forgery/models/unet.h"

#include <torch/nn/modules/activation.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>

#include <ATen/ATen.h>

#include "forgery/core/error.h"

namespace forgery {

UnetSkipBlockImpl::UnetSkipBlockImpl(int64_t outer_nc, int64_t inner_nc, int64_t input_nc,
                                     std::shared_ptr<UnetSkipBlockImpl> inner, Kind kind, NormKind norm,
                                     bool use_dropout)
    : kind_(kind) {
  using namespace torch::nn;
  const bool bias = conv_bias_for(norm);
  if (input_nc < 0) input_nc = outer_nc;
  // Created in the reference's order (the default initialisation draws from the seeded
  // generator before init_weights replaces it).
  auto downconv = Conv2d(Conv2dOptions(input_nc, inner_nc, 4).stride(2).padding(1).bias(bias));
  auto downrelu = LeakyReLU(LeakyReLUOptions().negative_slope(0.2).inplace(true));
  auto uprelu = ReLU(ReLUOptions(true));
  Sequential model;
  if (kind == Kind::Outermost) {
    auto upconv = ConvTranspose2d(ConvTranspose2dOptions(inner_nc * 2, outer_nc, 4).stride(2).padding(1));
    model->push_back(downconv);
    model->push_back(inner);
    model->push_back(uprelu);
    model->push_back(upconv);
    model->push_back(Tanh());
  } else if (kind == Kind::Innermost) {
    auto upconv = ConvTranspose2d(ConvTranspose2dOptions(inner_nc, outer_nc, 4).stride(2).padding(1).bias(bias));
    model->push_back(downrelu);
    model->push_back(downconv);
    model->push_back(uprelu);
    model->push_back(upconv);
    model->push_back(make_norm(norm, outer_nc));
  } else {
    auto upconv = ConvTranspose2d(ConvTranspose2dOptions(inner_nc * 2, outer_nc, 4).stride(2).padding(1).bias(bias));
    model->push_back(downrelu);
    model->push_back(downconv);
    model->push_back(make_norm(norm, inner_nc));
    model->push_back(inner);
    model->push_back(uprelu);
    model->push_back(upconv);
    model->push_back(make_norm(norm, outer_nc));
    if (use_dropout) model->push_back(Dropout(0.5));
  }
  model_ = register_module("model", model);
}

at::Tensor UnetSkipBlockImpl::forward(const at::Tensor& x) {
  if (kind_ == Kind::Outermost) return model_->forward(x);
  // The block's first layer is an in-place LeakyReLU, so (as in the reference) the skip
  // connection carries LeakyReLU(x), not x: read x only after the block has run.
  at::Tensor y = model_->forward(x);
  return at::cat({x, y}, 1);
}

UnetGeneratorImpl::UnetGeneratorImpl(const UnetGeneratorOptions& o) : options_(o) {
  if (o.num_downs() < 5) throw UsageError("a U-Net needs at least 5 downsamplings, got " + std::to_string(o.num_downs()));
  using Kind = UnetSkipBlockImpl::Kind;
  const int64_t ngf = o.ngf();
  // Built from the innermost level outwards, as the reference does.
  auto block = std::make_shared<UnetSkipBlockImpl>(ngf * 8, ngf * 8, -1, nullptr, Kind::Innermost, o.norm(), false);
  for (int64_t i = 0; i < o.num_downs() - 5; ++i)
    block = std::make_shared<UnetSkipBlockImpl>(ngf * 8, ngf * 8, -1, block, Kind::Middle, o.norm(), o.use_dropout());
  block = std::make_shared<UnetSkipBlockImpl>(ngf * 4, ngf * 8, -1, block, Kind::Middle, o.norm(), false);
  block = std::make_shared<UnetSkipBlockImpl>(ngf * 2, ngf * 4, -1, block, Kind::Middle, o.norm(), false);
  block = std::make_shared<UnetSkipBlockImpl>(ngf, ngf * 2, -1, block, Kind::Middle, o.norm(), false);
  block = std::make_shared<UnetSkipBlockImpl>(o.output_nc(), ngf, o.input_nc(), block, Kind::Outermost, o.norm(), false);
  model_ = register_module("model", block);
}

at::Tensor UnetGeneratorImpl::forward(const at::Tensor& x) { return model_->forward(x); }

namespace {
void register_unet(const char* name, int64_t num_downs) {
  const int64_t side = int64_t{1} << num_downs;
  register_image_generator({
      name,
      "U-Net with " + std::to_string(num_downs) + " downsamplings (skip connections; for " + std::to_string(side) + "x" +
          std::to_string(side) + " images)",
      [num_downs](const Config& c, int64_t in, int64_t out) -> std::shared_ptr<ImageNet> {
        return UnetGenerator(UnetGeneratorOptions(in, out)
                                 .num_downs(num_downs)
                                 .ngf(c.get_int("ngf"))
                                 .norm(parse_norm(c.get_string("norm")))
                                 .use_dropout(!c.get_bool("no_dropout")))
            .ptr();
      },
      [name, side](const Config&, int64_t size) {
        if (size % side != 0)
          throw UsageError("option crop_size " + std::to_string(size) + ": netG " + name +
                           " takes images whose side is a multiple of " + std::to_string(side));
      },
  });
}
struct RegisterUnets {
  RegisterUnets() {
    register_unet("unet_256", 8);
    register_unet("unet_128", 7);
  }
} register_unets;
}  // namespace

}  // namespace forgery
