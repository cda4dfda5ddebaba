#include "forgery/train/translation.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "forgery/core/rng.h"
#include "forgery/data/tensor_dataset.h"
#include "forgery/io/grid.h"

namespace forgery {

at::Tensor to_bytes(const at::Tensor& images) {
  // The rounding of the PNG writers (torchvision's save_image).
  return to_unit_range(images).mul_(255).add_(0.5).clamp_(0, 255).to(at::kByte);
}

at::Tensor to_channels(const at::Tensor& images, int64_t channels) {
  if (images.size(1) == channels) return images;
  return images.expand({images.size(0), channels, images.size(2), images.size(3)});
}

at::Tensor run_generator(ImageNet& G, const at::Tensor& x, bool eval_mode) {
  torch::NoGradGuard no_grad;
  const bool was_training = G.is_training();
  G.train(!eval_mode);
  at::Tensor y = G.forward(x);
  G.train(was_training);
  return y;
}

at::Tensor translate_images(ImageNet& G, const at::Tensor& images, const TranslateOptions& o) {
  seed_everything(o.seed);
  std::vector<at::Tensor> out;
  for (int64_t i = 0; i < images.size(0); ++i)
    out.push_back(to_bytes(run_generator(G, normalize_bytes(images.narrow(0, i, 1).to(o.device)), o.eval_mode)).cpu());
  return at::cat(out);
}

}  // namespace forgery
